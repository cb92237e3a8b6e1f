"""Threads listening (issue 20) against the strict local Threads API: the replies at any depth
under the account's recent posts (``/{media-id}/conversation``) and its mentions
(``/{user-id}/mentions``), newest first down to the cursor's mark; an answer is a reply
container (``reply_to_id``). The sweep itself is tested with Facebook
(``tests/networks/facebook/test_facebook_listen.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from publisher.adapters.base import (
    Absent,
    AdapterContext,
    DeliveryRef,
    Found,
    ItemKind,
    OwnPost,
    RateLimitedError,
    TransientError,
)
from publisher.adapters.threads import ThreadsAdapter, ThreadsSettings
from publisher.clock import FakeClock
from publisher.secrets import Secret
from publisher.testing.graph import usage_headers
from tests.networks.graph_listen import answer, read_all
from tests.networks.threads.server import ThreadsServer

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
TOKEN = "THAA-SECRET-threads-listen-5d2a"
PAGE = 25


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def server(clock: FakeClock) -> AsyncIterator[ThreadsServer]:
    async with ThreadsServer(token=TOKEN, now=clock.now, processing_polls=0) as threads:
        yield threads


@pytest.fixture
async def adapter(server: ThreadsServer, clock: FakeClock) -> AsyncIterator[ThreadsAdapter]:
    timeout = aiohttp.ClientTimeout(total=5, sock_connect=1, sock_read=3)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        settings = ThreadsSettings(
            user_id=server.user_id, token=Secret("THREADS_TOKEN", TOKEN), api_base=server.url
        )
        context = AdapterContext(session=session, clock=clock)
        yield ThreadsAdapter("brand-threads", settings, context)


async def _post(server: ThreadsServer, clock: FakeClock) -> OwnPost:
    await clock.advance(timedelta(minutes=1))
    return OwnPost(server.add_post("Nouveau !", clock.now()), clock.now())


async def _replies(server: ThreadsServer, clock: FakeClock, to: str, n: int, tag: str) -> list[str]:
    ids = []
    for i in range(n):
        await clock.advance(timedelta(seconds=20))
        ids.append(server.hear(ItemKind.REPLY, f"{tag} {i}", author=f"fan{i}", answers=to)[0])
    return ids


async def test_first_read_hears_the_newest_replies_and_mentions(
    adapter: ThreadsAdapter, server: ThreadsServer, clock: FakeClock
) -> None:
    post = await _post(server, clock)
    replies = await _replies(server, clock, post.remote_id, PAGE + 3, "r")
    await clock.advance(timedelta(seconds=20))
    mention, mention_url = server.hear(ItemKind.MENTION, "regardez ça", author="cleo")
    page = await adapter.read_inbox(None, [post])
    assert not page.more
    mentions = [h for h in page.items if h.kind is ItemKind.MENTION]
    heard_replies = [h for h in page.items if h.kind is ItemKind.REPLY]
    assert [h.remote_id for h in heard_replies] == list(reversed(replies))[:PAGE]
    (m,) = mentions
    assert (m.remote_id, m.author, m.text, m.url) == (
        mention,
        "@cleo",
        "@brand regardez ça",
        mention_url,
    )
    assert m.created_at == clock.now() and m.answers == "" and m.reply == {}
    reply = heard_replies[0]
    assert (reply.author, reply.answers) == (f"@fan{PAGE + 2}", post.remote_id)
    queries = {r.path.rsplit("/", 1)[-1]: r.query for r in server.requests}
    assert queries["mentions"] == {
        "fields": "id,text,username,permalink,timestamp,replied_to,root_post",
        "limit": "50",
    }
    assert queries["conversation"] == {
        "fields": "id,text,username,permalink,timestamp,replied_to,root_post",
        "reverse": "true",
    }


async def test_nested_replies_are_heard_and_our_own_are_not(
    adapter: ThreadsAdapter, server: ThreadsServer, clock: FakeClock
) -> None:
    post = await _post(server, clock)
    (top,) = await _replies(server, clock, post.remote_id, 1, "top")
    await clock.advance(timedelta(seconds=5))
    ours = server.add_post("Merci", clock.now(), reply_to=top)
    (deep,) = await _replies(server, clock, ours, 1, "deep")
    items = (await adapter.read_inbox(None, [post])).items
    assert [h.remote_id for h in items] == [deep, top]
    assert all(h.answers == post.remote_id for h in items)


async def test_resume_across_pages_loses_nothing(
    adapter: ThreadsAdapter, server: ThreadsServer, clock: FakeClock
) -> None:
    post = await _post(server, clock)
    first = await adapter.read_inbox(None, [post])
    new = await _replies(server, clock, post.remote_id, PAGE * 5, "n")
    mentions = []
    for i in range(PAGE + 1):
        await clock.advance(timedelta(seconds=1))
        mentions.append(server.hear(ItemKind.MENTION, f"m{i}", author="cleo")[0])
    heard, cursor, reads = await read_all(adapter, first.cursor, [post])
    assert reads > 1
    assert set(new) | set(mentions) <= {h.remote_id for h in heard}
    again = await adapter.read_inbox(cursor, [post])
    assert {h.remote_id for h in again.items} <= {new[-1], mentions[-1]}


async def test_rate_limit_and_garbage(
    adapter: ThreadsAdapter, server: ThreadsServer, clock: FakeClock
) -> None:
    post = await _post(server, clock)
    server.inject_error(
        "mentions", 4, "(#4) Application request limit reached", headers=usage_headers(3)
    )
    with pytest.raises(RateLimitedError) as caught:
        await adapter.read_inbox(None, [post])
    assert caught.value.retry_after == timedelta(minutes=3)
    server.inject_raw("conversation", 200, '{"data": null}')
    with pytest.raises(TransientError, match="without a data list"):
        await adapter.read_inbox(None, [post])


async def test_an_answer_is_a_reply_container(
    adapter: ThreadsAdapter, server: ThreadsServer, clock: FakeClock
) -> None:
    await _post(server, clock)
    server.hear(ItemKind.MENTION, "une question", author="cleo")
    (mention,) = (await adapter.read_inbox(None, [])).items
    content = answer(mention, "threads", "brand-threads", "Bonne question !")
    rendered = adapter.render(content)
    assert not rendered.errors
    assert rendered.parts[0].payload == {
        "media_type": "TEXT",
        "text": "Bonne question !",
        "reply_to_id": mention.remote_id,
    }
    ref = DeliveryRef(1, "answer-1", "brand-threads", clock.now())
    assert isinstance(await adapter.lookup(ref, rendered, clock.now() - timedelta(hours=1)), Absent)
    server.requests.clear()
    published = await adapter.publish(rendered, ref)
    assert server.replies_to(mention.remote_id) == [published.remote_id]
    # A reply has its own limit: the posts' limit is not read.
    assert not any(r.path.endswith("threads_publishing_limit") for r in server.requests)
    found = await adapter.lookup(ref, rendered, clock.now() - timedelta(hours=1))
    assert isinstance(found, Found) and found.published.remote_id == published.remote_id
