"""Alerts from the running listener through a REAL ``[notify]`` command (issue 20): items
heard by listening recorders, under a controlled clock, on SQLite and PostgreSQL, produce
exactly the ``inbox.item`` events of the ``[alerts]`` terms and of a watch with
``alert = true``, one ``inbox.spike`` per account and clock hour, and nothing twice across a
restart (the network repeating itself, the cursor moved back, the hour's spike already sent).

The command is a Python script that writes its standard input to a file of its own: what a
human would receive, read back event by event.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from publisher.clock import FakeClock
from publisher.config import Config, NotifySettings
from publisher.engine.daemon import Engine, EngineOptions
from publisher.engine.notify import HumanAlerts
from publisher.engine.runtime import LIVE
from publisher.listenconfig import WatchSettings
from publisher.store import Store
from publisher.store.inbox import INBOX
from publisher.testing.recording import ListeningRecorder, listening, listening_adapters
from tests.conftest import T0, Project, eventually

MINUTE = timedelta(minutes=1)
START = T0 + 5 * MINUTE  # 08:05Z: the 08:00 hour

ALERTS = """
[alerts]
terms = ["panne", "Acme"]
per_hour = 5
factor = 2
min_items = 4
baseline = "1d"
"""


class Daemon:
    """One engine with its listener, alerting through ``alerts``."""

    def __init__(self, engine: Engine, store: Store, adapters: Mapping[str, ListeningRecorder],
                 alerts: HumanAlerts) -> None:
        self.engine = engine
        self.store = store
        self.adapters = adapters
        self.alerts = alerts
        self.task = asyncio.create_task(engine.run())

    async def settle(self) -> None:
        """Every due read made and every event sent and written by the command."""
        for _ in range(40):
            await asyncio.sleep(0.01)
        await eventually(lambda: self.engine.in_flight == 0)
        listener = self.engine.listener
        assert listener is not None
        await eventually(lambda: not listener._running)
        for _ in range(20):
            await asyncio.sleep(0.01)
        await self.alerts.drain(grace=30)  # a guard against a hang, not a limit

    async def stop(self) -> None:
        self.engine.stop()
        await asyncio.wait_for(self.task, 10)
        await self.alerts.drain(grace=30)
        await self.store.close()


def configured(project: Project) -> Config:
    """Both accounts listening; the watch "brand" searched through alpha, alerting. (A
    ``[[watch]]`` table cannot name the log network in the file, which has no search.)"""
    config = listening(project.config(), listen_interval=timedelta(minutes=5))
    watch = WatchSettings(name="brand", terms=["marque"], accounts=["alpha"], alert=True)
    return replace(config, watches=(watch,))


async def start(project: Project, clock: FakeClock, db_url: str, command: list[str],
                adapters: Mapping[str, ListeningRecorder] | None = None) -> Daemon:
    config = configured(project)
    assert config.alerts.terms == ["panne", "Acme"] and config.alerts.per_hour == 5
    store = await Store.open(db_url)
    adapters = adapters or listening_adapters(config, clock)
    alerts = HumanAlerts(NotifySettings(command=command))
    engine = Engine(config, store, clock, dict(adapters), LIVE,
                    EngineOptions(rand=lambda: 0.5), observers=[alerts])
    run = Daemon(engine, store, adapters, alerts)
    await run.settle()  # the engine's first pass made: the listener has planned its reads
    return run


def received(sink: Path) -> list[dict[str, Any]]:
    """Every event the command was given, one file each."""
    return [json.loads(f.read_text(encoding="utf-8")) for f in sorted(sink.iterdir())]


def summary(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Each event's gist, sorted: the command runs once per event, in no set order."""
    out = []
    for e in events:
        if e["event"] == "inbox.item":
            out.append(("item", e["account"], e["text"], e["why"]))
        else:
            out.append(("spike", e["account"], e["rule"], e["count"], e["hour"]))
    return sorted(out)


def say_alpha_first(alpha: ListeningRecorder) -> None:
    alpha.say("Le site est en PANNE depuis ce matin")
    alpha.say("bonjour")
    alpha.say("acmeology, c'est quoi ?")  # not the word Acme
    alpha.say("#Acme c'est top", author="@bob")


@pytest.fixture
def sink(tmp_path: Path) -> Path:
    out = tmp_path / "events"
    out.mkdir()
    return out


@pytest.fixture
def command(tmp_path: Path, sink: Path) -> list[str]:
    """Writes its standard input to a file of its own in ``sink`` (several run at once)."""
    script = tmp_path / "page-me.py"
    script.write_text(
        "import os, sys, tempfile\n"
        "data = sys.stdin.buffer.read()\n"
        f"fd, _ = tempfile.mkstemp(dir={str(sink)!r}, prefix='event.')\n"
        "os.write(fd, data)\n"
        "os.close(fd)\n",
        encoding="utf-8",
    )
    return [sys.executable, str(script)]


