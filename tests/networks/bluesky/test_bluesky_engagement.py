"""Bluesky's engagement reads against the XRPC stand-in (``xrpc.py``): ``getPosts`` in
batches of 25 at-uris, ``getProfile``'s followersCount, in the lexicons' shapes.

The reference PDS (``pds.py``) proxies ``app.bsky.*`` to an AppView it does not run, so the
reads are answered by the stand-in, as the lexicons define them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from publisher.adapters.base import AdapterContext, RateLimitedError
from publisher.adapters.bluesky import BlueskyAdapter, BlueskySettings
from publisher.adapters.engagement import PostGone, PostNumbers
from publisher.clock import FakeClock
from publisher.secrets import Secret
from publisher.testing import NOW
from publisher.testing.errors import TIMEOUT
from tests.networks.bluesky.xrpc import B_RESET, DID, Xrpc


def uri(rkey: str) -> str:
    return f"at://{DID}/app.bsky.feed.post/{rkey}"


def posted(pds: Xrpc, *rkeys: str) -> list[str]:
    for rkey in rkeys:
        pds.records[rkey] = {"uri": uri(rkey), "cid": "bafyreiexample", "value": {"text": rkey}}
    return [uri(r) for r in rkeys]


@pytest.fixture
async def pds() -> AsyncIterator[Xrpc]:
    async with Xrpc() as server:
        yield server


@pytest.fixture
async def adapter(pds: Xrpc) -> AsyncIterator[BlueskyAdapter]:
    async with aiohttp.ClientSession() as session:
        settings = BlueskySettings(
            pds=pds.url, handle="brand.test", app_password=Secret("BSKY_APP_PASSWORD", "pw")
        )
        context = AdapterContext(session=session, clock=FakeClock(NOW), timeout=TIMEOUT)
        yield BlueskyAdapter("brand-bluesky", settings, context)


async def test_counts_in_batches_of_25(pds: Xrpc, adapter: BlueskyAdapter) -> None:
    uris = posted(pds, *(f"3k{n:03d}" for n in range(30)))
    pds.counts["3k000"] = {"likeCount": 5, "repostCount": 2, "replyCount": 1, "quoteCount": 0}
    answer = await adapter.read_engagement(uris)
    assert [len(batch) for batch in pds.asked] == [25, 5]
    assert [a.remote_id for a in answer] == uris
    first = answer[0]
    assert first == PostNumbers(uris[0], {"likes": 5, "reposts": 2, "replies": 1, "quotes": 0})


async def test_counts_the_answer_leaves_out_are_unavailable(
    pds: Xrpc, adapter: BlueskyAdapter
) -> None:
    [one] = posted(pds, "3kpartial")
    pds.counts["3kpartial"] = {"likeCount": 7}
    [numbers] = await adapter.read_engagement([one])
    assert isinstance(numbers, PostNumbers)
    assert numbers.counts == {"likes": 7}
    assert numbers.unavailable == ("reposts", "replies", "quotes")


async def test_a_post_left_out_of_the_answer_is_gone(pds: Xrpc, adapter: BlueskyAdapter) -> None:
    kept, deleted = posted(pds, "3kkept", "3kdeleted")
    pds.deleted.add("3kdeleted")
    answer = await adapter.read_engagement([kept, deleted])
    assert isinstance(answer[0], PostNumbers)
    assert answer[1] == PostGone(deleted, "getPosts: not in the answer (deleted)")


async def test_a_rate_limit_gives_the_reset(pds: Xrpc, adapter: BlueskyAdapter) -> None:
    [one] = posted(pds, "3kslow")
    pds.reads = "rate-limit"
    with pytest.raises(RateLimitedError) as info:
        await adapter.read_engagement([one])
    assert info.value.reset_at == B_RESET


async def test_follower_count_from_get_profile(pds: Xrpc, adapter: BlueskyAdapter) -> None:
    pds.followers = 321
    assert await adapter.read_followers() == 321
    assert pds.calls[-1] == "app.bsky.actor.getProfile"
