"""`publisher accounts check` against local network servers; notifications to a command."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

from publisher.adapters.base import PermanentError, TransientError
from publisher.clock import FakeClock
from publisher.config import NotifySettings
from publisher.engine.daemon import Engine, EngineOptions
from publisher.engine.notify import HumanAlerts
from publisher.engine.runtime import LIVE
from publisher.store import Store
from tests.conftest import T0, Project, eventually, recording_adapters
from tests.networks.mastodon.server import MastodonServer
from tests.networks.x.server import XServer
from tests.test_cli import cli


async def test_accounts_check_reports_each_account(project: Project) -> None:
    async with XServer() as x, MastodonServer() as masto:
        project.accounts = {
            "bird": {
                "network": "x",
                "api_base": x.url,
                "api_key": "xck-consumer-key-0001",
                "api_secret": "xcs-consumer-secret-0002",
                "access_token": "1234567890-xat-access-token-0003",
                "access_secret": "xas-access-secret-0004",
            },
            "masto": {
                "network": "mastodon",
                "instance": masto.url,
                "token": "test-token-0123456789",
            },
            "wrong": {"network": "mastodon", "instance": masto.url, "token": "not-the-token-000"},
        }
        project.write_config()
        project.write_queue("posts: []\n")
        code, out, err = await cli(
            "accounts", "check", "--json", "--config", str(project.config_path)
        )
    rows = {r["account"]: r for r in json.loads(out)["accounts"]}
    assert code == 1, err  # one account needs attention
    assert rows["bird"]["status"] == "ok" and rows["bird"]["identity"] == "@brand"
    assert rows["masto"]["status"] == "ok"
    assert rows["wrong"]["status"] == "attention"
    assert "not-the-token-000" not in out + err


async def test_failures_and_unknowns_call_the_notify_command(
    project: Project, tmp_path: Path
) -> None:
    sink = tmp_path / "events.jsonl"
    script = tmp_path / "notify.py"
    script.write_text(f"import sys\nopen({str(sink)!r}, 'a').write(sys.stdin.read() + '\\n')\n")
    project.write_queue("""\
        posts:
          - {id: a, at: 2026-12-01 09:00, accounts: [alpha], text: Un}
          - {id: b, at: 2026-12-01 09:00, accounts: [beta], text: Deux}
        """)
    config = project.config()
    clock = FakeClock(T0)
    store = await Store.open(project.database)
    adapters = recording_adapters(config, clock)
    adapters["alpha"].script = [PermanentError("the post was refused: spam")]
    adapters["beta"].script = [TransientError("503")] * 5
    alerts = HumanAlerts(NotifySettings(command=[sys.executable, str(script)]))
    engine = Engine(
        config,
        store,
        clock,
        adapters,
        LIVE,
        EngineOptions(once=True, rand=lambda: 0.5),
        observers=[alerts],
    )
    try:
        await engine.run()
        for _ in range(3):  # let beta exhaust its 3 attempts
            await clock.advance(timedelta(minutes=5))
            engine = Engine(
                config, store, clock, adapters, LIVE, EngineOptions(once=True), observers=[alerts]
            )
            await engine.run()
        await alerts.drain()
        await eventually(lambda: sink.exists() and len(sink.read_text().splitlines()) >= 2)
    finally:
        await store.close()
    events = [json.loads(line) for line in sink.read_text().splitlines() if line.strip()]
    by_post = {e["post"]: e for e in events}
    assert by_post["a"]["event"] == "delivery.failed"
    assert by_post["a"]["reason"] == "the post was refused: spam"
    assert (
        by_post["b"]["event"] == "delivery.failed"
        and "gave up after 3 attempts" in by_post["b"]["reason"]
    )
    assert all(e["at"].endswith("Z") for e in events)
