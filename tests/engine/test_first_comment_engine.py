"""The engine with a first comment, against the strict Facebook, LinkedIn, Instagram and
Threads servers (no idempotency key there: only the ledger's parts and the lookup keep a
post from going twice).

- the comment refused for now: the delivery retries, and the retry sends the comment alone;
- the comment's answer lost after it landed (a crash between the post and the ledger would
  leave the same): the delivery is unknown, the lookup finds the post and the comment, and
  nothing is sent again;
- the comment never sent and the outcome unknown: the lookup finds the post alone, and the
  engine sends the comment, only it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from publisher.adapters.base import Adapter, AdapterContext
from publisher.adapters.facebook import FacebookAdapter, FacebookSettings
from publisher.adapters.instagram import InstagramAdapter, InstagramSettings
from publisher.adapters.linkedin import LinkedInAdapter, LinkedInSettings
from publisher.adapters.threads import ThreadsAdapter, ThreadsSettings
from publisher.clock import FakeClock
from publisher.engine.daemon import Engine, EngineOptions
from publisher.engine.runtime import LIVE
from publisher.secrets import Secret
from publisher.states import DeliveryState
from publisher.store import Store
from publisher.testing.hosting import ServedDirectory
from tests.conftest import T0, Project
from tests.networks.facebook.server import GraphServer
from tests.networks.instagram.server import InstagramServer
from tests.networks.linkedin.server import LinkedInServer
from tests.networks.threads.server import ThreadsServer

TOKEN = "SECRET-first-comment-engine-91fe"
ORG = "urn:li:organization:5515715"
PAGE = "1234567890"
COMMENT = "Inscription gratuite : https://example.com/atelier"
QUEUE = f"""\
posts:
  - id: atelier
    at: 2026-12-01 09:00
    accounts: [alpha]
    text: Atelier couture samedi à 14 h.
    first_comment: "{COMMENT}"
"""
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64 + b"\xff\xd9"
PHOTO = "atelier.jpg"  # beside queue.yaml: Instagram posts always carry media
WITH_PHOTO = (
    QUEUE
    + f"""\
    media:
      - file: {PHOTO}
