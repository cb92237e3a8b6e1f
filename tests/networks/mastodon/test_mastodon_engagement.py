"""Mastodon's engagement reads against the strict local Mastodon: ``GET /api/v1/statuses/:id``
and ``verify_credentials``' followers_count, in the document's shapes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from publisher.adapters.base import Attention, PermanentError, RateLimitedError
from publisher.adapters.engagement import PostGone, PostNumbers
from publisher.adapters.mastodon import MastodonAdapter
from tests.networks.mastodon import test_mastodon as base
from tests.networks.mastodon.server import MastodonServer
from tests.networks.mastodon.test_mastodon import NOW, MakeServer

# The Mastodon tests' fixtures: a clock, the strict server, the adapter built on it.
clock, session, waited = base.clock, base.session, base.waited
servers, server, make = base.servers, base.server, base.make


async def test_counts_are_read_under_our_names(
    server: MastodonServer, make: Callable[..., MastodonAdapter]
) -> None:
    first = server.add_status("Les soldes commencent")
    first.favourites, first.reblogs, first.quotes = 12, 3, 1
    server.add_status("Une réponse", in_reply_to_id=first.id)
    adapter = make(server)
    [numbers] = await adapter.read_engagement([first.id])
    assert numbers == PostNumbers(
        first.id, {"likes": 12, "reposts": 3, "replies": 1, "quotes": 1}, ()
    )
    assert server.hits[-1] == ("GET", f"/api/v1/statuses/{first.id}")


async def test_a_server_before_quotes_gives_a_partial_answer(
    server: MastodonServer, make: Callable[..., MastodonAdapter]
) -> None:
    status = server.add_status("Sans citations")  # quotes_count left out, as before 4.5
    status.favourites = 2
    [numbers] = await make(server).read_engagement([status.id])
    assert isinstance(numbers, PostNumbers)
    assert numbers.counts == {"likes": 2, "reposts": 0, "replies": 0}
    assert numbers.unavailable == ("quotes",)  # not given: never read as zero


async def test_a_deleted_status_is_gone_and_the_others_are_read(
    server: MastodonServer, make: Callable[..., MastodonAdapter]
) -> None:
    kept, deleted = server.add_status("Gardé"), server.add_status("Effacé")
    deleted.deleted = True
    answer = await make(server).read_engagement([deleted.id, kept.id, "999"])
    assert [type(a) for a in answer] == [PostGone, PostNumbers, PostGone]
    assert [a.remote_id for a in answer] == [deleted.id, kept.id, "999"]
    gone = answer[0]
    assert isinstance(gone, PostGone) and "404" in gone.reason and "Record not found" in gone.reason


async def test_410_is_gone_too(
    server: MastodonServer, make: Callable[..., MastodonAdapter]
) -> None:
    s = server.add_status("Parti")
    server.fail("GET", "/api/v1/statuses/{id}", status=410, body={"error": "Gone"})
    [answer] = await make(server).read_engagement([s.id])
    assert isinstance(answer, PostGone)


async def test_a_rate_limit_gives_the_reset(
    server: MastodonServer, make: Callable[..., MastodonAdapter]
) -> None:
    s = server.add_status("Trop vite")
    reset = NOW + timedelta(minutes=3)
    server.throttle("GET", "/api/v1/statuses/{id}", reset_at=reset)
    with pytest.raises(RateLimitedError) as info:
        await make(server).read_engagement([s.id])
    assert info.value.reset_at == reset


async def test_follower_count_from_verify_credentials(
    servers: MakeServer, make: Callable[..., MastodonAdapter]
) -> None:
    server = await servers(followers=1234)
    assert await make(server).read_followers() == 1234


async def test_a_revoked_token_needs_a_human(
    server: MastodonServer, make: Callable[..., MastodonAdapter]
) -> None:
    s = server.add_status("Jeton")
    with pytest.raises(PermanentError) as info:
        await make(server, token="masto-WRONG-token-00000000").read_engagement([s.id])
    assert info.value.attention is Attention.CREDENTIALS
