"""LinkedIn's listening against the strict local LinkedIn server: the comments on our posts
read post by post (first round the newest only, pages and posts across calls with ``more``,
resumed from the cursor with nothing lost), the account's own comments left out, a post gone,
rate limits and garbled answers, and an answer published as a comment on the comment heard
(``parentComment``), found again by lookup."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import aiohttp
import pytest
from yarl import URL

from publisher.adapters import linkedin_listen
from publisher.adapters.base import (
    Absent,
    AdapterContext,
    DeliveryRef,
    Found,
    Heard,
    ItemKind,
    LinkCard,
    OwnPost,
    PermanentError,
    PostContent,
    RateLimitedError,
    ReplyTarget,
    Subject,
    TransientError,
)
from publisher.adapters.linkedin import LinkedInAdapter, LinkedInSettings
from publisher.clock import FakeClock
from publisher.secrets import Secret
from tests.networks.linkedin.server import LinkedInServer, error_body

ORG = "urn:li:organization:5515715"
TOKEN = "AQV-SECRET-linkedin-token-7a11c3"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
COMMENTS = "/rest/socialActions/"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def server(clock: FakeClock) -> AsyncIterator[LinkedInServer]:
    async with LinkedInServer(author=ORG, token=TOKEN, now=clock.now) as li:
        yield li


@pytest.fixture
async def adapter(server: LinkedInServer, clock: FakeClock) -> AsyncIterator[LinkedInAdapter]:
    timeout = aiohttp.ClientTimeout(total=5, sock_connect=1, sock_read=3)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        settings = LinkedInSettings(
            author=ORG, token=Secret("LINKEDIN_TOKEN", TOKEN), api_base=server.url
        )
        yield LinkedInAdapter("brand-li", settings, AdapterContext(session=session, clock=clock))


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two comments a page and three pages a call, so that paging shows with few comments."""
    monkeypatch.setattr(linkedin_listen, "COUNT", 2)
    monkeypatch.setattr(linkedin_listen, "CALL_PAGES", 3)


async def own(server: LinkedInServer, text: str, clock: FakeClock) -> OwnPost:
    post = server.add_post(text)
    await clock.advance(timedelta(minutes=1))
    return OwnPost(post.urn, post.created_at)


async def say(server: LinkedInServer, clock: FakeClock, post: OwnPost, text: str) -> str:
    await clock.advance(timedelta(seconds=30))
    urn, _ = server.hear(ItemKind.COMMENT, text, author="ana", answers=post.remote_id)
    return urn


def test_listening_is_declared() -> None:
    listening = LinkedInAdapter.listening
    assert listening is not None
    assert listening.kinds == (ItemKind.COMMENT,)
    assert listening.per_post and listening.reply and listening.on_by_default
    assert not listening.search
    assert "comment" in listening.limits


async def test_comments_are_heard_as_the_network_gave_them(
    server: LinkedInServer, adapter: LinkedInAdapter, clock: FakeClock
) -> None:
    post = await own(server, "Nos soldes d'hiver", clock)
    urn = await say(server, clock, post, "Jusqu'à quand ? <b>merci</b>")
    page = await adapter.read_inbox(None, [post])
    assert not page.more and page.cursor is not None
    (heard,) = page.items
    assert heard.remote_id == urn
    assert heard.kind is ItemKind.COMMENT
    assert heard.author == "urn:li:person:ana"
    assert heard.text == "Jusqu'à quand ? <b>merci</b>"  # plain text, as LinkedIn keeps it
    assert heard.created_at == clock.now() and heard.created_at.tzinfo is not None
    assert heard.answers == post.remote_id
    assert heard.reply == {"object": post.remote_id}
    assert heard.url.startswith(f"https://www.linkedin.com/feed/update/{post.remote_id}/")
    assert "commentUrn=urn%3Ali%3Acomment%3A%28" in heard.url
    (request,) = server.requests_to("GET", COMMENTS)
    assert request.raw_path.endswith("/comments?start=0&count=100")
    assert request.headers["LinkedIn-Version"] == adapter._settings.version


