"""The commands end to end: exit codes, dry runs that never touch a network, resolve."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web

from publisher.cli import main
from publisher.states import DeliveryState
from publisher.store import Store
from publisher.testing.servers import LocalServer
from tests.conftest import Project
from tests.processes import run_publisher


async def cli(*args: str) -> tuple[int, str, str]:
    """Run the command line in a thread (it runs its own event loop); `run` in a process,
    since it installs signal handlers."""

    def call() -> tuple[int, str, str]:
        if args and args[0] == "run":
            r = run_publisher(*args)
            return r.returncode, r.stdout, r.stderr
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
        return code, out.getvalue(), err.getvalue()

    return await asyncio.to_thread(call)


class Tripwire:
    """A server every network points at in a dry run: any request is a failure."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.url = ""
        self._server: LocalServer | None = None

    async def _any(self, request: web.Request) -> web.Response:
        self.hits.append(f"{request.method} {request.path}")
        return web.json_response({"error": "a dry run must not reach the network"}, status=500)

    async def __aenter__(self) -> Tripwire:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._any)
        self._server = LocalServer(app)
        self.url = await self._server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            await self._server.stop()


@pytest.fixture
async def tripwire() -> AsyncIterator[Tripwire]:
    async with Tripwire() as t:
        yield t


def networks_at(project: Project, url: str) -> None:
    """Accounts on every HTTP network, all pointed at ``url``; secrets left unset."""
    project.accounts = {
        "bird": {
            "network": "x",
            "api_base": url,
            "api_key": "${NO_KEY}",
            "api_secret": "${NO_SECRET}",
            "access_token": "${NO_TOKEN}",
            "access_secret": "${NO_TOKEN_SECRET}",
        },
        "page": {"network": "facebook", "api_base": url, "page_id": "42", "page_token": "${NO_FB}"},
        "masto": {"network": "mastodon", "instance": url, "token": "${NO_MASTO}"},
        "sky": {
            "network": "bluesky",
            "pds": url,
            "handle": "brand.test",
            "app_password": "${NO_BSKY}",
        },
        "pro": {
            "network": "linkedin",
            "api_base": url,
            "author": "urn:li:organization:1",
            "token": "${NO_LI}",
        },
        "chan": {"network": "telegram", "api_base": url, "chat_id": "-1", "bot_token": "${NO_TG}"},
        "hook": {"network": "discord", "webhook_url": "${NO_DC}"},
    }
    project.write_config()


QUEUE = """\
posts:
  - id: launch
    at: {at}
    accounts: [bird, page, masto, sky, pro, chan, hook]
    text: |
      Les soldes commencent ! https://example.com/soldes #soldes
"""


async def test_dry_run_command_never_touches_the_network(
    project: Project, tripwire: Tripwire
) -> None:
    networks_at(project, tripwire.url)
    at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    project.write_queue(QUEUE.format(at=at))
    code, out, err = await cli("dry-run", "--json", "--config", str(project.config_path))
    assert code == 0, err
    doc = json.loads(out)
    assert doc["schema"] == 1
    by_account = {d["account"]: d for d in doc["deliveries"]}
    assert set(by_account) == {"bird", "page", "masto", "sky", "pro", "chan", "hook"}
    bird = by_account["bird"]
    assert bird["network"] == "x" and bird["limit"] == 280
    assert bird["parts"][0]["payload"]["text"].startswith("Les soldes commencent !")
    assert bird["parts"][0]["length"] == len("Les soldes commencent ! ") + 23 + len(" #soldes")
    assert "secret" in err  # unset secrets are warnings in a dry run, never errors
    code, out, _ = await cli("dry-run", "--config", str(project.config_path), "--account", "masto")
    assert code == 0 and "masto [mastodon]" in out and "bird" not in out
    assert tripwire.hits == []
    assert not (project.root / "queue.db").exists()  # no writes either


