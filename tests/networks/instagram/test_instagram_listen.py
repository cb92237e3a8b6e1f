"""Instagram listening (issue 20) against the strict local Instagram Graph API: the comments
on the account's recent media with their replies, newest first down to the cursor's mark,
and answers as replies to a comment (``POST /{ig-comment-id}/replies``). The sweep itself is
tested with Facebook (``tests/networks/facebook/test_facebook_listen.py``)."""

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
from publisher.adapters.graph_listen import ANSWER_ON
from publisher.adapters.instagram import InstagramAdapter, InstagramSettings
from publisher.clock import FakeClock
from publisher.secrets import Secret
from publisher.testing.graph import usage_headers
from tests.networks.graph_listen import answer, read_all
from tests.networks.instagram.server import InstagramServer

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
TOKEN = "EAAG-SECRET-ig-listen-token-3e1c"
PAGE = 25


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def server(clock: FakeClock) -> AsyncIterator[InstagramServer]:
    async with InstagramServer(token=TOKEN, now=clock.now) as ig:
        yield ig


@pytest.fixture
async def adapter(server: InstagramServer, clock: FakeClock) -> AsyncIterator[InstagramAdapter]:
    timeout = aiohttp.ClientTimeout(total=5, sock_connect=1, sock_read=3)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        settings = InstagramSettings(
            user_id=server.user_id, token=Secret("IG_TOKEN", TOKEN), api_base=server.url
        )
        context = AdapterContext(session=session, clock=clock)
        yield InstagramAdapter("brand-ig", settings, context)


async def _media(server: InstagramServer, clock: FakeClock) -> OwnPost:
    await clock.advance(timedelta(minutes=1))
    return OwnPost(server.add_post("Automne", clock.now()), clock.now())


async def _comments(
    server: InstagramServer, clock: FakeClock, media: str, n: int, tag: str
) -> list[str]:
    ids = []
    for i in range(n):
        await clock.advance(timedelta(seconds=20))
        ids.append(server.hear(ItemKind.COMMENT, f"{tag} {i}", author=f"fan{i}", answers=media)[0])
    return ids


async def test_first_read_is_the_newest_page_of_comments(
    adapter: InstagramAdapter, server: InstagramServer, clock: FakeClock
) -> None:
    media = await _media(server, clock)
    ids = await _comments(server, clock, media.remote_id, PAGE + 5, "c")
    page = await adapter.read_inbox(None, [media])
    assert [h.remote_id for h in page.items] == list(reversed(ids))[:PAGE]
    assert not page.more
    request = next(r for r in server.requests if r.path.endswith("/comments"))
    assert request.query == {
        "fields": "id,text,username,timestamp,replies{id,text,username,timestamp}",
        "limit": "50",
    }


async def test_comments_and_their_replies_are_mapped_but_not_our_own(
    adapter: InstagramAdapter, server: InstagramServer, clock: FakeClock
) -> None:
    media = await _media(server, clock)
    await clock.advance(timedelta(seconds=5))
    comment, url = server.hear(
        ItemKind.COMMENT, "J'adore 🍂", author="ana", answers=media.remote_id
    )
    when = clock.now()
    await clock.advance(timedelta(seconds=5))
    reply = server.add_comment(media.remote_id, "moi aussi", "bo", parent=comment)
    server.add_comment(media.remote_id, "Merci !", server.username, parent=comment)
    server.add_comment(media.remote_id, "Lien en bio", server.username)
    items = (await adapter.read_inbox(None, [media])).items
    assert [h.remote_id for h in items] == [comment, reply]
    first, second = items
    assert (first.kind, first.author, first.text, first.url) == (
        ItemKind.COMMENT,
        "@ana",
        "J'adore 🍂",
        url,
    )
    assert first.created_at == when and first.answers == media.remote_id
    assert first.reply == {}
    assert second.reply == {ANSWER_ON: comment}  # answered on its comment: one level only


async def test_resume_reads_every_new_comment_across_pages(
    adapter: InstagramAdapter, server: InstagramServer, clock: FakeClock
) -> None:
    media = await _media(server, clock)
    first = await adapter.read_inbox(None, [media])
    new = await _comments(server, clock, media.remote_id, PAGE * 3 + 2, "n")
    heard, cursor, _ = await read_all(adapter, first.cursor, [media])
    assert set(new) <= {h.remote_id for h in heard}
    again = await adapter.read_inbox(cursor, [media])
    assert {h.remote_id for h in again.items} <= {new[-1]}  # the mark's second only


async def test_rate_limit_and_garbage(
    adapter: InstagramAdapter, server: InstagramServer, clock: FakeClock
) -> None:
    media = await _media(server, clock)
    server.inject_error(
        "comments", 4, "(#4) Application request limit reached", headers=usage_headers(12)
    )
    with pytest.raises(RateLimitedError) as caught:
        await adapter.read_inbox(None, [media])
    assert caught.value.retry_after == timedelta(minutes=12)
    server.inject_raw("comments", 200, '{"data": {"oops": 1}}')
    with pytest.raises(TransientError, match="without a data list"):
        await adapter.read_inbox(None, [media])


async def test_an_answer_is_a_reply_to_the_comment(
    adapter: InstagramAdapter, server: InstagramServer, clock: FakeClock
) -> None:
    media = await _media(server, clock)
    (comment_id,) = await _comments(server, clock, media.remote_id, 1, "question")
    server.add_comment(media.remote_id, "+1", "bo", parent=comment_id)
    comment, reply = (await adapter.read_inbox(None, [media])).items
    content = answer(reply, "instagram", "brand-ig", "Bientôt !")
    rendered = adapter.render(content)  # no media needed: an answer is a comment
    assert not rendered.errors
    assert rendered.parts[0].payload == {"message": "Bientôt !", ANSWER_ON: comment.remote_id}
    ref = DeliveryRef(1, "answer-1", "brand-ig", clock.now())
    assert isinstance(await adapter.lookup(ref, rendered, clock.now()), Absent)
    published = await adapter.publish(rendered, ref)
    assert server.replies_to(comment.remote_id) == [published.remote_id]
    posts = [r.path for r in server.requests if r.method == "POST"]
    assert posts == [f"/v23.0/{comment.remote_id}/replies"]  # no container, no quota read
    found = await adapter.lookup(ref, rendered, clock.now())
    assert isinstance(found, Found) and found.published.remote_id == published.remote_id


async def test_our_answers_among_own_posts_are_passed_over(
    adapter: InstagramAdapter, server: InstagramServer, clock: FakeClock
) -> None:
    media = await _media(server, clock)
    (comment_id,) = await _comments(server, clock, media.remote_id, 1, "question")
    ours = server.add_comment(media.remote_id, "Merci", server.username, parent=comment_id)
    # The engine's own posts include the answers: an IG reply has no comments edge.
    items = (await adapter.read_inbox(None, [OwnPost(ours, clock.now()), media])).items
    assert [h.remote_id for h in items] == [comment_id]


async def test_a_new_reply_to_an_older_comment_on_the_page_read_is_heard(
    adapter: InstagramAdapter, server: InstagramServer, clock: FakeClock
) -> None:
    media = await _media(server, clock)
    (old,) = await _comments(server, clock, media.remote_id, 1, "old")
    first = await adapter.read_inbox(None, [media])
    await clock.advance(timedelta(minutes=30))
    late = server.add_comment(media.remote_id, "late reply", "bo", parent=old)
    page = await adapter.read_inbox(first.cursor, [media])
    # The old comment is at the mark's second: it may come again, the store keeps it once.
    assert [h.remote_id for h in page.items if h.remote_id != old] == [late]