async def test_alerts_are_sent_once_each_through_the_notify_command(
    project: Project, db_url: str, sink: Path, command: list[str]
) -> None:
    project.extra = ALERTS
    project.database = db_url
    project.write_config()
    project.write_queue("posts: []\n")
    clock = FakeClock(START)
    adapters = listening_adapters(configured(project), clock)
    alpha, beta = adapters["alpha"], adapters["beta"]
    say_alpha_first(alpha)
    alpha.say("un avis sur la marque", found=True)  # what the watch "brand" finds
    for i in range(1, 7):
        beta.say(f"message {i}")

    hour8, hour9 = "2026-12-01T08:00:00Z", "2026-12-01T09:00:00Z"
    first = [
        ("item", "alpha", "#Acme c'est top", "term 'Acme'"),
        ("item", "alpha", "Le site est en PANNE depuis ce matin", "term 'panne'"),
        ("item", "alpha", "un avis sur la marque", "watch brand"),
        # alpha: 4 items after a silent day (at least min_items, above 2 × 0); its watch's
        # item makes 5, within the same hour: no second spike.
        ("spike", "alpha", "factor", 4, hour8),
        ("spike", "beta", "per_hour", 6, hour8),  # more than 5
    ]
    run = await start(project, clock, db_url, command, adapters)
    try:
        await clock.advance(MINUTE)  # 08:06, past the first reads' spread: every stream read
        await run.settle()
        events = received(sink)
        assert summary(events) == sorted(first)
        [panne] = [e for e in events if "PANNE" in e.get("text", "")]
        stored = {i.remote_id: i for i in await run.store.inbox_items()}
        panne_item = stored["alpha-said-1"]
        assert panne == {
            "event": "inbox.item", "at": "2026-12-01T08:06:00Z", "item": panne_item.id,
            "account": "alpha", "network": "log", "kind": "mention", "author": "@ana",
            "text": "Le site est en PANNE depuis ce matin",
            "url": "https://log.example/alpha/heard/1", "why": "term 'panne'",
        }
        [beta_spike] = [e for e in events if e["event"] == "inbox.spike" and e["account"] == "beta"]
        assert beta_spike == {
            "event": "inbox.spike", "at": "2026-12-01T08:06:00Z", "account": "beta",
            "count": 6, "usual_per_hour": 0.0, "rule": "per_hour", "hour": hour8,
        }
        # Every item new at that read was looked at: none will be alerted later.
        assert all(i.alerted_at is not None for i in stored.values())

        # 08:11, the same hour: alpha is now over per_hour too (7 > 5), but its hour's spike
        # was sent; beta's new item holds a term.
        alpha.say("encore")
        alpha.say("toujours")
        beta.say("panne totale ici")
        await clock.advance(5 * MINUTE)
        await run.settle()
        second = [("item", "beta", "panne totale ici", "term 'panne'")]
        assert summary(received(sink)) == sorted(first + second)
    finally:
        await run.stop()

    # A restart: new recorders, the network saying the same things again from the start,
    # alpha's cursor moved back; and one more item for beta in the hour already alerted.
    store = await Store.open(db_url)
    try:
        await store.hear("alpha", "log", INBOX, [], "0", clock.now())
    finally:
        await store.close()
    adapters = listening_adapters(configured(project), clock)
    alpha, beta = adapters["alpha"], adapters["beta"]
    say_alpha_first(alpha)
    alpha.say("un avis sur la marque", found=True)
    alpha.say("encore")
    alpha.say("toujours")
    for i in range(1, 7):
        beta.say(f"message {i}")
    beta.say("panne totale ici")
    beta.say("et une de plus")
    run = await start(project, clock, db_url, command, adapters)
    try:
        await clock.advance(5 * MINUTE)  # 08:16
        await run.settle()
        await clock.advance(5 * MINUTE)  # 08:21
        await run.settle()
        assert any(r.cursor == "0" for r in alpha.reads)  # it did read everything again
        stored = await run.store.inbox_items()
        assert len(stored) == 6 + 1 + 8  # alpha's inbox, its watch, beta's: each once
        assert summary(received(sink)) == sorted(first + second)

        # The next clock hour: alpha's 6 new items are a new spike (those of 08:11 are more
        # than an hour old at 09:20).
        for i in range(6):
            alpha.say(f"rush {i}")
        await clock.set(T0 + 80 * MINUTE)  # 09:20: alpha's read is overdue
        await run.settle()
        await clock.advance(5 * MINUTE)
        await run.settle()
        third = [("spike", "alpha", "per_hour", 6, hour9)]
        assert summary(received(sink)) == sorted(first + second + third)
    finally:
        await run.stop()
