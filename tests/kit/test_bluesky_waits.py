"""Bluesky on the kit: a PDS's 429 asks for a wait read by ``publisher.adapters.waits``, so an
absurd ``Retry-After`` or ``RateLimit-Reset`` is clamped to ``MAX_WAIT``, never an overflow.

Before the kit, ``timedelta(seconds=int(retry_after))`` overflowed on a header of 30 digits
and the publish ended as an adapter bug; an absurd reset was dropped and no wait was asked.
The PDS here is a real aiohttp server on 127.0.0.1 speaking XRPC.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from aiohttp import web

from publisher.adapters.base import AdapterContext, DeliveryRef, PostContent, RateLimitedError
from publisher.adapters.bluesky import BlueskyAdapter, BlueskySettings
from publisher.adapters.waits import MAX_WAIT
from publisher.clock import FakeClock
from publisher.secrets import Secret

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
DID = "did:plc:kitwaits000000000000000"
ABSURD = "9" * 30


@dataclass
class Pds:
    """Logs in anybody; refuses every createRecord with a 429 carrying ``headers``."""

    headers: Mapping[str, str]
    created: list[str] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        nsid = request.path.removeprefix("/xrpc/")
        if nsid == "com.atproto.server.createSession":
            return web.json_response(
                {"did": DID, "handle": "brand.test", "accessJwt": "acc-1", "refreshJwt": "ref-1"}
            )
        if nsid == "com.atproto.repo.createRecord":
            self.created.append(json.loads(await request.read())["rkey"])
            return web.json_response(
                {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
                status=429,
                headers=dict(self.headers),
            )
        return web.json_response({"error": "MethodNotImplemented"}, status=501)

    async def __aenter__(self) -> Pds:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


async def refusal(headers: Mapping[str, str], http: aiohttp.ClientSession) -> RateLimitedError:
    async with Pds(headers) as pds:
        settings = BlueskySettings(
            pds=pds.url, handle="brand.test", app_password=Secret("BSKY_APP_PASSWORD", "pw")
        )
        context = AdapterContext(session=http, clock=FakeClock(NOW))
        adapter = BlueskyAdapter("brand-bsky", settings, context)
        post = PostContent(post_id="p", account="brand-bsky", network="bluesky", text="Bonjour")
        with pytest.raises(RateLimitedError) as info:
            await adapter.publish(adapter.render(post), DeliveryRef(1, "p", "brand-bsky", NOW))
        assert len(pds.created) == 1  # refused for now: nothing sent again
        return info.value


@pytest.mark.parametrize(
    ("headers", "reset_at", "retry_after"),
    [
        ({"Retry-After": ABSURD}, None, MAX_WAIT),
        ({"Retry-After": "45"}, None, timedelta(seconds=45)),
        ({"RateLimit-Reset": ABSURD}, NOW + MAX_WAIT, None),
        ({"RateLimit-Reset": ABSURD, "Retry-After": ABSURD}, NOW + MAX_WAIT, None),
    ],
)
async def test_a_bluesky_429_asks_for_a_bounded_wait(
    session: aiohttp.ClientSession,
    headers: Mapping[str, str],
    reset_at: datetime | None,
    retry_after: timedelta | None,
) -> None:
    err = await refusal(headers, session)
    assert (err.reset_at, err.retry_after, err.status) == (reset_at, retry_after, 429)
    assert "RateLimitExceeded" in err.reason