async def test_first_round_reports_the_newest_only(
    server: LinkedInServer, adapter: LinkedInAdapter, clock: FakeClock, small_pages: None
) -> None:
    post = await own(server, "Un billet", clock)
    said = [await say(server, clock, post, f"commentaire {i}") for i in range(5)]
    page = await adapter.read_inbox(None, [post])
    assert [h.remote_id for h in page.items] == [said[4], said[3]]  # COUNT newest, not all
    assert not page.more
    again = await adapter.read_inbox(page.cursor, [post])
    assert again.items == ()


async def test_pages_and_posts_across_calls_then_resume(
    server: LinkedInServer, adapter: LinkedInAdapter, clock: FakeClock, small_pages: None
) -> None:
    posts = [await own(server, f"billet {i}", clock) for i in range(3)]
    page = await adapter.read_inbox(None, posts)  # nothing yet: the first round ends
    assert page.items == () and not page.more
    said = {
        await say(server, clock, p, f"sur {p.remote_id} n°{i}") for p in posts for i in range(3)
    }
    heard: set[str] = set()
    cursor, calls = page.cursor, 0
    while True:
        calls += 1
        page = await adapter.read_inbox(cursor, posts)
        heard |= {h.remote_id for h in page.items}
        cursor = page.cursor
        if calls == 1:  # two pages a post, three pages a call: the round goes on
            assert page.more
            # a comment arriving between two calls is not lost
            said.add(await say(server, clock, posts[0], "arrivé entre deux pages"))
        if not page.more:
            break
        assert calls < 10
    assert said <= heard
    assert calls >= 2
    later = await say(server, clock, posts[1], "plus tard")
    page = await adapter.read_inbox(cursor, posts)
    rest = await adapter.read_inbox(page.cursor, posts) if page.more else page
    assert {h.remote_id for h in (*page.items, *rest.items)} - said == {later}


async def test_comments_of_the_same_millisecond_are_not_lost(
    server: LinkedInServer, adapter: LinkedInAdapter, clock: FakeClock
) -> None:
    post = await own(server, "billet", clock)
    first = await say(server, clock, post, "un")
    page = await adapter.read_inbox(None, [post])
    assert [h.remote_id for h in page.items] == [first]
    twin, _ = server.hear(ItemKind.COMMENT, "deux", answers=post.remote_id)  # same time
    page = await adapter.read_inbox(page.cursor, [post])
    assert [h.remote_id for h in page.items] == [twin]
    page = await adapter.read_inbox(page.cursor, [post])
    assert page.items == ()


async def test_our_own_comments_and_a_post_gone_are_left_out(
    server: LinkedInServer, adapter: LinkedInAdapter, clock: FakeClock
) -> None:
    post = await own(server, "billet", clock)
    server.hear(ItemKind.COMMENT, "notre propre mot", author=ORG, answers=post.remote_id)
    gone = OwnPost("urn:li:share:7300000000000009999", NOW)
    page = await adapter.read_inbox(None, [post, gone])
    assert page.items == () and not page.more


async def test_a_rate_limit_says_when_it_lifts(
    server: LinkedInServer, adapter: LinkedInAdapter, clock: FakeClock
) -> None:
    post = await own(server, "billet", clock)
    body = error_body(429, "Resource level throttle APPLICATION DAY limit", "TOO_MANY_REQUESTS")
    server.inject("comments", 429, body, headers={"Retry-After": "120"})
    with pytest.raises(RateLimitedError) as caught:
        await adapter.read_inbox(None, [post])
    assert (caught.value.reset_at or clock.now() + caught.value.retry_after) == (
        clock.now() + timedelta(seconds=120)
    )
    assert TOKEN not in str(caught.value)


async def test_garbled_answers_are_clear_errors(
    server: LinkedInServer, adapter: LinkedInAdapter, clock: FakeClock
) -> None:
    post = await own(server, "billet", clock)
    server.inject("comments", 200, "<html>maintenance</html>")
    with pytest.raises(TransientError, match="not JSON"):
        await adapter.read_inbox(None, [post])
    server.inject("comments", 200, {"paging": {"start": 0}})
    with pytest.raises(TransientError, match="without an elements list"):
        await adapter.read_inbox(None, [post])
    server.inject("comments", 200, {"elements": [{"actor": "urn:li:person:x"}]})
    with pytest.raises(TransientError, match=r"without its URN or created\.time"):
        await adapter.read_inbox(None, [post])
    with pytest.raises(PermanentError, match="cursor is unreadable"):
        await adapter.read_inbox("{not json", [post])


