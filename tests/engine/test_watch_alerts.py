"""Watches and alerts in the running engine (issue 20), against the strict Mastodon server:
a ``[[watch]]`` finds what is said about the brand where we are not tagged (hashtag
timeline and full-text search), once across runs; ``[alerts]`` terms and a watch with
``alert = true`` go to a real ``[notify]`` command, each item once, a restart included."""

from __future__ import annotations

import json
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from publisher.adapters.base import AdapterContext, ItemKind
from publisher.clock import FakeClock
from publisher.engine.daemon import Engine, EngineOptions
from publisher.engine.notify import HumanAlerts
from publisher.engine.runtime import LIVE, build_adapters
from publisher.store import Store
from tests.conftest import T0, Project
from tests.networks.mastodon.server import MastodonServer

TOKEN = "masto-SECRET-token-watch-31"


def notify_script(tmp: Path) -> tuple[Path, Path]:
    """A command that appends each event (its stdin) as one line to a file."""
    out = tmp / "events.jsonl"
    script = tmp / "page-me"
    script.write_text(f'#!/bin/sh\ncat >> "{out}"\necho >> "{out}"\n', encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, out


def events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def run_once(project: Project, clock: FakeClock, session: aiohttp.ClientSession) -> None:
    config = project.config()
    store = await Store.open(project.database)
    alerts = HumanAlerts(config.notify, session)
    try:
        adapters = build_adapters(config, AdapterContext(session=session, clock=clock), LIVE)
        engine = Engine(
            config,
            store,
            clock,
            adapters,
            LIVE,
            EngineOptions(once=True, rand=lambda: 0.5),
            observers=[alerts],
        )
        await engine.run()
        await alerts.drain()
    finally:
        await store.close()


@pytest.fixture
def masto_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASTODON_TOKEN", TOKEN)


async def test_a_watch_finds_the_brand_and_alerts_once(
    project: Project, tmp_path: Path, masto_env: None
) -> None:
    script, out = notify_script(tmp_path)
    project.write_queue("posts: []\n")
    clock = FakeClock(T0)
    async with MastodonServer(token=TOKEN, clock=clock) as server, aiohttp.ClientSession() as s:
        project.accounts = {
            "masto": {"network": "mastodon", "instance": server.url, "token": "${MASTODON_TOKEN}"}
        }
        project.extra = (
            f'[notify]\ncommand = ["{script}"]\n'
            '[[watch]]\nname = "brand"\nterms = ["#atelierparis", "Atelier Lumière"]\n'
            "alert = true\n"
            '[alerts]\nterms = ["remboursement"]\n'
        )
        project.write_config()
        await run_once(project, clock, s)  # the first reads: nothing yet, places kept
        await clock.advance(timedelta(minutes=20))
        tagged = server.post_public("Vu hier à #atelierparis, superbe", author="ana")
        named = server.post_public("L'Atelier Lumière ouvre enfin", author="bob")
        server.post_public("Rien à voir avec nous", author="carol")
        said, _url = server.hear(ItemKind.MENTION, "Je veux un remboursement", author="dan")
        await run_once(project, clock, s)
        store = await Store.open(project.database)
        try:
            items = {i.remote_id: i for i in await store.inbox_items()}
        finally:
            await store.close()
        assert set(items) == {tagged.id, named.id, said}
        assert items[tagged.id].kind == "found" and items[tagged.id].watch == "brand"
        assert items[said].kind == "mention" and items[said].watch is None
        got = events(out)
        assert sorted((e["event"], e["item"], e["why"]) for e in got) == sorted(
            [
                ("inbox.item", items[tagged.id].id, "watch brand"),
                ("inbox.item", items[named.id].id, "watch brand"),
                ("inbox.item", items[said].id, "term 'remboursement'"),
            ]
        )
        assert all(TOKEN not in json.dumps(e) for e in got)
        # Another run (a restart): nothing stored or sent twice.
        await clock.advance(timedelta(minutes=20))
        await run_once(project, clock, s)
        assert len(events(out)) == 3
        assert server.problems == []
