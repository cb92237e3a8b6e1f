"""Engagement collection in the running engine, with a controlled clock, against the strict
local Mastodon, on SQLite and PostgreSQL: readings at their ages, never twice (a restart
included), retried with backoff, never in publishing's way; gone posts; off and dry runs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from publisher.adapters.base import AdapterContext
from publisher.clock import FakeClock
from publisher.engine.daemon import Engine, EngineOptions
from publisher.engine.runtime import LIVE, REHEARSAL, Mode, build_adapters
from publisher.states import DeliveryState
from publisher.store import ReadingState, Store
from tests.conftest import T0, Project, eventually
from tests.networks.mastodon.server import MastodonServer

TOKEN = "masto-SECRET-token-engagement-77"
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
STATUS = "/api/v1/statuses/{id}"

QUEUE = """\
posts:
  - {id: first, at: 2026-12-01 09:00, accounts: [masto], text: Premier post}
"""


@dataclass
class Run:
    engine: Engine
    task: asyncio.Task[None]
    store: Store

    async def settle(self) -> None:
        """Let the engine and its collector do what they can at the current fake time."""
        for _ in range(40):
            await asyncio.sleep(0.01)
        await eventually(lambda: self.engine.in_flight == 0)
        collector = self.engine.collector
        if collector is not None:
            await eventually(lambda: not collector._running)
        for _ in range(20):
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self.engine.stop()
        await asyncio.wait_for(self.task, 10)
        await self.store.close()


@dataclass
class World:
    project: Project
    clock: FakeClock
    server: MastodonServer
    session: aiohttp.ClientSession
    db_url: str

    def configure(self, **account: Any) -> None:
        self.project.database = self.db_url
        self.project.accounts = {
            "masto": {
                "network": "mastodon",
                "instance": self.server.url,
                "token": "${MASTODON_TOKEN}",
                **account,
            }
        }
        self.project.write_config()

    async def start(self, mode: Mode = LIVE, *, once: bool = False) -> Run:
        config = self.project.config()
        store = await Store.open(self.db_url)
        context = AdapterContext(session=self.session, clock=self.clock)
        adapters = build_adapters(config, context, mode)
        options = EngineOptions(once=once, rand=lambda: 0.5)
        engine = Engine(config, store, self.clock, adapters, mode, options)
        run = Run(engine, asyncio.create_task(engine.run()), store)
        if not once:
            await run.settle()
        return run

    def reads(self) -> int:
        """Requests for a status's counts, answered or not."""
        return sum(
            1 for m, path in self.server.hits if m == "GET" and path.startswith("/api/v1/statuses/")
        )


