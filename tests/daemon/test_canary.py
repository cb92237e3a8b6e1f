"""Canary: distinctive fake secrets never reach logs, outputs, tracebacks or the database."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.daemon.test_process import SlowMastodon

CANARIES = {
    "MASTO_TOKEN": "CANARY-mastodon-9f8e7d6c5b4a",
    "X_KEY": "CANARY-xkey-1a2b3c4d5e",
    "X_SECRET": "CANARY-xsecret-6f7a8b9c0d",
    "X_TOKEN": "CANARY-xtoken-e1f2a3b4c5",
    "X_TOKEN_SECRET": "CANARY-xtsecret-d6e7f8a9b0",
    "FB_TOKEN": "CANARY-fbtoken-0a9b8c7d6e",
}


def _cli(config: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "publisher.cli", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


async def test_no_secret_anywhere(tmp_path: Path) -> None:
    env = {**os.environ, **CANARIES}
    async with SlowMastodon() as masto:
        # The Mastodon server refuses the canary token (it expects another): a 401 whose
        # error path, traceback and ledger row must not carry the token either.
        now = datetime.now(UTC)
        config = tmp_path / "publisher.toml"
        config.write_text(
            f'queue = "queue.yaml"\ndatabase = "sqlite:///{tmp_path}/queue.db"\n'
            'timezone = "Europe/Paris"\n[engine]\nshutdown_timeout = "5s"\n'
            "[retry]\nmax_attempts = 1\n"
            f'[accounts.masto]\nnetwork = "mastodon"\ninstance = "{masto.url}"\n'
            'token = "${MASTO_TOKEN}"\n'
            '[accounts.bird]\nnetwork = "x"\napi_base = "http://127.0.0.1:9"\n'
            'api_key = "${X_KEY}"\napi_secret = "${X_SECRET}"\n'
            'access_token = "${X_TOKEN}"\naccess_secret = "${X_TOKEN_SECRET}"\n'
            '[accounts.page]\nnetwork = "facebook"\napi_base = "http://127.0.0.1:9"\n'
            'page_id = "123"\npage_token = "${FB_TOKEN}"\n',
            encoding="utf-8",
        )
        (tmp_path / "queue.yaml").write_text(
            "posts:\n"
            f"  - id: canary\n    at: {(now + timedelta(seconds=1)).isoformat()}\n"
            "    accounts: [masto, bird, page]\n    text: Bonjour\n",
            encoding="utf-8",
        )
        outputs: list[str] = []
        for args in (["validate"], ["dry-run"], ["dry-run", "--json"]):
            r = await asyncio.to_thread(_cli, config, *args, env=env)
            outputs += [r.stdout, r.stderr]
        log = tmp_path / "daemon.log"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "publisher.cli",
                "run",
                "--config",
                str(config),
                "--log-format",
                "json",
            ],
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            env={**env, "PYTHONDEVMODE": "1"},
        )
        try:
            for _ in range(200):
                await asyncio.sleep(0.1)
                r = await asyncio.to_thread(_cli, config, "status", "--json", env=env)
                if r.returncode == 0:
                    counts = json.loads(r.stdout)["counts"]
                    # The queue applied (3 deliveries: a database made a moment before
                    # its first sync counts none), and none waiting or in flight.
                    synced = sum(counts.values()) >= 3
                    if synced and counts["scheduled"] == 0 and counts["sending"] == 0:
                        break
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
        outputs.append(log.read_text(encoding="utf-8"))
        for args in (
            ["status"],
            ["status", "--json"],
            ["history"],
            ["audit"],
            ["audit", "--format", "json"],
            ["dry-run", "--json"],
        ):
            r = await asyncio.to_thread(_cli, config, *args, env=env)
            outputs += [r.stdout, r.stderr]
        # A secret file in $CREDENTIALS_DIRECTORY that is too open: the refusal names the
        # file, never its content.
        creds = tmp_path / "creds"
        creds.mkdir()
        (creds / "MASTO_TOKEN").write_text(CANARIES["MASTO_TOKEN"])
        (creds / "MASTO_TOKEN").chmod(0o644)
        env_files = {k: v for k, v in os.environ.items() if k not in CANARIES}
        r = await asyncio.to_thread(
            _cli, config, "validate", env={**env_files, "CREDENTIALS_DIRECTORY": str(creds)}
        )
        outputs += [r.stdout, r.stderr]
        assert "group or others" in r.stderr

    con = sqlite3.connect(tmp_path / "queue.db")
    for (table,) in con.execute("select name from sqlite_master where type='table'").fetchall():
        for row in con.execute(f'select * from "{table}"').fetchall():
            outputs.append(repr(row))
    con.close()
    everything = "\n".join(outputs)
    assert "Bonjour" in everything  # the outputs really were collected
    assert "401" in everything or "invalid" in everything.lower()
    for name, value in CANARIES.items():
        assert value not in everything, f"{name} leaked"
