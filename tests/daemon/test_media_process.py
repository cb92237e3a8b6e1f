"""Item 1 of issue 19 with the daemon as a real process: a media link re-pointed after the
sync at the token, the database or the environment sends nothing from outside the roots.

The daemon runs as systemd would run it: its token in ``$CREDENTIALS_DIRECTORY``, its
database in a state directory of its own, the editors' queue and media in another. A local
Mastodon keeps every byte it is sent.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from publisher.testing.servers import LocalServer
from tests.broken_cases import FIXTURES
from tests.processes import mastodon_status, start_daemon, status_json

TOKEN = "media-canary-token-Hq41VbR9"  # in $CREDENTIALS_DIRECTORY only
ENV_MARK = "env-canary-Pz70QwK3"  # in the daemon's environment only


class RecordingMastodon:
    """Enough of Mastodon for media posts; every request body it receives is kept."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.uploads = 0
        self.statuses = 0
        self.url = ""
        self._server: LocalServer | None = None

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.bodies.append(await request.read())
        authorized = request.headers.get("Authorization") == f"Bearer {TOKEN}"
        if not authorized and request.path != "/api/v2/instance":
            return web.json_response({"error": "The access token is invalid"}, status=401)
        return await handler(request)  # type: ignore[no-any-return]

    async def _media(self, _request: web.Request) -> web.Response:
        self.uploads += 1
        n = self.uploads
        return web.json_response(
            {"id": str(500 + n), "type": "image", "url": f"{self.url}/media/{n}.png"}
        )

    async def _status(self, request: web.Request) -> web.Response:
        self.statuses += 1
        body = await request.json()
        n = self.statuses
        return web.json_response(mastodon_status(self.url, n, body["status"]))

    async def _instance(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {"configuration": {"statuses": {"max_characters": 500}}}
        )

    async def __aenter__(self) -> RecordingMastodon:
        app = web.Application(middlewares=[self._record])
        app.router.add_post("/api/v2/media", self._media)
        app.router.add_post("/api/v1/statuses", self._status)
        app.router.add_get("/api/v2/instance", self._instance)
        self._server = LocalServer(app)
        self.url = await self._server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            await self._server.stop()


@pytest.fixture
async def masto() -> AsyncIterator[RecordingMastodon]:
    async with RecordingMastodon() as server:
        yield server


async def wait_for(check: Any, timeout: float = 60.0) -> None:
    """Poll ``check`` (the timeout only guards against a hang)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not reached in time")


def status(config: Path, env: dict[str, str]) -> dict[str, Any]:
    return status_json(config, env=env)


def repoint(link: Path, target: Path | str) -> None:
    tmp = link.with_name(f".{link.name}.new")
    os.symlink(target, tmp)
    os.replace(tmp, link)


async def test_item1_daemon_sends_nothing_from_outside_when_media_links_are_repointed(
    tmp_path: Path, masto: RecordingMastodon
) -> None:
    editors, state, creds = tmp_path / "editors", tmp_path / "state", tmp_path / "credentials"
    for d in (editors / "media", state, creds):
        d.mkdir(parents=True)
    (creds / "MASTO_TOKEN").write_text(TOKEN, encoding="utf-8")
    (creds / "MASTO_TOKEN").chmod(0o600)
    (editors / "media" / "real.png").write_bytes((FIXTURES / "pixel.png").read_bytes())
    names = ["token", "database", "environ"]
    for name in names:
        os.symlink("real.png", editors / "media" / f"{name}.png")
    config = editors / "publisher.toml"
    config.write_text(
        f'queue = "queue.yaml"\ndatabase = "sqlite:///{state}/queue.db"\ntimezone = "UTC"\n'
        '[engine]\nshutdown_timeout = "10s"\ndebounce = "100ms"\n'
        f'[accounts.masto]\nnetwork = "mastodon"\ninstance = "{masto.url}"\n'
        'token = "${MASTO_TOKEN}"\n',
        encoding="utf-8",
    )
    at = (datetime.now(UTC) + timedelta(seconds=8)).replace(microsecond=0)
    lines = ["posts:"]
    for name in names:
        lines += [
            f"  - id: {name}",
            f"    at: {at.isoformat()}",
            "    accounts: [masto]",
            f"    text: Avec une image ({name})",
            "    media:",
            f"      - {{file: media/{name}.png, alt: Vitrine}}",
        ]
    (editors / "queue.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "MASTO_TOKEN")}
    env.update(CREDENTIALS_DIRECTORY=str(creds), PUBLISHER_CANARY=ENV_MARK)
    log = tmp_path / "daemon.log"
    daemon = start_daemon(config, log=log, env=env, cwd=editors)
    proc = daemon.proc
    try:
        await wait_for(lambda: "queue applied" in log.read_text(errors="replace"))
        # After the sync, before the posts are due; queue.yaml itself is left untouched.
        repoint(editors / "media" / "token.png", creds / "MASTO_TOKEN")
        repoint(editors / "media" / "database.png", state / "queue.db")
        repoint(editors / "media" / "environ.png", "/proc/self/environ")

        def settled() -> bool:
            return bool(status(config, env)["counts"]["failed"] == len(names))

        await wait_for(lambda: proc.poll() is not None or settled())
        assert proc.poll() is None, log.read_text(errors="replace")
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 60) == 0
    finally:
        daemon.kill()
    doc = status(config, env)
    failed = {row["post"]: row["error"] for row in doc["needs_human"]["failed"]}
    assert failed == {
        name: f"media/{name}.png is a link that leads out of its media root" for name in names
    }
    assert masto.uploads == 0 and masto.statuses == 0
    sent = b"".join(masto.bodies)
    database = b"".join(p.read_bytes() for p in state.iterdir())
    output = log.read_bytes()
    for secret in (TOKEN.encode(), ENV_MARK.encode(), b"SQLite format 3"):
        assert secret not in sent, secret
        assert secret not in output, secret
    for secret in (TOKEN.encode(), ENV_MARK.encode()):
        assert secret not in database, secret
