"""X's engagement reads against the strict local X server (answers checked against the
vendored OpenAPI document): the mapping of public_metrics, non-public metrics asked only of
posts under 30 days old, batches of 100, partial answers, deleted posts, rate limits, the
follower count, and no secret in any error."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from publisher.adapters.base import AdapterContext, PermanentError, RateLimitedError
from publisher.adapters.engagement import PostGone, PostNumbers
from publisher.adapters.x import XAdapter, XSettings
from publisher.adapters.x_metrics import SNOWFLAKE_EPOCH_MS, created_at, figures
from publisher.clock import FakeClock
from publisher.secrets import Secret
from publisher.testing import leaks
from tests.networks.x.server import XServer

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
FIGURES = ("likes", "reposts", "replies", "quotes", "impressions", "clicks")


def snowflake(when: datetime, sequence: int = 0) -> str:
    """An X id created at ``when``."""
    millis = int(when.timestamp() * 1000) - SNOWFLAKE_EPOCH_MS
    return str((millis << 22) + sequence)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def server(clock: FakeClock) -> AsyncIterator[XServer]:
    async with XServer(now=clock.now) as srv:
        yield srv
    assert srv.problems == [], srv.problems  # every answer matched the documented schema


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
            **{k: Secret(f"X_{k.upper()}", v) for k, v in creds.items()}, api_base=server.url
        )
        yield XAdapter("brand-x", settings, context)


def reads_of(server: XServer) -> list[dict[str, str]]:
    return [r.query for r in server.hits("GET", "/2/tweets")]


def test_collection_is_off_by_default_and_says_why() -> None:
    assert XAdapter.engagement is not None
    assert XAdapter.engagement.on_by_default is False
    assert "pay-per-use" in XAdapter.engagement.limits
    assert XAdapter.engagement.batch == 100
    assert XAdapter.engagement.metrics == FIGURES


async def test_each_public_metric_maps_to_our_figure(
    adapter: XAdapter, server: XServer
) -> None:
    post = server.add_post("Soldes d'hiver")
    server.reads.set(
        post.id, like_count=12, repost_count=3, reply_count=4, quote_count=1,
        impression_count=950, bookmark_count=7,
    )
    [reading] = await adapter.read_engagement([post.id])
    assert reading == PostNumbers(
        post.id,
        {"likes": 12, "reposts": 3, "replies": 4, "quotes": 1, "impressions": 950},
        ("clicks",),  # a post over 30 days old: X gives no clicks
    )
    [query] = reads_of(server)
    assert query["ids"] == post.id
    assert query["tweet.fields"] == "public_metrics"


def test_the_live_name_of_reposts_is_read_too() -> None:
    """X's answers say retweet_count where its OpenAPI document says repost_count."""
    post = {"public_metrics": {"like_count": 1, "retweet_count": 5, "reply_count": 0}}
    reading = figures("1", post, non_public=False)
    assert reading.counts == {"reposts": 5, "likes": 1, "replies": 0}
    # absent: unavailable, never zero
    assert reading.unavailable == ("quotes", "impressions", "clicks")


def test_an_ids_creation_time_is_in_its_snowflake() -> None:
    assert created_at("1346889436626259968") == datetime(2021, 1, 6, 18, 40, 40, 344000, UTC)
    assert created_at(snowflake(NOW, 4095)) == NOW
    assert created_at("12345678901234567890") is None  # 20 digits: no X id
    assert created_at("abc") is None


async def test_link_clicks_are_asked_only_of_posts_under_thirty_days_old(
    adapter: XAdapter, server: XServer
) -> None:
    """X refuses non-public metrics of older posts and bills the read all the same; the
    server records asking them as a problem (the fixture asserts there is none)."""
    recent = server.add_post(
        "récent https://example.com", created_at=NOW - timedelta(days=29),
        post_id=snowflake(NOW - timedelta(days=29)),
    )
    bare = server.add_post(
        "récent, sans lien", created_at=NOW - timedelta(days=2),
        post_id=snowflake(NOW - timedelta(days=2)),
    )
    old = server.add_post(
        "ancien", created_at=NOW - timedelta(days=31), post_id=snowflake(NOW - timedelta(days=31))
    )
    server.reads.set(recent.id, like_count=8, impression_count=400)
    server.reads.private[recent.id] = {"url_link_clicks": 23, "user_profile_clicks": 5}
    readings = {r.remote_id: r for r in await adapter.read_engagement([old.id, recent.id, bare.id])}
    got = readings[recent.id]
    assert isinstance(got, PostNumbers)
    assert got.counts["clicks"] == 23 and got.counts["likes"] == 8
    assert got.extra == {"profile_clicks": 5}
    for without in (bare.id, old.id):  # no link; too old: not counted, not zero
        reading = readings[without]
        assert isinstance(reading, PostNumbers) and reading.unavailable == ("clicks",)
    asked = sorted((q["tweet.fields"], q["ids"]) for q in reads_of(server))
    assert asked == [
        ("public_metrics", old.id),
        ("public_metrics,non_public_metrics", f"{recent.id},{bare.id}"),
    ]


