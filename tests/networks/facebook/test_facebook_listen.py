"""Facebook listening (issue 20) against the strict local Graph server: the comments on the
page's recent posts, read newest first down to the cursor's mark, and answers as comments.

These tests also cover the sweep shared by the Graph networks
(``publisher.adapters.graph_listen``): first read, budget, resumption, nothing lost."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from publisher.adapters.base import (
    Absent,
    AdapterContext,
    DeliveryRef,
    Found,
    ItemKind,
    MediaItem,
    OwnPost,
    RateLimitedError,
    TransientError,
)
from publisher.adapters.facebook import FacebookAdapter, FacebookSettings
from publisher.adapters.graph_listen import ANSWER_ON, PAGES_PER_READ
from publisher.clock import FakeClock
from publisher.media import MediaRef
from publisher.secrets import Secret
from tests.networks.facebook.server import GraphServer, RecordedComment, usage_headers
from tests.networks.graph_listen import answer, cursor_lists, read_all

PAGE_ID = "1234567890"
TOKEN = "EAAG-SECRET-page-token-listen-77aa"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PAGE = 25  # the server's page size: the adapter asks for 50, Graph gives what it gives


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def server(clock: FakeClock) -> AsyncIterator[GraphServer]:
    async with GraphServer(page_id=PAGE_ID, token=TOKEN, now=clock.now) as graph:
        yield graph


@pytest.fixture
async def adapter(server: GraphServer, clock: FakeClock) -> AsyncIterator[FacebookAdapter]:
    timeout = aiohttp.ClientTimeout(total=5, sock_connect=1, sock_read=3)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        settings = FacebookSettings(
            page_id=PAGE_ID, page_token=Secret("FB_PAGE_TOKEN", TOKEN), api_base=server.url
        )
        yield FacebookAdapter("brand-fb", settings, AdapterContext(session=session, clock=clock))


async def _comments(
    server: GraphServer, clock: FakeClock, post: str, n: int, tag: str
) -> list[str]:
    ids = []
    for i in range(n):
        await clock.advance(timedelta(seconds=30))
        ids.append(server.hear(ItemKind.COMMENT, f"{tag} {i}", author=f"fan{i}", answers=post)[0])
    return ids


async def _post(server: GraphServer, clock: FakeClock) -> OwnPost:
    await clock.advance(timedelta(minutes=1))
    post_id = server.add_post("Our launch", clock.now())
    return OwnPost(post_id, clock.now())


async def test_first_read_is_the_newest_page_only(
    adapter: FacebookAdapter, server: GraphServer, clock: FakeClock
) -> None:
    post = await _post(server, clock)
    ids = await _comments(server, clock, post.remote_id, PAGE + 10, "old")
    page = await adapter.read_inbox(None, [post])
    assert [h.remote_id for h in page.items] == list(reversed(ids))[:PAGE]
    assert not page.more
    request = next(r for r in server.requests if r.path.endswith("/comments"))
    assert request.query == {
        "fields": "id,message,from,created_time,permalink_url,parent",
        "filter": "stream",
        "order": "reverse_chronological",
        "limit": "50",
    }
    assert request.token_via == "header"


async def test_a_comment_is_mapped(
    adapter: FacebookAdapter, server: GraphServer, clock: FakeClock
) -> None:
    post = await _post(server, clock)
    await clock.advance(timedelta(seconds=5))
    remote_id, url = server.hear(
        ItemKind.COMMENT, "Superbe !", author="Ana Lima", answers=post.remote_id
    )
    (heard,) = (await adapter.read_inbox(None, [post])).items
    assert heard.remote_id == remote_id
    assert heard.kind is ItemKind.COMMENT
    assert (heard.author, heard.author_name) == ("Ana Lima", "Ana Lima")
    assert heard.text == "Superbe !"
    assert heard.url == url
    assert heard.created_at == clock.now()
    assert heard.answers == post.remote_id
    assert heard.reply == {}


async def test_resume_reads_new_comments_across_pages_and_loses_none(
    adapter: FacebookAdapter, server: GraphServer, clock: FakeClock
) -> None:
    post = await _post(server, clock)
    await _comments(server, clock, post.remote_id, 3, "before")
    first = await adapter.read_inbox(None, [post])
    many = PAGE * (PAGES_PER_READ + 2)
    new = await _comments(server, clock, post.remote_id, many, "new")
    page = await adapter.read_inbox(first.cursor, [post])
    assert page.more  # the budget ran out: the sweep goes on at the next read
    assert len(page.items) == PAGE * PAGES_PER_READ
    # Comments arriving between two reads of one sweep: heard by the next sweep.
    late = await _comments(server, clock, post.remote_id, 4, "late")
    rest, cursor, _ = await read_all(adapter, page.cursor, [post])
    again, cursor, _ = await read_all(adapter, cursor, [post])
    heard = {h.remote_id for h in (*page.items, *rest, *again)}
    assert set(new) | set(late) <= heard
    quiet = await adapter.read_inbox(cursor, [post])
    assert cursor is not None and quiet.cursor is not None
    # Only the comments at the mark's second may come again; nothing older.
    assert {h.text for h in quiet.items} <= {"late 3"}


async def test_replies_and_the_pages_own_comments(
    adapter: FacebookAdapter, server: GraphServer, clock: FakeClock
) -> None:
    post = await _post(server, clock)
    (top,) = await _comments(server, clock, post.remote_id, 1, "question")
    await clock.advance(timedelta(seconds=10))
    reply = server.add_reply(top, "me too", author="bo")
    await clock.advance(timedelta(seconds=10))
    own = RecordedComment(f"{post.remote_id}_77", post.remote_id, "thanks", PAGE_ID, clock.now())
    server.comments.append(own)
    heard = (await adapter.read_inbox(None, [post])).items
    assert [h.remote_id for h in heard] == [reply, top]  # the page's own is not heard
    assert heard[0].reply == {ANSWER_ON: top}
    assert heard[0].answers == post.remote_id


async def test_a_post_first_seen_later_is_read_from_its_publication(
    adapter: FacebookAdapter, server: GraphServer, clock: FakeClock
) -> None:
    old = await _post(server, clock)
    first = await adapter.read_inbox(None, [old])
    new_post = await _post(server, clock)
    ids = await _comments(server, clock, new_post.remote_id, PAGE * 2 + 3, "c")
    heard, cursor, _ = await read_all(adapter, first.cursor, [new_post, old])
    assert set(ids) <= {h.remote_id for h in heard}
    # A post no longer among the recent ones is forgotten.
    page = await adapter.read_inbox(cursor, [new_post])
    assert cursor_lists(page.cursor) == {new_post.remote_id}


async def test_many_posts_take_several_reads_each_within_the_budget(
    adapter: FacebookAdapter, server: GraphServer, clock: FakeClock
) -> None:
    posts = [await _post(server, clock) for _ in range(PAGES_PER_READ * 2 + 1)]
    page = await adapter.read_inbox(None, posts)
    assert page.more
    server.requests.clear()
    _, _, reads = await read_all(adapter, page.cursor, posts)
    assert reads == 2  # the rest of the first round
    assert len(server.requests) == PAGES_PER_READ + 1


async def test_rate_limit_reads_the_wait(
    adapter: FacebookAdapter, server: GraphServer, clock: FakeClock
) -> None:
    post = await _post(server, clock)
    server.inject_error(
        "comments", 32, "(#32) Page request limit reached", headers=usage_headers(7)
    )
    with pytest.raises(RateLimitedError) as caught:
        await adapter.read_inbox(None, [post])
    assert caught.value.retry_after == timedelta(minutes=7)


async def test_garbage_is_a_clear_error(
    adapter: FacebookAdapter, server: GraphServer, clock: FakeClock
) -> None:
    post = await _post(server, clock)
    server.inject_raw("comments", 200, '{"comments": []}')
    with pytest.raises(TransientError, match="without a data list"):
        await adapter.read_inbox(None, [post])
    server.inject_raw("comments", 200, "<html>oops</html>", content_type="text/html")
    with pytest.raises(TransientError, match="unexpected answer"):
        await adapter.read_inbox(None, [post])


async def test_a_damaged_cursor_starts_over_from_each_posts_publication(
    adapter: FacebookAdapter, server: GraphServer, clock: FakeClock
) -> None:
    post = await _post(server, clock)
    ids = await _comments(server, clock, post.remote_id, PAGE + 2, "c")
    heard, _, _ = await read_all(adapter, "not json", [post])
    assert {h.remote_id for h in heard} == set(ids)


async def test_an_answer_is_a_comment_in_the_items_thread(
    adapter: FacebookAdapter, server: GraphServer, clock: FakeClock
) -> None:
    post = await _post(server, clock)
    (top,) = await _comments(server, clock, post.remote_id, 1, "question")
    await clock.advance(timedelta(seconds=10))
    server.add_reply(top, "and the price?", author="bo")
    items = (await adapter.read_inbox(None, [post])).items
    reply, comment = items
    rendered = adapter.render(answer(comment, "facebook", "brand-fb", "Merci !"))
    assert not rendered.errors
    assert rendered.parts[0].payload == {"message": "Merci !", ANSWER_ON: comment.remote_id}
    ref = DeliveryRef(1, "answer-1", "brand-fb", clock.now())
    assert isinstance(await adapter.lookup(ref, rendered, clock.now()), Absent)
    published = await adapter.publish(rendered, ref)
    assert server.replies_to(comment.remote_id) == [published.remote_id]
    posted = [r for r in server.requests if r.method == "POST"]
    assert [r.path for r in posted] == [f"/v23.0/{comment.remote_id}/comments"]
    found = await adapter.lookup(ref, rendered, clock.now())
    assert isinstance(found, Found) and found.published.remote_id == published.remote_id
    # An answer to a reply goes in the thread of the comment it replies to.
    rendered = adapter.render(answer(reply, "facebook", "brand-fb", "35 €"))
    assert rendered.parts[0].payload[ANSWER_ON] == comment.remote_id


async def test_an_answer_is_text_only(
    adapter: FacebookAdapter, server: GraphServer, clock: FakeClock, tmp_path: Path
) -> None:
    post = await _post(server, clock)
    await _comments(server, clock, post.remote_id, 1, "question")
    (comment,) = (await adapter.read_inbox(None, [post])).items
    photo = MediaItem(MediaRef.beside(tmp_path / "a.jpg"), "", "image/jpeg", 100)
    content = answer(comment, "facebook", "brand-fb", "Voilà", media=(photo,), first_comment="PS")
    errors = adapter.render(content).errors
    assert any("text only" in e for e in errors)
    assert any("first_comment" in e for e in errors)
    long = answer(comment, "facebook", "brand-fb", "a" * 8_001)
    assert adapter.render(long).errors == (
        "an answer is a comment: 8001 characters, Facebook takes at most 8000",
    )


async def test_a_deleted_post_and_our_own_answers_do_not_stop_the_others(
    adapter: FacebookAdapter, server: GraphServer, clock: FakeClock
) -> None:
    gone = OwnPost(f"{PAGE_ID}_404", NOW)
    post = await _post(server, clock)
    (comment,) = await _comments(server, clock, post.remote_id, 1, "question")
    page = await adapter.read_inbox(None, [gone, post])
    assert [h.remote_id for h in page.items] == [comment]
    assert json.loads(page.cursor or "")["lists"][gone.remote_id]["gone"] is True
    server.requests.clear()
    await adapter.read_inbox(page.cursor, [gone, post])
    assert not any(gone.remote_id in r.path for r in server.requests)  # read no more
