"""X's listening against the strict local X server (queries and answers checked against the
vendored OpenAPI document): the mentions timeline with replies and quotes told apart, the
first read newest page only, pages across calls with ``more`` and a resume that loses
nothing, rate limits and garbled answers, recent search for a watch's terms with its own
cursor, and an answer published as a reply to the post heard."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from publisher.adapters import x_listen
from publisher.adapters.base import (
    AdapterContext,
    DeliveryRef,
    Found,
    ItemKind,
    OwnPost,
    PermanentError,
    PostContent,
    RateLimitedError,
    ReplyTarget,
    TransientError,
)
from publisher.adapters.x import XAdapter, XSettings
from publisher.clock import FakeClock
from publisher.secrets import Secret
from tests.networks.x.server import XServer

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
MENTIONS = "/2/users/*/mentions"
SEARCH = "/2/tweets/search/recent"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def server(clock: FakeClock) -> AsyncIterator[XServer]:
    async with XServer(now=clock.now) as srv:
        yield srv
    assert srv.problems == [], srv.problems  # every answer matched the documented schema
    assert srv.rejections == [], srv.rejections  # every request was as X documents it


@pytest.fixture
async def adapter(server: XServer, clock: FakeClock) -> AsyncIterator[XAdapter]:
    timeout = aiohttp.ClientTimeout(total=5, sock_connect=1, sock_read=2)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        context = AdapterContext(session=session, clock=clock, timeout=timeout)
        creds = {
            "api_key": server.consumer_key,
            "api_secret": server.consumer_secret,
            "access_token": server.access_token,
            "access_secret": server.access_secret,
        }
        settings = XSettings(
            **{k: Secret(f"X_{k.upper()}", v) for k, v in creds.items()},
            api_base=server.url,
            user_id=server.user_id,
        )
        yield XAdapter("brand-x", settings, context)


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Five posts a page (the mentions timeline's least) and two pages a call."""
    monkeypatch.setattr(x_listen, "PAGE", 5)
    monkeypatch.setattr(x_listen, "CALL_PAGES", 2)


async def hear(server: XServer, clock: FakeClock, kind: ItemKind, text: str, **kw: str) -> str:
    await clock.advance(timedelta(seconds=10))
    post_id, _ = server.hear(kind, text, **kw)
    return post_id


def test_listening_is_declared_off_by_default() -> None:
    listening = XAdapter.listening
    assert listening is not None
    assert listening.on_by_default is False  # X bills every read
    assert listening.search and listening.reply and not listening.per_post
    assert set(listening.kinds) == {ItemKind.MENTION, ItemKind.REPLY, ItemKind.QUOTE}
    assert "pay-per-use" in listening.limits


async def test_mentions_replies_and_quotes_are_told_apart(
    server: XServer, adapter: XAdapter, clock: FakeClock
) -> None:
    ours = server.add_post("Nos soldes d'hiver commencent")
    other = server.add_post("Un autre billet")
    mention = await hear(server, clock, ItemKind.MENTION, "Fish & chips <3 chez @brand")
    reply = await hear(server, clock, ItemKind.REPLY, "Jusqu'à quand ?", answers=ours.id)
    quote = await hear(server, clock, ItemKind.QUOTE, "Regardez ça", answers=ours.id)
    elsewhere = await hear(server, clock, ItemKind.QUOTE, "Et ça", answers=other.id)
    page = await adapter.read_inbox(None, [OwnPost(ours.id, NOW)])
    assert not page.more and page.cursor is not None
    by_id = {h.remote_id: h for h in page.items}
    assert [h.remote_id for h in page.items] == [elsewhere, quote, reply, mention]
    assert by_id[mention].kind is ItemKind.MENTION and by_id[mention].answers == ""
    assert by_id[mention].text == "Fish & chips <3 chez @brand"  # X's escapes undone
    assert (by_id[reply].kind, by_id[reply].answers) == (ItemKind.REPLY, ours.id)
    assert (by_id[quote].kind, by_id[quote].answers) == (ItemKind.QUOTE, ours.id)
    assert by_id[elsewhere].kind is ItemKind.MENTION  # it quotes a post not given as ours
    heard = by_id[reply]
    assert (heard.author, heard.author_name) == ("@ana", "Ana")
    assert heard.url == f"https://x.com/ana/status/{reply}"
    assert heard.created_at.tzinfo is not None
    (request,) = server.hits("GET", MENTIONS)
    assert request.path == f"/2/users/{server.user_id}/mentions"
    assert request.query["max_results"] == "100"
    assert request.query["expansions"] == "author_id"
    assert set(request.query["tweet.fields"].split(",")) == {
        "created_at",
        "author_id",
        "conversation_id",
        "referenced_tweets",
        "in_reply_to_user_id",
    }
    assert "since_id" not in request.query