async def test_a_deleted_post_is_gone_and_the_others_are_read(
    adapter: XAdapter, server: XServer
) -> None:
    kept, deleted = server.add_post("kept"), server.add_post("deleted")
    server.reads.set(kept.id, like_count=2)
    server.reads.deleted.add(deleted.id)
    never = "1870000000000099999"
    asked = [kept.id, deleted.id, never]
    readings = {r.remote_id: r for r in await adapter.read_engagement(asked)}
    assert isinstance(readings[kept.id], PostNumbers)
    assert readings[kept.id].counts["likes"] == 2  # type: ignore[union-attr]
    for gone in (deleted.id, never):
        reading = readings[gone]
        assert isinstance(reading, PostGone)
        assert "Could not find tweet" in reading.reason
    assert len(reads_of(server)) == 1  # one call for the three


async def test_a_post_x_will_not_show_is_unavailable_not_gone(
    adapter: XAdapter, server: XServer
) -> None:
    post = server.add_post("from an account since suspended")
    server.reads.hidden.add(post.id)
    [reading] = await adapter.read_engagement([post.id])
    assert reading == PostNumbers(post.id, {}, FIGURES)


async def test_an_id_that_is_no_x_id_is_gone_without_a_request(
    adapter: XAdapter, server: XServer
) -> None:
    [reading] = await adapter.read_engagement(["urn:li:share:1"])
    assert isinstance(reading, PostGone)
    assert reads_of(server) == []


async def test_reads_go_a_hundred_ids_a_call(adapter: XAdapter, server: XServer) -> None:
    """The engine hands at most ``batch`` ids; more are read a hundred a call all the same."""
    posts = [server.add_post(f"post {i}") for i in range(150)]
    for i, post in enumerate(posts):
        server.reads.set(post.id, like_count=i)
    readings = await adapter.read_engagement([p.id for p in posts])
    assert [r.remote_id for r in readings] == [p.id for p in posts]
    assert [r.counts["likes"] for r in readings if isinstance(r, PostNumbers)] == list(range(150))
    assert [len(q["ids"].split(",")) for q in reads_of(server)] == [100, 50]


async def test_a_rate_limit_waits_for_x_rate_limit_reset(
    adapter: XAdapter, server: XServer
) -> None:
    reset = NOW + timedelta(minutes=15)
    headers = {"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(int(reset.timestamp()))}
    server.fail("GET", "/2/tweets", status=429, headers=headers)
    post = server.add_post("limited")
    with pytest.raises(RateLimitedError) as caught:
        await adapter.read_engagement([post.id])
    assert caught.value.reset_at == reset


async def test_the_follower_count_comes_from_users_me(
    adapter: XAdapter, server: XServer
) -> None:
    server.reads.followers = 4321
    assert await adapter.read_followers() == 4321
    [me] = server.hits("GET", "/2/users/me")
    assert me.query == {"user.fields": "public_metrics"}


async def test_refused_credentials_fail_the_read_without_their_secrets(
    server: XServer, clock: FakeClock
) -> None:
    timeout = aiohttp.ClientTimeout(total=5, sock_connect=1, sock_read=2)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        context = AdapterContext(session=session, clock=clock, timeout=timeout)
        revoked = "xas-revoked-secret-9999"
        creds: dict[str, Any] = {
            "api_key": Secret("X_API_KEY", server.consumer_key),
            "api_secret": Secret("X_API_SECRET", server.consumer_secret),
            "access_token": Secret("X_ACCESS_TOKEN", server.access_token),
            "access_secret": Secret("X_ACCESS_SECRET", revoked),
        }
        adapter = XAdapter("brand-x", XSettings(**creds, api_base=server.url), context)
        for read in (adapter.read_engagement(["1870000000000000001"]), adapter.read_followers()):
            with pytest.raises(PermanentError) as caught:
                await read
            text = f"{caught.value} {caught.value!r}"
            assert not leaks(text, revoked, server.consumer_secret, server.access_token)