async def test_run_dry_run_goes_through_the_pipeline_without_network(
    project: Project, tripwire: Tripwire
) -> None:
    networks_at(project, tripwire.url)
    at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    project.write_queue(QUEUE.format(at=at))
    code, _out, err = await cli("run", "--dry-run", "--once", "--config", str(project.config_path))
    assert code == 0, err
    assert tripwire.hits == []
    rehearsal = await Store.open(f"sqlite:///{project.root / 'queue.dry-run.db'}")
    try:
        states = {d.account: d.state for d in await rehearsal.all_deliveries()}
    finally:
        await rehearsal.close()
    accounts = ("bird", "page", "masto", "sky", "pro", "chan", "hook")
    assert states == dict.fromkeys(accounts, DeliveryState.DRY_RUN)
    assert not (project.root / "queue.db").exists()  # the real ledger is untouched


async def test_live_run_refuses_missing_secrets_naming_account_and_key(
    project: Project, tripwire: Tripwire
) -> None:
    networks_at(project, tripwire.url)
    project.write_queue(QUEUE.format(at=datetime.now(UTC).isoformat()))
    code, _out, err = await cli("run", "--once", "--config", str(project.config_path))
    assert code == 1
    assert "accounts.masto.token" in err and "NO_MASTO" in err
    assert tripwire.hits == []


async def test_validate_exit_codes(project: Project) -> None:
    project.write_queue("""\
        posts:
          - {id: a, at: 2026-12-01 09:00, accounts: [alpha], text: Bonjour}
        """)
    code, out, _ = await cli("validate", "--config", str(project.config_path))
    assert code == 0 and "valid" in out and "alpha" in out
    project.write_queue("""\
        posts:
          - {id: a, at: 2026-12-01 09:00, accounts: [alpha], text: Bonjour}
          - {id: b, at: 2026-12-01 10:00, accounts: [gamma], text: Hello}
        """)
    code, _, err = await cli("validate", "--config", str(project.config_path))
    assert code == 1
    assert "queue.yaml:3:" in err and "gamma" in err
    code, _, _ = await cli("validate", "--no-such-flag")
    assert code == 2


async def test_status_and_resolve(project: Project) -> None:
    at = datetime.now(UTC) - timedelta(minutes=5)
    project.write_queue(f"""\
        posts:
          - {{id: a, at: "{at.isoformat()}", accounts: [alpha, beta], text: Bonjour}}
          - {{id: b, at: "{(at + timedelta(days=2)).isoformat()}", accounts: [alpha], text: Later}}
        """)
    code, _, err = await cli("run", "--once", "--config", str(project.config_path))
    assert code == 0, err
    code, out, _ = await cli("status", "--json", "--config", str(project.config_path))
    doc = json.loads(out)
    assert doc["counts"]["published"] == 2 and doc["counts"]["scheduled"] == 1
    assert [n["post"] for n in doc["next"]] == ["b"]
    assert doc["last_queue_load"]["ok"] is True
    # Make one delivery unknown, as a crash would, and settle it by hand.
    store = await Store.open(project.database)
    try:
        [d] = await store.find("b", "alpha")
        [claimed] = await store.claim([d], datetime.now(UTC), "dead", timedelta(seconds=1))
        await store.recover_in_flight(datetime.now(UTC))
    finally:
        await store.close()
    code, out, _ = await cli("status", "--config", str(project.config_path))
    assert "UNKNOWN" in out and f"#{d.id}" in out
    code, out, _ = await cli(
        "resolve",
        str(d.id),
        "published",
        "--url",
        "https://x/1",
        "--config",
        str(project.config_path),
    )
    assert code == 0 and "published" in out
    code, _, err = await cli("resolve", str(d.id), "resend", "--config", str(project.config_path))
    assert code == 1 and "only unknown or failed" in err
    code, out, _ = await cli(
        "history", "--post", "b", "--json", "--config", str(project.config_path)
    )
    assert code == 0
    outcomes = [row["outcome"] for row in json.loads(out)["attempts"]]
    assert outcomes == ["interrupted", "resolved"]
    del claimed