def answer(heard: Heard, text: str = "Jusqu'au 31 janvier !") -> PostContent:
    target = ReplyTarget(heard.url, "linkedin", heard.remote_id, dict(heard.reply), item=7)
    return PostContent("reponse-soldes", "brand-li", "linkedin", text, reply_to=target)


async def test_an_answer_is_a_comment_on_the_comment_heard(
    server: LinkedInServer, adapter: LinkedInAdapter, clock: FakeClock
) -> None:
    post = await own(server, "Nos soldes", clock)
    await say(server, clock, post, "Jusqu'à quand ?")
    (heard,) = (await adapter.read_inbox(None, [post])).items
    content = answer(heard)
    rendered = adapter.render(content)
    assert not rendered.errors
    assert dict(rendered.parts[0].payload) == {
        "actor": ORG,
        "object": post.remote_id,
        "message": {"text": "Jusqu'au 31 janvier !"},
        "parentComment": heard.remote_id,
    }
    ref = DeliveryRef(42, "reponse-soldes", "brand-li", clock.now())
    assert isinstance(await adapter.lookup(ref, rendered, clock.now()), Absent)
    published = await adapter.publish(rendered, ref)
    (part,) = published.parts
    assert server.replies_to(heard.remote_id) == [part.remote_id]
    assert part.url.startswith(f"https://www.linkedin.com/feed/update/{post.remote_id}/")
    assert server.posts[-1].urn == post.remote_id  # no new post: a comment
    found = await adapter.lookup(ref, rendered, clock.now())
    assert isinstance(found, Found)
    assert found.published.parts[0].remote_id == part.remote_id
    # our answer is not heard back as someone's comment
    assert (await adapter.read_inbox(None, [post])).items == (heard,)


async def test_an_answer_takes_no_images_and_a_comments_length(
    server: LinkedInServer, adapter: LinkedInAdapter, clock: FakeClock
) -> None:
    post = await own(server, "Nos soldes", clock)
    await say(server, clock, post, "?")
    (heard,) = (await adapter.read_inbox(None, [post])).items
    rendered = adapter.render(answer(heard, "x" * 1_251))
    (error,) = rendered.errors
    assert "1,250" in error
    assert [p.subject for p in rendered.problems if p.message == error] == [Subject.TEXT]
    assert not adapter.render(answer(heard, "x" * 1_250)).errors
    card = replace(answer(heard), link=LinkCard("https://example.com/soldes", "Soldes"))
    (error,) = adapter.render(card).errors
    assert "neither images nor a link card" in error


async def test_the_server_holds_comments_to_the_documented_form(
    server: LinkedInServer, clock: FakeClock
) -> None:
    """The strict server's refusals, which the tests above rely on to catch a wrong body."""
    post = await own(server, "billet", clock)
    comment = await say(server, clock, post, "?")
    headers = {
        "Authorization": f"Bearer {TOKEN}",
        "LinkedIn-Version": "202607",
        "X-Restli-Protocol-Version": "2.0.0",
    }

    def path(urn: str, query: str = "") -> URL:
        url = f"{server.url}/rest/socialActions/{quote(urn, safe='')}/comments{query}"
        return URL(url, encoded=True)

    body = {"actor": ORG, "object": post.remote_id, "message": {"text": "Merci !"}}
    async with aiohttp.ClientSession(headers=headers) as http:
        # a comment on a comment is made on the comment's path, naming it
        async with http.post(path(post.remote_id), json={**body, "parentComment": comment}) as r:
            assert r.status == 422
        async with http.post(path(comment), json=body) as r:
            assert r.status == 422
        async with http.post(path(comment), json={**body, "parentComment": comment}) as r:
            assert r.status == 201
            reply = (await r.json())["$URN"]
        # one level deep
        async with http.post(path(reply), json={**body, "parentComment": reply}) as r:
            assert r.status == 422
        async with http.get(path(post.remote_id, "?start=0&count=10&sortOrder=ASC")) as r:
            assert r.status == 400
        async with http.get(path(comment, "?start=0&count=10")) as r:
            assert [e["$URN"] for e in (await r.json())["elements"]] == [reply]
    assert server.replies_to(comment) == [reply]
