"""The daemon as operators see it: /metrics, /healthz, SIGHUP reload."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from tests.daemon.test_process import SlowMastodon, queue_text, wait_for, write_files


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, await resp.text()


async def test_metrics_health_and_reload(tmp_path: Path) -> None:
    port = free_port()
    async with SlowMastodon() as masto:
        now = datetime.now(UTC)
        posts = [
            ("p1", now + timedelta(seconds=1), "Bonjour"),
            ("p2", now + timedelta(hours=1), "Plus tard"),
        ]
        config = write_files(
            tmp_path, masto.url, posts, extra=f'[metrics]\nlisten = "127.0.0.1:{port}"\n'
        )
        log = tmp_path / "daemon.log"
        proc = subprocess.Popen(
            [sys.executable, "-m", "publisher.cli", "run", "--config", str(config)],
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            env={**__import__("os").environ, "MASTO_TOKEN": "canary-token-Zq81XyT0"},
        )
        base = f"http://127.0.0.1:{port}"
        try:

            async def up() -> bool:
                try:
                    return (await get(base + "/healthz"))[0] == 200
                except aiohttp.ClientError:
                    return False

            for _ in range(200):
                if await up():
                    break
                await asyncio.sleep(0.1)
            await wait_for(lambda: len(masto.arrivals) == 1)
            await asyncio.sleep(0.5)
            status, text = await get(base + "/metrics")
            assert status == 200
            assert 'publisher_deliveries{account="masto",state="published"} 1.0' in text
            assert 'publisher_deliveries{account="masto",state="scheduled"} 1.0' in text
            assert "publisher_scheduling_lag_seconds_count" in text
            assert "publisher_queue_load_success 1.0" in text
            # A broken queue file: nothing applied, health fails, the plan stays.
            (tmp_path / "queue.yaml").write_text(queue_text(posts) + "  - id: [broken\n")
            for _ in range(100):
                status, body = await get(base + "/healthz")
                if status == 503:
                    break
                await asyncio.sleep(0.1)
            assert status == 503 and "queue load failed" in body
            # An invalid config on SIGHUP is refused; the daemon keeps running.
            good = config.read_text()
            config.write_text(good + "\n[engine]\nconcurrency = -1\n")
            proc.send_signal(signal.SIGHUP)
            await wait_for(lambda: "refused" in log.read_text())
            assert proc.poll() is None
            # Fixed files: healthy again after SIGHUP.
            config.write_text(good)
            (tmp_path / "queue.yaml").write_text(queue_text(posts))
            proc.send_signal(signal.SIGHUP)
            for _ in range(100):
                status, body = await get(base + "/healthz")
                if status == 200:
                    break
                await asyncio.sleep(0.1)
            assert status == 200, body
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(proc.wait, 20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
