"""A network's daily publishing limit (Threads' and Instagram's) holds the account: the post
past it waits, nothing fails, and it goes out once the rolling window frees."""

from __future__ import annotations

from datetime import timedelta

import aiohttp

from publisher.adapters.base import AdapterContext
from publisher.adapters.threads import ThreadsAdapter, ThreadsSettings
from publisher.clock import FakeClock
from publisher.engine.daemon import Engine, EngineOptions
from publisher.engine.runtime import LIVE
from publisher.secrets import Secret
from publisher.states import DeliveryState, Outcome
from publisher.store import Store
from tests.conftest import T0, Project
from tests.networks.threads.server import ThreadsServer

QUEUE = """\
posts:
  - {id: a, at: 2026-12-01 09:00, accounts: [alpha], text: Premier message du jour}
  - {id: b, at: 2026-12-01 09:05, accounts: [alpha], text: Second message du jour}
"""


async def passes(
    project: Project, clock: FakeClock, server: ThreadsServer, store: Store, n: int
) -> None:
    config = project.config()
    async with aiohttp.ClientSession() as session:
        adapter = ThreadsAdapter(
            "alpha",
            ThreadsSettings(
                user_id=server.user_id, token=Secret("T", server.token), api_base=server.url
            ),
            AdapterContext(session=session, clock=clock),
        )
        for _ in range(n):
            engine = Engine(
                config, store, clock, {"alpha": adapter}, LIVE, EngineOptions(once=True)
            )
            await engine.run()


async def test_the_post_past_the_limit_is_held_then_sent_when_the_window_frees(
    project: Project,
) -> None:
    project.write_queue(QUEUE)
    clock = FakeClock(T0)
    # The network says 3 posts a day; two went out 23 hours ago: one more fits today.
    async with ThreadsServer(now=clock.now, quota_total=3, processing_polls=0) as server:
        for minutes in (0, 30):
            server.add_post("hier", T0 - timedelta(hours=23) + timedelta(minutes=minutes))
        store = await Store.open(project.database)
        try:
            await passes(project, clock, server, store, 1)
            await clock.set(T0 + timedelta(minutes=5))
            await passes(project, clock, server, store, 1)
            [a] = await store.find("a")
            [b] = await store.find("b")
            assert a.state is DeliveryState.PUBLISHED
            assert b.state is not DeliveryState.FAILED and b.published_at is None
            assert len(server.posts) == 3
            [held] = [t for t in await store.attempts(post_id="b")]
            assert held.outcome == Outcome.RATE_LIMITED.value
            assert "publishing limit reached: 3 of 3" in (held.error or "")
            # The oldest of yesterday's posts leaves the window at T0 + 1 h.
            await clock.set(T0 + timedelta(minutes=59))
            await passes(project, clock, server, store, 1)
            assert len(server.posts) == 3  # still held
            await clock.set(T0 + timedelta(hours=1, minutes=1))
            await passes(project, clock, server, store, 1)
            [b] = await store.find("b")
            assert b.state is DeliveryState.PUBLISHED
            assert b.remote_id == server.posts[-1].id and len(server.posts) == 4
        finally:
            await store.close()
