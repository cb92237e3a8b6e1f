"""An answer by ``reply_to`` end to end on every network that answers (issue 20), against
each network's strict local server: our post goes out, someone answers it there, the
listener hears it in the engine (``run --once``), the editor writes an answer naming the
inbox item, and it goes out once as that network's reply; a crash between the answer going
out and its item being marked handled leaves one answer, marked at the next run."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from publisher.adapters.base import Adapter, AdapterContext, ItemKind
from publisher.adapters.bluesky import BlueskyAdapter, BlueskySettings
from publisher.adapters.mastodon import MastodonAdapter, MastodonSettings
from publisher.adapters.x import XAdapter, XSettings
from publisher.clock import FakeClock
from publisher.engine.daemon import Engine, EngineOptions
from publisher.engine.runtime import LIVE
from publisher.secrets import Secret
from publisher.states import DeliveryState
from publisher.store import Store
from publisher.store.inbox import ItemState
from publisher.testing.recording import listening
from tests.conftest import T0, Project
from tests.engine.test_first_comment_engine import (
    JPEG,
    ORG,
    PAGE,
    PHOTO,
    TOKEN,
    _facebook,
    _instagram,
    _instagram_stack,
    _linkedin,
    _threads,
)
from tests.networks.bluesky.xrpc import Xrpc
from tests.networks.facebook.server import GraphServer
from tests.networks.linkedin.server import LinkedInServer
from tests.networks.mastodon.server import MastodonServer
from tests.networks.threads.server import ThreadsServer
from tests.networks.x.server import XServer

POST = """\
posts:
  - id: launch
    at: 2026-12-01 09:00
    accounts: [alpha]
    text: Le nouvel atelier ouvre samedi.
"""
WITH_PHOTO = POST + f"    media:\n      - file: {PHOTO}\n"
ANSWER = """\
  - id: answer
    at: 2026-12-01 10:00
    accounts: [alpha]
    text: Oui, de 10 h à 18 h.
    reply_to: {ref}
"""
ANSWER_AT = T0 + timedelta(hours=1)


@dataclass(frozen=True)
class Case:
    server: Callable[[FakeClock, Path], AbstractAsyncContextManager[Any]]
    adapter: Callable[[Any, AdapterContext], Adapter]
    kind: ItemKind  # how someone answers our post there
    listening_server: Callable[[Any], Any] = lambda s: s
    queue: str = POST


def _mastodon(server: MastodonServer, ctx: AdapterContext) -> Adapter:
    settings = MastodonSettings(instance=server.url, token=Secret("MT", TOKEN))
    return MastodonAdapter("alpha", settings, ctx)


def _bluesky(server: Xrpc, ctx: AdapterContext) -> Adapter:
    settings = BlueskySettings(
        pds=server.url, handle="brand.test", app_password=Secret("BSKY", "pw-for-tests")
    )
    return BlueskyAdapter("alpha", settings, ctx)


X_KEY, X_SECRET = "x-consumer-key", "x-SECRET-consumer"


def _x_server(clock: FakeClock, root: Path) -> XServer:
    return XServer(
        now=clock.now,
        consumer_key=X_KEY,
        consumer_secret=X_SECRET,
        access_token=TOKEN,
        access_secret=X_SECRET,
    )


def _x(server: XServer, ctx: AdapterContext) -> Adapter:
    settings = XSettings(
        api_key=Secret("XK", X_KEY),
        api_secret=Secret("XS", X_SECRET),
        access_token=Secret("XT", TOKEN),
        access_secret=Secret("XA", X_SECRET),
        api_base=server.url,
    )
    return XAdapter("alpha", settings, ctx)


@contextlib.asynccontextmanager
async def _xrpc(clock: FakeClock, root: Path) -> AsyncIterator[Xrpc]:
    async with Xrpc() as server:
        yield server


CASES = {
    "mastodon": Case(
        lambda clock, _: MastodonServer(token=TOKEN, clock=clock), _mastodon, ItemKind.REPLY
    ),
    "bluesky": Case(_xrpc, _bluesky, ItemKind.REPLY),
    "facebook": Case(
        lambda clock, _: GraphServer(page_id=PAGE, token=TOKEN, now=clock.now),
        _facebook,
        ItemKind.COMMENT,
    ),
    "threads": Case(
        lambda clock, _: ThreadsServer(token=TOKEN, now=clock.now, processing_polls=0),
        _threads,
        ItemKind.REPLY,
    ),
    "linkedin": Case(
        lambda clock, _: LinkedInServer(author=ORG, token=TOKEN, now=clock.now),
        _linkedin,
        ItemKind.COMMENT,
    ),
    "x": Case(_x_server, _x, ItemKind.REPLY),
    "instagram": Case(
        lambda clock, root: _instagram_stack(clock, root / "public"),
        _instagram,
        ItemKind.COMMENT,
        lambda stack: stack.server,
        WITH_PHOTO,
    ),
}


async def run_once(project: Project, store: Store, clock: FakeClock, adapter: Adapter) -> None:
    config = listening(project.config())
    engine = Engine(
        config, store, clock, {"alpha": adapter}, LIVE, EngineOptions(once=True, rand=lambda: 0.5)
    )
    await engine.run()


@pytest.mark.parametrize("network", sorted(CASES))
async def test_an_answer_goes_once_as_the_networks_reply(
    project: Project, network: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = CASES[network]
    project.write_queue(case.queue)
    (project.root / PHOTO).write_bytes(JPEG)
    clock = FakeClock(T0)
    store = await Store.open(project.database)
    try:
        async with case.server(clock, project.root) as stack, aiohttp.ClientSession() as session:
            server = case.listening_server(stack)
            adapter = case.adapter(stack, AdapterContext(session=session, clock=clock))
            await run_once(project, store, clock, adapter)
            [ours] = await store.find("launch")
            assert ours.state is DeliveryState.PUBLISHED and ours.remote_id
            # Someone answers our post there; the next run hears it.
            await clock.advance(timedelta(minutes=10))
            remote_id, url = server.hear(case.kind, "Ouvert le dimanche ?", answers=ours.remote_id)
            await run_once(project, store, clock, adapter)
            [item] = await store.inbox_items()
            assert (item.remote_id, item.url, item.state) == (remote_id, url, ItemState.NEW)
            assert item.answers_post == "launch"
            # The editor answers it; the run "crashes" before it marks the item handled.
            project.write_queue(case.queue + ANSWER.format(ref=item.id))
            await clock.set(ANSWER_AT)
            real_settle = store.settle_answers

            async def crash(now: object) -> list[int]:
                raise OSError("the process died here")

            monkeypatch.setattr(store, "settle_answers", crash)
            await run_once(project, store, clock, adapter)
            [answer] = await store.find("answer")
            assert answer.state is DeliveryState.PUBLISHED, (answer.state, answer.last_error)
            assert server.replies_to(remote_id) == [answer.remote_id]
            assert (await store.inbox_item(str(item.id))).state is ItemState.NEW  # type: ignore[union-attr]
            # The next run marks it and sends nothing again.
            monkeypatch.setattr(store, "settle_answers", real_settle)
            await clock.advance(timedelta(minutes=5))
            await run_once(project, store, clock, adapter)
            assert server.replies_to(remote_id) == [answer.remote_id]
            done = await store.inbox_item(str(item.id))
            assert done is not None and done.state is ItemState.HANDLED
            assert done.answered_at == ANSWER_AT and done.answer_post == "answer"
    finally:
        await store.close()
