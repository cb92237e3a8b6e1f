"""An ambiguous answer that names the post (LinkedIn's DUPLICATE_POST) settles the delivery."""

from __future__ import annotations

from datetime import timedelta

import aiohttp

from publisher.adapters.base import AdapterContext
from publisher.adapters.linkedin import LinkedInAdapter, LinkedInSettings
from publisher.clock import FakeClock
from publisher.engine.daemon import Engine, EngineOptions
from publisher.engine.runtime import LIVE
from publisher.secrets import Secret
from publisher.states import DeliveryState
from publisher.store import Store
from tests.conftest import T0, Project
from tests.networks.linkedin.server import LinkedInServer


async def run_once(project: Project, clock: FakeClock, server: LinkedInServer) -> Store:
    config = project.config()
    store = await Store.open(project.database)
    async with aiohttp.ClientSession() as session:
        adapter = LinkedInAdapter(
            "alpha",
            LinkedInSettings(
                api_base=server.url, author=server.author, token=Secret("LI", server.token)
            ),
            AdapterContext(session=session, clock=clock),
        )
        for _ in range(2):  # publish, then (after resolve_delay) look it up
            engine = Engine(
                config, store, clock, {"alpha": adapter}, LIVE, EngineOptions(once=True)
            )
            await engine.run()
            await clock.advance(timedelta(minutes=2))
    return store


async def test_duplicate_answer_naming_our_post_resolves_published(project: Project) -> None:
    project.write_queue("""\
        posts:
          - {id: a, at: 2026-12-01 09:00, accounts: [alpha], text: Bonjour à tous}
        """)
    clock = FakeClock(T0)
    async with LinkedInServer(finder_forbidden=True) as server:
        # Our first attempt landed but its answer was lost: the post is there, made just now.
        ours = server.add_post("Bonjour à tous", created_at=T0)
        store = await run_once(project, clock, server)
    try:
        [d] = await store.find("a")
        assert d.state is DeliveryState.PUBLISHED and d.remote_id == ours.urn
        assert len(server.posts) == 1
    finally:
        await store.close()


async def test_duplicate_of_an_older_twin_is_not_taken_for_ours(project: Project) -> None:
    project.write_queue("""\
        posts:
          - {id: a, at: 2026-12-01 09:00, accounts: [alpha], text: Bonjour à tous}
        """)
    clock = FakeClock(T0)
    async with LinkedInServer(finder_forbidden=True) as server:
        server.add_post("Bonjour à tous", created_at=T0 - timedelta(days=30))
        store = await run_once(project, clock, server)
    try:
        [d] = await store.find("a")
        assert d.state is DeliveryState.UNKNOWN  # a human decides; never marked published
        assert d.published_at is None and d.lookups == 1
    finally:
        await store.close()
