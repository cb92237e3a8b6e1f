"""The daemon as a real process: systemd notifications, SIGTERM drain, kill -9, file edits."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web

from publisher.testing.servers import LocalServer
from tests import processes
from tests.processes import Daemon, mastodon_status, start_daemon

TOKEN = "canary-token-Zq81XyT0"


@dataclass
class SlowMastodon:
    """Just enough of Mastodon's API for the daemon, answering statuses after a delay."""

    delay: float = 0.0
    arrivals: list[tuple[float, str, str | None]] = field(default_factory=list)  # (time, text, key)
    url: str = ""
    _server: LocalServer | None = None

    async def _status(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"error": "The access token is invalid"}, status=401)
        body = await request.json()
        key = request.headers.get("Idempotency-Key")
        self.arrivals.append((time.time(), body["status"], key))
        n = len(self.arrivals)
        await asyncio.sleep(self.delay)
        return web.json_response(mastodon_status(self.url, n, body["status"]))

    async def _instance(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {
                "configuration": {
                    "statuses": {"max_characters": 500, "characters_reserved_per_url": 23}
                }
            }
        )

    async def __aenter__(self) -> SlowMastodon:
        app = web.Application()
        app.router.add_post("/api/v1/statuses", self._status)
        app.router.add_get("/api/v2/instance", self._instance)
        self._server = LocalServer(app)
        self.url = await self._server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            await self._server.stop()


@pytest.fixture
async def masto() -> AsyncIterator[SlowMastodon]:
    async with SlowMastodon() as server:
        yield server


def write_files(
    root: Path, server_url: str, posts: list[tuple[str, datetime, str]], extra: str = ""
) -> Path:
    config = root / "publisher.toml"
    config.write_text(
        f'queue = "queue.yaml"\ndatabase = "sqlite:///{root}/queue.db"\ntimezone = "Europe/Paris"\n'
        f'max_lateness = "2h"\n{extra}\n[engine]\nshutdown_timeout = "10s"\ndebounce = "100ms"\n'
        f'[accounts.masto]\nnetwork = "mastodon"\ninstance = "{server_url}"\n'
        'token = "${MASTO_TOKEN}"\n',
        encoding="utf-8",
    )
    write_queue(root / "queue.yaml", posts)
    return config


def queue_text(posts: list[tuple[str, datetime, str]]) -> str:
    lines = ["posts:"]
    for pid, at, text in posts:
        lines += [
            f"  - id: {pid}",
            f"    at: {at.isoformat()}",
            "    accounts: [masto]",
            f"    text: {json.dumps(text)}",
        ]
    return "\n".join(lines) + "\n"


def write_queue(path: Path, posts: list[tuple[str, datetime, str]]) -> None:
    path.write_text(queue_text(posts), encoding="utf-8")


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[object]:
    daemons: list[Daemon] = []

    def start(config: Path, *args: str, env: dict[str, str] | None = None) -> Daemon:
        log = tmp_path / f"daemon-{len(daemons)}.log"
        full_env = {**os.environ, "MASTO_TOKEN": TOKEN, **(env or {})}
        full_env.pop("NOTIFY_SOCKET", None) if env is None or "NOTIFY_SOCKET" not in env else None
        daemon = start_daemon(config, *args, log=log, env=full_env)
        daemons.append(daemon)
        return daemon

    yield start
    for d in daemons:
        d.kill()


async def wait_for(check: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached in time")


def status_json(config: Path) -> dict[str, object]:
    return processes.status_json(config, env={**os.environ, "MASTO_TOKEN": TOKEN})


async def test_notify_ready_watchdog_status_stopping_and_sigterm_drain(
    tmp_path: Path, masto: SlowMastodon, spawn: object
) -> None:
    masto.delay = 1.5
    now = datetime.now(UTC)
    config = write_files(tmp_path, masto.url, [("p1", now + timedelta(seconds=2), "Bonjour")])
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.setblocking(False)
    messages: list[str] = []

    def drain() -> None:
        while True:
            try:
                messages.extend(sock.recv(4096).decode().split("\n"))
            except BlockingIOError:
                return

    daemon = spawn(config, env={"NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "400000"})  # type: ignore[operator]
    try:
        await wait_for(lambda: (drain(), len(masto.arrivals) == 1)[1])
        daemon.proc.send_signal(signal.SIGTERM)  # the request is in flight for 1.5 s
        assert await asyncio.to_thread(daemon.proc.wait, 20) == 0, daemon.output()
        drain()
    finally:
        sock.close()
    ready = messages.index("READY=1")
    stopping = messages.index("STOPPING=1")
    assert ready < stopping
    assert "WATCHDOG=1" in messages[ready:stopping]
    assert any(m.startswith("STATUS=") for m in messages)
    doc = status_json(config)
    assert doc["counts"]["published"] == 1, daemon.output()  # type: ignore[index]
    assert TOKEN not in daemon.output()


async def test_kill_9_in_flight_becomes_unknown_never_blindly_resent(
    tmp_path: Path, masto: SlowMastodon, spawn: object
) -> None:
    masto.delay = 30
    now = datetime.now(UTC)
    config = write_files(tmp_path, masto.url, [("p1", now + timedelta(seconds=1), "Une fois")])
    daemon = spawn(config)  # type: ignore[operator]
    await wait_for(lambda: len(masto.arrivals) == 1)
    daemon.proc.kill()
    daemon.proc.wait()
    masto.delay = 0
    again = spawn(config)  # type: ignore[operator]
    await wait_for(lambda: status_json(config)["counts"]["unknown"] == 1)  # type: ignore[index]
    await asyncio.sleep(2)
    assert len(masto.arrivals) == 1, "an unknown delivery was sent again blindly"
    again.proc.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(again.proc.wait, 20) == 0


async def test_edits_picked_up_after_rename_save_and_in_place_write(
    tmp_path: Path, masto: SlowMastodon, spawn: object
) -> None:
    now = datetime.now(UTC)
    later = now + timedelta(hours=1)
    config = write_files(tmp_path, masto.url, [("p1", later, "Plus tard")])
    daemon = spawn(config)  # type: ignore[operator]
    await wait_for(lambda: "queue applied" in daemon.output())
    queue = tmp_path / "queue.yaml"
    # An editor that saves by writing a temporary file and renaming it over the queue.
    tmp = tmp_path / ".queue.yaml.swp"
    tmp.write_text(
        queue_text(
            [
                ("p1", later, "Plus tard"),
                ("p2", datetime.now(UTC) + timedelta(seconds=1), "Renommé"),
            ]
        )
    )
    os.replace(tmp, queue)
    await wait_for(lambda: any(a[1] == "Renommé" for a in masto.arrivals))
    # An editor that writes in place.
    with queue.open("w", encoding="utf-8") as f:
        f.write(
            queue_text(
                [
                    ("p1", later, "Plus tard"),
                    ("p2", now, "Renommé"),
                    ("p3", datetime.now(UTC) + timedelta(seconds=1), "Sur place"),
                ]
            )
        )
    await wait_for(lambda: any(a[1] == "Sur place" for a in masto.arrivals))
    daemon.proc.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(daemon.proc.wait, 20) == 0
    assert sorted(a[1] for a in masto.arrivals) == ["Renommé", "Sur place"]