async def test_first_read_newest_page_then_pages_across_calls(
    server: XServer, adapter: XAdapter, clock: FakeClock, small_pages: None
) -> None:
    old = [await hear(server, clock, ItemKind.MENTION, f"ancien {i}") for i in range(12)]
    page = await adapter.read_inbox(None, [])
    assert [h.remote_id for h in page.items] == old[::-1][:5]  # the newest page only
    assert not page.more
    new = [await hear(server, clock, ItemKind.MENTION, f"nouveau {i}") for i in range(12)]
    page = await adapter.read_inbox(page.cursor, [])
    assert page.more  # two pages of five, two more waiting
    heard = [h.remote_id for h in page.items]
    assert heard == new[::-1][:10]
    between = await hear(server, clock, ItemKind.MENTION, "arrivé entre deux lectures")
    page = await adapter.read_inbox(page.cursor, [])
    assert not page.more
    heard += [h.remote_id for h in page.items]
    assert heard == new[::-1]  # the round finished: nothing older than its start again
    since = server.hits("GET", MENTIONS)[-1].query["since_id"]
    assert since == old[-1]
    page = await adapter.read_inbox(page.cursor, [])
    assert [h.remote_id for h in page.items] == [between]  # nothing lost, nothing again
    assert server.hits("GET", MENTIONS)[-1].query["since_id"] == new[-1]
    page = await adapter.read_inbox(page.cursor, [])
    assert page.items == ()


async def test_a_lapsed_page_token_starts_the_round_over(
    server: XServer, adapter: XAdapter, clock: FakeClock, small_pages: None
) -> None:
    first = await adapter.read_inbox(None, [])
    said = [await hear(server, clock, ItemKind.MENTION, f"mention {i}") for i in range(3)]
    lapsed = '{"since":"1","token":"b26v89c19zqg8o3foLAPSED","top":"2"}'
    assert first.cursor == "{}"
    page = await adapter.read_inbox(lapsed, [])
    assert [h.remote_id for h in page.items] == said[::-1] and not page.more
    refused, again = server.hits("GET", MENTIONS)[-2:]
    assert refused.status == 400 and "pagination_token" not in again.query
    assert len(server.rejections) == 1
    server.rejections.clear()


