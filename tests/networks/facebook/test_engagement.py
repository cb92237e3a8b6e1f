"""Facebook's engagement reads against the strict local Graph server: reactions, comments and
shares mapped, 50 posts a call, a deleted post among them, insights where the token may read
them (and unavailable, not failing, where it may not), rate limits, the follower count."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from pydantic import ValidationError

from publisher.adapters.base import AdapterContext, PermanentError, RateLimitedError
from publisher.adapters.engagement import PostGone, PostNumbers
from publisher.adapters.facebook import FacebookAdapter, FacebookSettings
from publisher.clock import FakeClock
from publisher.secrets import Secret
from publisher.testing import leaks
from tests.networks.facebook.server import GraphServer, usage_headers

PAGE_ID = "1234567890"
TOKEN = "EAAG-SECRET-page-token-9b7e21"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
FIGURES = ("likes", "reposts", "replies", "impressions", "clicks")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def server(clock: FakeClock) -> AsyncIterator[GraphServer]:
    async with GraphServer(page_id=PAGE_ID, token=TOKEN, now=clock.now) as graph:
        yield graph


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    timeout = aiohttp.ClientTimeout(total=5, sock_connect=1, sock_read=3)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        yield http


def make(
    server: GraphServer, session: aiohttp.ClientSession, clock: FakeClock, **settings: object
) -> FacebookAdapter:
    config = FacebookSettings(
        page_id=PAGE_ID,
        page_token=Secret("FB_PAGE_TOKEN", settings.pop("token", TOKEN)),
        api_base=server.url,
        **settings,  # type: ignore[arg-type]
    )
    return FacebookAdapter("brand-fb", config, AdapterContext(session=session, clock=clock))


@pytest.fixture
def adapter(
    server: GraphServer, session: aiohttp.ClientSession, clock: FakeClock
) -> FacebookAdapter:
    return make(server, session, clock)


def calls(server: GraphServer, suffix: str = "") -> list[dict[str, str]]:
    return [
        r.query for r in server.requests if r.method == "GET" and r.path.endswith("/" + suffix)
    ]


async def test_reactions_shares_comments_and_insights_map_to_our_figures(
    adapter: FacebookAdapter, server: GraphServer
) -> None:
    post = server.add_post("Soldes", NOW)
    figures = server.reads.of(post)
    figures.reactions, figures.comments, figures.shares = 31, 4, 2
    figures.insights = {"post_media_view": 1800, "post_clicks": 57}
    [reading] = await adapter.read_engagement([post])
    assert reading == PostNumbers(
        post, {"likes": 31, "reposts": 2, "replies": 4, "impressions": 1800, "clicks": 57}
    )
    [objects] = calls(server)
    assert objects["ids"] == post
    assert objects["fields"] == (
        "reactions.summary(total_count).limit(0),comments.summary(total_count).limit(0),shares"
    )
    [insights] = calls(server, "insights")
    assert insights["metric"] == "post_media_view,post_clicks"


async def test_a_post_nobody_shared_has_zero_shares_not_unavailable(
    adapter: FacebookAdapter, server: GraphServer
) -> None:
    """Graph leaves ``shares`` out when there are none: the field was asked for, so zero."""
    post = server.add_post("Personne ne partage", NOW)
    [reading] = await adapter.read_engagement([post])
    assert isinstance(reading, PostNumbers)
    assert reading.counts["reposts"] == 0 and reading.unavailable == ()


async def test_insights_refused_make_those_figures_unavailable_not_a_failure(
    adapter: FacebookAdapter, server: GraphServer
) -> None:
    posts = [server.add_post(f"post {i}", NOW) for i in range(3)]
    for post in posts:
        server.reads.of(post).reactions = 5
    server.reads.insights_refused = True
    readings = await adapter.read_engagement(posts)
    for post, reading in zip(posts, readings, strict=True):
        assert reading == PostNumbers(
            post, {"likes": 5, "reposts": 0, "replies": 0}, ("impressions", "clicks")
        )
    assert len(calls(server, "insights")) == 1  # refused once: not asked again this read


async def test_a_retired_metric_name_is_unavailable_and_the_table_is_the_accounts(
    server: GraphServer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    post = server.add_post("Vues", NOW)
    server.reads.of(post).insights = {"post_total_media_view_unique": 640}
    old = make(server, session, clock, insights={"post_impressions": "impressions"})
    [reading] = await old.read_engagement([post])
    assert isinstance(reading, PostNumbers) and "impressions" in reading.unavailable
    renamed = make(server, session, clock, insights={"post_total_media_view_unique": "impressions"})
    [reading] = await renamed.read_engagement([post])
    assert isinstance(reading, PostNumbers) and reading.counts["impressions"] == 640


def test_the_insights_table_maps_to_our_figures_only() -> None:
    with pytest.raises(ValidationError, match="insights map Graph metrics"):
        FacebookSettings(
            page_id=PAGE_ID, page_token=Secret("T", TOKEN), insights={"post_clicks": "clics"}
        )


async def test_a_deleted_post_among_others_is_gone_and_the_others_are_read(
    adapter: FacebookAdapter, server: GraphServer
) -> None:
    kept, deleted = server.add_post("kept", NOW), server.add_post("deleted", NOW)
    server.reads.of(kept).comments = 9
    server.reads.deleted.add(deleted)
    readings = {r.remote_id: r for r in await adapter.read_engagement([kept, deleted])}
    assert isinstance(readings[kept], PostNumbers) and readings[kept].counts["replies"] == 9
    gone = readings[deleted]
    assert isinstance(gone, PostGone) and "100/33" in gone.reason
    assert TOKEN not in gone.reason
    # The multi-id call was refused (#803), then each was read alone.
    assert [q["ids"] for q in calls(server) if "ids" in q] == [f"{kept},{deleted}"]


async def test_reads_go_fifty_posts_a_call(
    adapter: FacebookAdapter, server: GraphServer
) -> None:
    posts = [server.add_post(f"post {i}", NOW) for i in range(60)]
    for i, post in enumerate(posts):
        server.reads.of(post).reactions = i
    readings = await adapter.read_engagement(posts)
    assert [r.counts["likes"] for r in readings if isinstance(r, PostNumbers)] == list(range(60))
    assert [len(q["ids"].split(",")) for q in calls(server) if "ids" in q] == [50, 10]


@pytest.mark.parametrize("code", [4, 17, 32, 613])
async def test_graph_rate_limit_codes_wait_as_the_usage_headers_say(
    adapter: FacebookAdapter, server: GraphServer, code: int
) -> None:
    post = server.add_post("limited", NOW)
    server.inject_error("objects", code, f"(#{code}) limit reached", headers=usage_headers(12))
    with pytest.raises(RateLimitedError) as caught:
        await adapter.read_engagement([post])
    assert caught.value.retry_after == timedelta(minutes=12)


async def test_a_rate_limit_on_insights_fails_the_read(
    adapter: FacebookAdapter, server: GraphServer
) -> None:
    """Only a refusal of permission makes figures unavailable; a limit is waited out."""
    post = server.add_post("limited insights", NOW)
    server.inject_error("insights", 32, "(#32) Page request limit reached")
    with pytest.raises(RateLimitedError):
        await adapter.read_engagement([post])


async def test_the_follower_count_is_the_pages_followers_count(
    adapter: FacebookAdapter, server: GraphServer
) -> None:
    server.reads.followers = 8765
    assert await adapter.read_followers() == 8765
    [page] = calls(server, PAGE_ID)
    assert page["fields"] == "followers_count"


async def test_a_refused_token_fails_the_reads_without_the_token(
    server: GraphServer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    wrong = "EAAG-SECRET-wrong-token-55aa11"
    adapter = make(server, session, clock, token=wrong)
    post = server.add_post("x", NOW)
    for read in (adapter.read_engagement([post]), adapter.read_followers()):
        with pytest.raises(PermanentError) as caught:
            await read
        assert not leaks(f"{caught.value} {caught.value!r}", wrong)


async def test_a_post_gone_between_its_counts_and_its_insights_keeps_its_counts(
    adapter: FacebookAdapter, server: GraphServer
) -> None:
    first, second = server.add_post("first", NOW), server.add_post("second", NOW)
    server.reads.of(first).reactions = 3
    server.reads.of(second).insights = {"post_media_view": 70, "post_clicks": 1}
    server.inject_error("insights", 100, "Unsupported get request.", subcode=33)
    one, two = await adapter.read_engagement([first, second])
    assert one == PostNumbers(
        first, {"likes": 3, "reposts": 0, "replies": 0}, ("impressions", "clicks")
    )
    assert isinstance(two, PostNumbers) and two.counts["impressions"] == 70  # still asked


async def test_a_multi_id_read_refused_with_100_33_is_read_post_by_post(
    adapter: FacebookAdapter, server: GraphServer
) -> None:
    """Should Graph name the missing post with 100/33 instead of 803, the same holds."""
    kept, deleted = server.add_post("kept", NOW), server.add_post("deleted", NOW)
    server.reads.deleted.add(deleted)
    server.inject_error("objects", 100, "Unsupported get request.", subcode=33)
    readings = await adapter.read_engagement([kept, deleted])
    assert isinstance(readings[0], PostNumbers) and isinstance(readings[1], PostGone)
