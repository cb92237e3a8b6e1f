"""Mastodon's Idempotency-Key settles an unknown delivery by sending again, within its window."""

from __future__ import annotations

from datetime import timedelta

import aiohttp

from publisher.adapters.base import AdapterContext
from publisher.adapters.mastodon import MastodonAdapter, MastodonSettings
from publisher.clock import FakeClock
from publisher.engine.daemon import Engine, EngineOptions
from publisher.engine.runtime import LIVE
from publisher.secrets import Secret
from publisher.states import DeliveryState, Outcome
from publisher.store import Store
from tests.conftest import T0, Project
from tests.networks.mastodon.server import MastodonServer


async def passes(
    project: Project, clock: FakeClock, server: MastodonServer, n: int, step: timedelta
) -> Store:
    config = project.config()
    store = await Store.open(project.database)
    async with aiohttp.ClientSession() as session:
        adapter = MastodonAdapter(
            "alpha",
            MastodonSettings(instance=server.url, token=Secret("T", server.token)),
            AdapterContext(session=session, clock=clock),
        )
        for _ in range(n):
            engine = Engine(
                config, store, clock, {"alpha": adapter}, LIVE, EngineOptions(once=True)
            )
            await engine.run()
            await clock.advance(step)
    return store


QUEUE = """\
posts:
  - {id: a, at: 2026-12-01 09:00, accounts: [alpha], text: Une seule fois}
"""


async def test_unknown_within_the_window_is_resent_under_the_same_key(project: Project) -> None:
    project.write_queue(QUEUE)
    clock = FakeClock(T0)
    async with MastodonServer() as server:
        # The status is created, then the answer is lost: the outcome is unknown.
        server.fail("POST", "/api/v1/statuses", status=500, after=True)
        store = await passes(project, clock, server, 3, timedelta(minutes=2))
        statuses = list(server.statuses)
    try:
        [d] = await store.find("a")
        assert d.state is DeliveryState.PUBLISHED
        assert len(statuses) == 1  # the resend was recognised, not a second post
        assert d.remote_id == statuses[0].id
        outcomes = [a.outcome for a in await store.attempts(post_id="a")]
        assert outcomes == [
            Outcome.AMBIGUOUS.value,
            Outcome.RESOLVED.value,
            Outcome.PUBLISHED.value,
        ]
    finally:
        await store.close()


async def test_unknown_past_the_window_is_looked_up_instead(project: Project) -> None:
    project.write_queue(QUEUE)
    clock = FakeClock(T0)
    async with MastodonServer(clock=clock) as server:
        server.fail("POST", "/api/v1/statuses", status=500, after=True)
        # First pass: unknown. Then two hours pass (the daemon was down): past the window.
        store = await passes(project, clock, server, 1, timedelta(hours=2))
        await store.close()
        store = await passes(project, clock, server, 2, timedelta(minutes=2))
        statuses = list(server.statuses)
    try:
        [d] = await store.find("a")
        assert d.state is DeliveryState.PUBLISHED  # found on the timeline
        assert len(statuses) == 1
        resolved = [a for a in await store.attempts(post_id="a") if a.outcome == "resolved"]
        assert [a.error for a in resolved] == ["found on the network"]
    finally:
        await store.close()