"""
)
GRAPH_LIMIT = (4, "(#4) Application request limit reached")


@dataclass(frozen=True)
class Case:
    server: Callable[[FakeClock, Path], AbstractAsyncContextManager[Any]]  # its root dir
    adapter: Callable[[Any, AdapterContext], Adapter]
    posts: Callable[[Any], list[str]]  # the posts' ids
    comments: Callable[[Any], list[tuple[str, str, str]]]  # (id, on post, text)
    refuse: Callable[[Any], None]  # the next comment is refused for now
    lose: Callable[[Any], None]  # the next comment lands, its answer is lost
    drop_unsent: Callable[[Any], None]  # the next comment never lands, no answer
    queue: str = QUEUE


def _facebook(server: GraphServer, ctx: AdapterContext) -> Adapter:
    settings = FacebookSettings(page_id=PAGE, page_token=Secret("FB", TOKEN), api_base=server.url)
    return FacebookAdapter("alpha", settings, ctx)


def _linkedin(server: LinkedInServer, ctx: AdapterContext) -> Adapter:
    settings = LinkedInSettings(author=ORG, token=Secret("LI", TOKEN), api_base=server.url)
    return LinkedInAdapter("alpha", settings, ctx)


def _threads(server: ThreadsServer, ctx: AdapterContext) -> Adapter:
    settings = ThreadsSettings(
        user_id=server.user_id, token=Secret("TH", TOKEN), api_base=server.url
    )
    return ThreadsAdapter("alpha", settings, ctx)


@dataclass
class Instagram:
    """The strict Instagram server and the served directory it fetches the photo from."""

    server: InstagramServer
    served: ServedDirectory


@contextlib.asynccontextmanager
async def _instagram_stack(clock: FakeClock, public: Path) -> AsyncIterator[Instagram]:
    async with (
        InstagramServer(token=TOKEN, now=clock.now, processing_polls=0) as server,
        aiohttp.ClientSession() as session,
        ServedDirectory(public, session) as served,
    ):
        yield Instagram(server, served)


def _instagram(stack: Instagram, ctx: AdapterContext) -> Adapter:
    server = stack.server
    settings = InstagramSettings(
        user_id=server.user_id, token=Secret("IG", TOKEN), api_base=server.url
    )
    return InstagramAdapter("alpha", settings, replace(ctx, host=stack.served.host))


CASES = {
    "facebook": Case(
        lambda clock, _: GraphServer(page_id=PAGE, token=TOKEN, now=clock.now),
        _facebook,
        lambda s: [p.id for p in s.posts],
        lambda s: [(c.id, c.post_id, c.message) for c in s.comments],
        lambda s: s.inject_error("comment", 4, "(#4) Application request limit reached"),
        lambda s: s.inject_drop("comment", commit=True),
        lambda s: s.inject_drop("comment"),
    ),
    "linkedin": Case(
        lambda clock, _: LinkedInServer(author=ORG, token=TOKEN, now=clock.now),
        _linkedin,
        lambda s: [p.urn for p in s.posts],
        lambda s: [(c.urn, c.object, c.text) for c in s.comments],
        lambda s: s.inject("comment", 429, headers={"Retry-After": "60"}),
        lambda s: s.inject("comment", 500, commit=True),
        lambda s: s.inject("comment", 0, drop=True),
    ),
    # The comment is a reply, published as a post is: its publish fails, not the post's.
    "threads": Case(
        lambda clock, _: ThreadsServer(token=TOKEN, now=clock.now, processing_polls=0),
        _threads,
        lambda s: [p.id for p in s.posts if p.reply_to is None],
        lambda s: [(p.id, p.reply_to, p.text) for p in s.posts if p.reply_to is not None],
        lambda s: s.inject_error("reply publish", *GRAPH_LIMIT),
        lambda s: s.inject_drop("reply publish", commit=True),
        lambda s: s.inject_drop("reply publish"),
    ),
    "instagram": Case(
        lambda clock, root: _instagram_stack(clock, root / "public"),
        _instagram,
        lambda s: [p.id for p in s.server.posts],
        lambda s: [(c.id, c.media_id, c.text) for c in s.server.comments],
        lambda s: s.server.inject_error("comment", *GRAPH_LIMIT),
        lambda s: s.server.inject_drop("comment", commit=True),
        lambda s: s.server.inject_drop("comment"),
        WITH_PHOTO,
    ),
}


async def run_once(project: Project, store: Store, clock: FakeClock, adapter: Adapter) -> None:
    engine = Engine(
        project.config(), store, clock, {"alpha": adapter}, LIVE, EngineOptions(once=True)
    )
    await engine.run()


def one_post_one_comment(case: Case, server: Any) -> str:
    (post,) = case.posts(server)
    (comment,) = case.comments(server)
    assert comment[1] == post and comment[2] == COMMENT
    return post


@pytest.mark.parametrize("network", sorted(CASES))
@pytest.mark.parametrize("fault", ["refused", "lost", "unsent"])
async def test_the_comment_goes_out_once_and_the_post_is_never_resent(
    project: Project, network: str, fault: str
) -> None:
    case = CASES[network]
    project.write_queue(case.queue)
    (project.root / PHOTO).write_bytes(JPEG)
    clock = FakeClock(T0)
    store = await Store.open(project.database)
    try:
        async with case.server(clock, project.root) as server, aiohttp.ClientSession() as session:
            adapter = case.adapter(server, AdapterContext(session=session, clock=clock))
            {"refused": case.refuse, "lost": case.lose, "unsent": case.drop_unsent}[fault](server)
            await run_once(project, store, clock, adapter)
            [d] = await store.find("atelier")
            expected = DeliveryState.RETRYING if fault == "refused" else DeliveryState.UNKNOWN
            assert d.state is expected, (d.state, d.last_error)
            assert len(case.posts(server)) == 1
            if fault == "refused":
                assert [p.index for p in d.parts] == [0]  # the post's part, in the ledger

            # The retry's time, or the lookup's (``resolve_delay``); then, if the lookup found
            # the post alone, the resumed delivery's turn.
            for _ in range(3):
                await clock.advance(timedelta(minutes=2))
                await run_once(project, store, clock, adapter)
            [d] = await store.find("atelier")
            assert d.state is DeliveryState.PUBLISHED, (d.state, d.last_error)
            post = one_post_one_comment(case, server)
            assert d.remote_id == post
            assert [p.index for p in d.parts] == [0, 1]
    finally:
        await store.close()
