"""Engagement readings batched as the network allows: Bluesky's getPosts takes 25 posts a
call. The engine publishes 30 posts to the XRPC stand-in and reads them at 1h in two calls."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import aiohttp
import pytest

from publisher.adapters.base import AdapterContext
from publisher.clock import FakeClock
from publisher.engine.daemon import Engine, EngineOptions
from publisher.engine.runtime import LIVE, build_adapters
from publisher.states import DeliveryState
from publisher.store import Store
from tests.conftest import T0, Project, eventually
from tests.networks.bluesky.xrpc import Xrpc

POSTS = 30


async def test_thirty_posts_are_read_in_two_calls(
    project: Project, clock: FakeClock, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BSKY_APP_PASSWORD", "bsky-app-password-0123")
    lines = ["posts:"]
    for n in range(POSTS):
        lines.append(f"  - {{id: p{n:02d}, at: 2026-12-01 09:00, accounts: [bsky], text: n{n}}}")
    project.write_queue("\n".join(lines) + "\n")
    async with Xrpc() as pds, aiohttp.ClientSession() as session:
        project.database = db_url
        project.accounts = {
            "bsky": {
                "network": "bluesky",
                "pds": pds.url,
                "handle": "brand.test",
                "app_password": "${BSKY_APP_PASSWORD}",
                "engagement": ["1h"],
            }
        }
        project.write_config()
        config = project.config()
        store = await Store.open(db_url)
        adapters = build_adapters(config, AdapterContext(session=session, clock=clock), LIVE)
        engine = Engine(config, store, clock, adapters, LIVE, EngineOptions(rand=lambda: 0.5))
        task = asyncio.create_task(engine.run())
        try:

            async def all_published() -> bool:
                states = await store.count_by_state()
                return states.get(DeliveryState.PUBLISHED, 0) == POSTS

            await clock.set(T0)
            await eventually(all_published, timeout=20)
            for rkey in list(pds.records)[:3]:
                pds.counts[rkey] = {"likeCount": 2, "repostCount": 1}
            pds.deleted.add(list(pds.records)[-1])
            await asyncio.sleep(0.2)
            await clock.set(T0 + timedelta(hours=1))

            async def all_read() -> bool:
                return len(await store.snapshots()) == POSTS

            await eventually(all_read, timeout=20)
            assert sorted(len(uris) for uris in pds.asked) == [5, 25]
            snaps = await store.snapshots()
            assert sum(1 for s in snaps if s.gone) == 1
            liked = [s for s in snaps if s.counts.get("likes") == 2]
            assert len(liked) == 3
            assert all(s.unavailable == ("replies", "quotes") for s in liked)
        finally:
            engine.stop()
            await asyncio.wait_for(task, 10)
            await store.close()