@pytest.fixture
async def world(
    project: Project, clock: FakeClock, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[World]:
    monkeypatch.setenv("MASTODON_TOKEN", TOKEN)
    project.write_queue(QUEUE)
    async with (
        MastodonServer(token=TOKEN, clock=clock, followers=40) as server,
        aiohttp.ClientSession() as session,
    ):
        w = World(project, clock, server, session, db_url)
        w.configure(engagement=["1h", "24h"])
        yield w
        assert server.problems == []


async def published(world: World, run: Run) -> str:
    """Publish ``first`` at T0; its status id."""
    await world.clock.set(T0)
    await run.settle()
    [d] = await run.store.find("first")
    assert d.state is DeliveryState.PUBLISHED and d.remote_id is not None
    return d.remote_id


async def test_snapshots_are_taken_at_their_ages(world: World) -> None:
    run = await world.start()
    try:
        remote_id = await published(world, run)
        status = world.server.status(remote_id)
        assert status is not None
        status.favourites, status.reblogs = 4, 1
        await world.clock.set(T0 + HOUR - timedelta(seconds=1))
        await run.settle()
        assert await run.store.snapshots() == []  # not before its age
        await world.clock.set(T0 + HOUR)
        await run.settle()
        [snap] = await run.store.snapshots()
        assert (snap.post_id, snap.account, snap.network) == ("first", "masto", "mastodon")
        assert (snap.age, snap.age_label, snap.remote_id) == (HOUR, "1h", remote_id)
        assert snap.due_at == T0 + HOUR and snap.taken_at == T0 + HOUR
        assert snap.counts == {"likes": 4, "reposts": 1, "replies": 0}
        assert snap.unavailable == ("quotes",)  # this server predates quotes_count
        status.favourites = 9
        await world.clock.set(T0 + DAY)
        await run.settle()
        snaps = await run.store.snapshots_of_post("first")
        assert [(s.age_label, s.counts["likes"]) for s in snaps] == [("1h", 4), ("24h", 9)]
        # The follower count: read at the start, then once a day.
        counts = await run.store.follower_counts("masto")
        assert [(c.taken_at, c.count) for c in counts] == [
            (T0 - timedelta(minutes=5), 40),
            (T0 + DAY, 40),
        ]
        assert world.reads() == 2
    finally:
        await run.stop()


async def test_a_restart_takes_nothing_twice(world: World) -> None:
    run = await world.start()
    try:
        await published(world, run)
        await world.clock.set(T0 + HOUR)
        await run.settle()
        assert len(await run.store.snapshots()) == 1
    finally:
        await run.stop()
    # The same hour, a new daemon: the 1h reading is taken already.
    run = await world.start()
    try:
        await run.settle()
        assert len(await run.store.snapshots()) == 1
        assert len(await run.store.follower_counts()) == 1  # not again the same day
        await world.clock.set(T0 + DAY)
        await run.settle()
        assert [s.age_label for s in await run.store.snapshots()] == ["1h", "24h"]
        assert world.reads() == 2
    finally:
        await run.stop()


async def test_a_failed_reading_is_retried_with_backoff(world: World) -> None:
    run = await world.start()
    try:
        await published(world, run)
        world.server.fail("GET", STATUS, status=503, body={"error": "Service Unavailable"})
        await world.clock.set(T0 + HOUR)
        await run.settle()
        assert await run.store.snapshots() == []
        [reading, _] = await run.store.readings("first")
        # [retry] base_delay 10s, no jitter: tried again 10 s later.
        assert reading.state is ReadingState.PENDING and reading.attempts == 1
        assert reading.next_at == T0 + HOUR + timedelta(seconds=10)
        assert reading.last_error is not None and "503" in reading.last_error
        await world.clock.set(T0 + HOUR + timedelta(seconds=9))
        await run.settle()
        assert await run.store.snapshots() == []
        await world.clock.set(T0 + HOUR + timedelta(seconds=10))
        await run.settle()
        [snap] = await run.store.snapshots()
        assert snap.due_at == T0 + HOUR and snap.taken_at == T0 + HOUR + timedelta(seconds=10)
    finally:
        await run.stop()


async def test_a_slow_metrics_endpoint_never_delays_publishing(world: World) -> None:
    world.project.write_queue(
        QUEUE + "  - {id: second, at: 2026-12-01 10:00:30, accounts: [masto], text: Second}\n"
    )
    run = await world.start()
    try:
        await published(world, run)
        # The 1h reading hangs (no answer at all) while the second post falls due.
        world.server.fail("GET", STATUS, mode="hang")
        await world.clock.set(T0 + HOUR)
        for _ in range(20):
            await asyncio.sleep(0.01)
        await world.clock.set(T0 + HOUR + timedelta(seconds=30))
        await eventually(lambda: len(world.server.statuses) == 2)

        async def out() -> bool:
            [d] = await run.store.find("second")
            return d.state is DeliveryState.PUBLISHED

        await eventually(out)
        [d] = await run.store.find("second")
        assert d.published_at == T0 + HOUR + timedelta(seconds=30)  # on time
        assert await run.store.snapshots() == []  # the reading is still out
    finally:
        await run.stop()


async def test_a_rate_limit_holds_readings_not_publishing(world: World) -> None:
    world.project.write_queue(
        QUEUE + "  - {id: second, at: 2026-12-01 10:01, accounts: [masto], text: Second}\n"
    )
    run = await world.start()
    try:
        await published(world, run)
        reset = T0 + HOUR + timedelta(minutes=5)
        world.server.throttle("GET", STATUS, reset_at=reset)
        await world.clock.set(T0 + HOUR)
        await run.settle()
        [reading, _] = await run.store.readings("first")
        assert reading.state is ReadingState.PENDING and reading.next_at == reset
        await world.clock.set(T0 + HOUR + timedelta(minutes=1))
        await run.settle()
        [d] = await run.store.find("second")
        assert d.state is DeliveryState.PUBLISHED  # publishing goes on
        assert await run.store.snapshots() == []
        await world.clock.set(reset)
        await run.settle()
        [snap] = await run.store.snapshots()
        assert snap.taken_at == reset
    finally:
        await run.stop()


async def test_a_deleted_post_is_marked_gone_and_read_no_more(world: World) -> None:
    run = await world.start()
    try:
        remote_id = await published(world, run)
        status = world.server.status(remote_id)
        assert status is not None
        status.deleted = True
        await world.clock.set(T0 + HOUR)
        await run.settle()
        [snap] = await run.store.snapshots()
        assert snap.gone and snap.counts == {}
        states = [r.state for r in await run.store.readings("first")]
        assert states == [ReadingState.GONE, ReadingState.GONE]
        await world.clock.set(T0 + DAY)
        await run.settle()
        assert world.reads() == 1  # never read again
        assert len(await run.store.snapshots()) == 1
    finally:
        await run.stop()


async def test_engagement_false_collects_nothing(world: World) -> None:
    world.configure(engagement=False)
    run = await world.start()
    try:
        await published(world, run)
        await world.clock.set(T0 + DAY)
        await run.settle()
        assert await run.store.readings() == []
        assert await run.store.snapshots() == []
        assert await run.store.follower_counts() == []
        assert world.reads() == 0
    finally:
        await run.stop()


async def test_a_dry_run_collects_nothing(world: World) -> None:
    run = await world.start(REHEARSAL)
    try:
        await world.clock.set(T0)
        await run.settle()
        [d] = await run.store.find("first")
        assert d.state is DeliveryState.DRY_RUN
        await world.clock.set(T0 + DAY)
        await run.settle()
        assert await run.store.readings() == []
        assert await run.store.snapshots() == []
        assert await run.store.follower_counts() == []
        assert world.server.hits == []  # not one request: not even a follower count
    finally:
        await run.stop()


async def test_run_once_takes_the_readings_due_now(world: World) -> None:
    await world.clock.set(T0)
    run = await world.start(once=True)
    await asyncio.wait_for(run.task, 10)
    await run.store.close()
    await world.clock.set(T0 + HOUR + timedelta(minutes=2))
    run = await world.start(once=True)
    await asyncio.wait_for(run.task, 10)
    try:
        [snap] = await run.store.snapshots()
        assert snap.age_label == "1h" and snap.taken_at == T0 + HOUR + timedelta(minutes=2)
        [d] = await run.store.find("first")
        assert d.state is DeliveryState.PUBLISHED
    finally:
        with contextlib.suppress(Exception):
            await run.store.close()


async def test_a_refused_token_on_a_read_does_not_fail_publishing(world: World) -> None:
    world.project.write_queue(
        QUEUE + "  - {id: second, at: 2026-12-01 10:01, accounts: [masto], text: Second}\n"
    )
    run = await world.start()
    try:
        await published(world, run)
        refused = {"error": "The access token is invalid"}
        world.server.fail("GET", STATUS, status=401, body=refused)
        await world.clock.set(T0 + HOUR)
        await run.settle()
        # Reads wait for the recheck (15 minutes), the account's publishing does not.
        [reading, _] = await run.store.readings("first")
        assert reading.state is ReadingState.PENDING
        assert reading.next_at == T0 + HOUR + timedelta(minutes=15)
        assert (await run.store.account_states()).get("masto") is None  # nobody flagged
        await world.clock.set(T0 + HOUR + timedelta(minutes=1))
        await run.settle()
        [d] = await run.store.find("second")
        assert d.state is DeliveryState.PUBLISHED
        await world.clock.set(T0 + HOUR + timedelta(minutes=15))
        await run.settle()
        [snap] = await run.store.snapshots()
        assert snap.taken_at == T0 + HOUR + timedelta(minutes=15)
    finally:
        await run.stop()