async def test_a_rate_limit_says_when_it_lifts(server: XServer, adapter: XAdapter) -> None:
    reset = NOW + timedelta(minutes=12)
    server.fail(
        "GET",
        MENTIONS,
        status=429,
        headers={"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(int(reset.timestamp()))},
    )
    with pytest.raises(RateLimitedError) as caught:
        await adapter.read_inbox(None, [])
    assert caught.value.reset_at == reset
    assert server.access_secret not in str(caught.value)


async def test_garbled_answers_are_clear_errors(server: XServer, adapter: XAdapter) -> None:
    server.fail("GET", MENTIONS, status=200, raw=("text/html", "<html>maintenance</html>"))
    with pytest.raises(TransientError, match="not JSON"):
        await adapter.read_inbox(None, [])
    server.fail("GET", MENTIONS, status=200, body={"unexpected": [1, 2, 3]})
    with pytest.raises(TransientError, match="without its meta"):
        await adapter.read_inbox(None, [])
    server.fail("GET", MENTIONS, status=200, body={"data": {"id": "1"}, "meta": {}})
    with pytest.raises(TransientError, match="not a list of posts"):
        await adapter.read_inbox(None, [])
    server.fail("GET", MENTIONS, status=200, body={"data": [{"id": "12", "text": "x"}], "meta": {}})
    with pytest.raises(TransientError, match="without a created_at"):
        await adapter.read_inbox(None, [])
    with pytest.raises(PermanentError, match="cursor is unreadable"):
        await adapter.read_inbox('{"since": 12}', [])


async def test_search_finds_a_watchs_terms_and_resumes(
    server: XServer, adapter: XAdapter, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(x_listen, "PAGE", 10)  # recent search's least
    monkeypatch.setattr(x_listen, "CALL_PAGES", 2)
    hits = [await hear(server, clock, ItemKind.FOUND, f"publisher n°{i}") for i in range(12)]
    tagged = await hear(server, clock, ItemKind.FOUND, "Le #launch est fait")
    await hear(server, clock, ItemKind.FOUND, "rien à voir")
    page = await adapter.search(["publisher", "#launch"], None)
    assert [h.remote_id for h in page.items] == [tagged, *hits[::-1]][:10]
    assert {h.kind for h in page.items} == {ItemKind.FOUND}
    assert all(h.answers == "" for h in page.items)
    (request,) = server.hits("GET", SEARCH)
    assert request.query["query"] == "(publisher OR #launch) -is:retweet"
    later = await hear(server, clock, ItemKind.FOUND, "encore publisher")
    again = await adapter.search(["publisher", "#launch"], page.cursor)
    assert [h.remote_id for h in again.items] == [later]
    assert server.hits("GET", SEARCH)[-1].query["since_id"] == tagged
    many = [await hear(server, clock, ItemKind.FOUND, f"#launch {i}") for i in range(25)]
    paged = await adapter.search(["publisher", "#launch"], again.cursor)
    assert paged.more and "next_token" in server.hits("GET", SEARCH)[-1].query
    rest = await adapter.search(["publisher", "#launch"], paged.cursor)
    assert not rest.more
    assert [h.remote_id for h in (*paged.items, *rest.items)] == many[::-1]
    # other terms: another search, from its newest page
    other = await adapter.search(['"fait maison"', "publisher"], rest.cursor)
    assert [h.remote_id for h in other.items] == [later, *hits[::-1]][:10]
    assert (
        server.hits("GET", SEARCH)[-1].query["query"] == '("fait maison" OR publisher) -is:retweet'
    )
    assert "since_id" not in server.hits("GET", SEARCH)[-1].query


async def test_a_search_query_too_long_is_refused_before_any_read(
    server: XServer, adapter: XAdapter
) -> None:
    with pytest.raises(PermanentError, match="512"):
        await adapter.search([f"terme{i:03d}" for i in range(60)], None)
    with pytest.raises(PermanentError, match="at least one term"):
        await adapter.search(["  "], None)
    assert server.hits("GET", SEARCH) == []


async def test_an_answer_replies_to_the_post_heard(
    server: XServer, adapter: XAdapter, clock: FakeClock
) -> None:
    post_id = await hear(server, clock, ItemKind.MENTION, "Vous livrez à Lyon ?")
    (heard,) = (await adapter.read_inbox(None, [])).items
    target = ReplyTarget(heard.url, "x", heard.remote_id, dict(heard.reply), item=3)
    content = PostContent("reponse-lyon", "brand-x", "x", "Oui, dès lundi !", reply_to=target)
    rendered = adapter.render(content)
    assert not rendered.errors
    assert dict(rendered.parts[0].payload) == {
        "text": "Oui, dès lundi !",
        "reply": {"in_reply_to_tweet_id": post_id},
    }
    ref = DeliveryRef(7, "reponse-lyon", "brand-x", clock.now())
    published = await adapter.publish(rendered, ref)
    (part,) = published.parts
    assert server.replies_to(post_id) == [part.remote_id]
    assert server.created[-1].body == {
        "text": "Oui, dès lundi !",
        "reply": {"in_reply_to_tweet_id": post_id},
    }
    found = await adapter.lookup(ref, rendered, clock.now())
    assert isinstance(found, Found)
    assert found.published.parts[0].remote_id == part.remote_id
