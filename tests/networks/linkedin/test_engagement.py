"""LinkedIn's engagement reads against the strict local LinkedIn server: an organization's
share statistics mapped, 20 posts a call (shares and ugcPosts), a deleted post gone, a post
without statistics unavailable, a member's posts unavailable (never zero), rate limits, the
follower count (networkSizes), and no token in any error."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import aiohttp
import pytest

from publisher.adapters.base import AdapterContext, Attention, PermanentError, RateLimitedError
from publisher.adapters.engagement import PostGone, PostNumbers
from publisher.adapters.linkedin import LinkedInAdapter, LinkedInSettings
from publisher.clock import FakeClock
from publisher.secrets import Secret
from publisher.testing import leaks
from tests.networks.linkedin.server import LinkedInServer, error_body

ORG = "urn:li:organization:5515715"
MEMBER = "urn:li:person:yrZCpj2Z12"
TOKEN = "AQV-SECRET-linkedin-token-51c0de"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
FIGURES = ("likes", "reposts", "replies", "impressions", "clicks")
STATS = "/rest/organizationalEntityShareStatistics"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def server(clock: FakeClock) -> AsyncIterator[LinkedInServer]:
    async with LinkedInServer(author=ORG, token=TOKEN, now=clock.now) as li:
        yield li


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    timeout = aiohttp.ClientTimeout(total=5, sock_connect=1, sock_read=3)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        yield http


def make(
    server: LinkedInServer,
    session: aiohttp.ClientSession,
    clock: FakeClock,
    *,
    author: str = ORG,
    token: str = TOKEN,
) -> LinkedInAdapter:
    settings = LinkedInSettings(
        author=author, token=Secret("LINKEDIN_TOKEN", token), api_base=server.url
    )
    return LinkedInAdapter("brand-li", settings, AdapterContext(session=session, clock=clock))


@pytest.fixture
def adapter(
    server: LinkedInServer, session: aiohttp.ClientSession, clock: FakeClock
) -> LinkedInAdapter:
    return make(server, session, clock)


def stats_queries(server: LinkedInServer) -> list[str]:
    return [r.raw_path.partition("?")[2] for r in server.requests_to("GET", STATS)]


def test_what_a_member_cannot_report_is_said_plainly() -> None:
    assert LinkedInAdapter.engagement is not None
    assert LinkedInAdapter.engagement.metrics == FIGURES
    assert "member" in LinkedInAdapter.engagement.limits
    assert "r_member_postAnalytics" in LinkedInAdapter.engagement.limits


async def test_share_statistics_map_to_our_figures(
    adapter: LinkedInAdapter, server: LinkedInServer
) -> None:
    post = server.add_post("Soldes")
    server.reads.set(
        post.urn, likeCount=40, shareCount=6, commentCount=11, impressionCount=3200,
        clickCount=95, uniqueImpressionsCount=2100,
    )
    [reading] = await adapter.read_engagement([post.urn])
    assert reading == PostNumbers(
        post.urn,
        {"likes": 40, "reposts": 6, "replies": 11, "impressions": 3200, "clicks": 95},
        (),
        {"unique_impressions": 2100},
    )
    [query] = stats_queries(server)
    assert query == (
        "q=organizationalEntity&organizationalEntity=urn%3Ali%3Aorganization%3A5515715"
        f"&shares=List({post.urn.replace(':', '%3A')})"
    )
    [request] = server.requests_to("GET", STATS)
    assert request.headers["LinkedIn-Version"] == "202607"


async def test_shares_and_ugc_posts_go_in_their_lists(
    adapter: LinkedInAdapter, server: LinkedInServer
) -> None:
    share = server.add_post("a share")
    ugc = server.add_post("a ugcPost")
    ugc.urn = "urn:li:ugcPost:6900000000000000001"
    server.reads.set(share.urn, likeCount=1)
    server.reads.set(ugc.urn, likeCount=2)
    readings = await adapter.read_engagement([share.urn, ugc.urn])
    assert [r.counts["likes"] for r in readings if isinstance(r, PostNumbers)] == [1, 2]
    [query] = stats_queries(server)
    assert "&ugcPosts=List(urn%3Ali%3AugcPost%3A6900000000000000001)" in query


async def test_a_deleted_post_is_gone_and_one_without_statistics_unavailable(
    adapter: LinkedInAdapter, server: LinkedInServer
) -> None:
    kept, deleted, fresh = (server.add_post(t) for t in ("kept", "deleted", "fresh"))
    server.reads.set(kept.urn, commentCount=3)
    server.posts.remove(deleted)
    server.reads.unprocessed.add(fresh.urn)
    readings = {r.remote_id: r for r in await adapter.read_engagement(
        [kept.urn, deleted.urn, fresh.urn]
    )}
    assert isinstance(readings[kept.urn], PostNumbers)
    gone = readings[deleted.urn]
    assert isinstance(gone, PostGone) and "HTTP 404" in gone.reason
    assert readings[fresh.urn] == PostNumbers(fresh.urn, {}, FIGURES)
    looked = [unquote(r.raw_path) for r in server.requests_to("GET", "/rest/posts/")]
    assert looked == [f"/rest/posts/{deleted.urn}", f"/rest/posts/{fresh.urn}"]


async def test_reads_go_twenty_posts_a_call(
    adapter: LinkedInAdapter, server: LinkedInServer
) -> None:
    posts = [server.add_post(f"post {i}") for i in range(25)]
    for i, post in enumerate(posts):
        server.reads.set(post.urn, likeCount=i)
    readings = await adapter.read_engagement([p.urn for p in posts])
    assert [r.counts["likes"] for r in readings if isinstance(r, PostNumbers)] == list(range(25))
    assert [q.count("urn%3Ali%3Ashare") for q in stats_queries(server)] == [20, 5]


async def test_a_members_posts_are_unavailable_without_a_request(
    server: LinkedInServer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    member = make(server, session, clock, author=MEMBER)
    urn = "urn:li:share:7300000000000000009"
    assert await member.read_engagement([urn]) == [PostNumbers(urn, {}, FIGURES)]
    with pytest.raises(PermanentError, match="member"):
        await member.read_followers()
    assert server.requests == []


async def test_a_rate_limit_waits_as_retry_after_says(
    adapter: LinkedInAdapter, server: LinkedInServer
) -> None:
    post = server.add_post("limited")
    server.inject(
        "statistics", 429, error_body(429, "Resource level throttle", "TOO_MANY_REQUESTS"),
        headers={"Retry-After": "600"},
    )
    with pytest.raises(RateLimitedError) as caught:
        await adapter.read_engagement([post.urn])
    assert caught.value.retry_after == timedelta(minutes=10)


async def test_the_follower_count_is_the_organizations_network_size(
    adapter: LinkedInAdapter, server: LinkedInServer
) -> None:
    server.reads.followers = 9876
    assert await adapter.read_followers() == 9876
    [request] = server.requests_to("GET", "/rest/networkSizes/")
    assert request.raw_path == (
        "/rest/networkSizes/urn%3Ali%3Aorganization%3A5515715"
        "?edgeType=COMPANY_FOLLOWED_BY_MEMBER"
    )


async def test_a_refused_token_fails_the_reads_without_the_token(
    server: LinkedInServer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    wrong = "AQV-SECRET-wrong-token-0f0f0f"
    adapter = make(server, session, clock, token=wrong)
    post = server.add_post("x")
    for read in (adapter.read_engagement([post.urn]), adapter.read_followers()):
        with pytest.raises(PermanentError) as caught:
            await read
        assert not leaks(f"{caught.value} {caught.value!r}", wrong)


async def test_an_expired_token_is_refused_before_any_read(
    server: LinkedInServer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    settings = LinkedInSettings(
        author=ORG, token=Secret("LINKEDIN_TOKEN", TOKEN), api_base=server.url,
        token_expires=NOW - timedelta(days=1),
    )
    adapter = LinkedInAdapter("brand-li", settings, AdapterContext(session=session, clock=clock))
    for read in (adapter.read_engagement(["urn:li:share:1"]), adapter.read_followers()):
        with pytest.raises(PermanentError) as caught:
            await read
        assert caught.value.attention is Attention.CREDENTIALS
    assert server.requests == []


async def test_a_post_hidden_from_the_token_is_unavailable_not_a_failed_read(
    adapter: LinkedInAdapter, server: LinkedInServer
) -> None:
    kept, hidden = server.add_post("kept"), server.add_post("hidden")
    server.reads.unprocessed.add(hidden.urn)
    server.inject("get_post", 403, error_body(403, "Not enough permissions", "ACCESS_DENIED"))
    readings = await adapter.read_engagement([kept.urn, hidden.urn])
    assert isinstance(readings[0], PostNumbers) and readings[0].unavailable == ()
    assert readings[1] == PostNumbers(hidden.urn, {}, FIGURES)
