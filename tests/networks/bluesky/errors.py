"""Bluesky's error table: createRecord against an XRPC stand-in (``xrpc.py``)."""

from __future__ import annotations

from datetime import timedelta

import aiohttp

from publisher.adapters.base import AdapterContext, AdapterError
from publisher.adapters.bluesky import BlueskyAdapter, BlueskySettings
from publisher.clock import FakeClock
from publisher.secrets import Secret
from publisher.testing import CREDENTIALS, NOW, ErrorCase, ErrorTable, Expect, attempt, rate_limited
from publisher.testing.errors import TIMEOUT, content
from tests.networks.bluesky.xrpc import B_RESET, Xrpc

CASES = [
    ErrorCase(
        "ExpiredToken: refreshed once, then published",
        Expect(None),
        server={"create": "expired-once"},
    ),
    ErrorCase(
        "ExpiredToken, refresh revoked and login refused",
        CREDENTIALS,
        server={"create": "expired-once", "refresh_ok": False, "login_ok_after_first": False},
    ),
    ErrorCase(
        "AuthenticationRequired even after a refresh",
        CREDENTIALS,
        server={"create": "auth-required"},
    ),
    ErrorCase("429 with RateLimit-Reset", rate_limited(B_RESET),
              server={"create": "rate-limit"}),
    ErrorCase("429 with Retry-After", rate_limited(NOW + timedelta(seconds=45)),
              server={"create": "retry-after"}),
]


async def publish(
    case: ErrorCase, clock: FakeClock, session: aiohttp.ClientSession
) -> AdapterError | None:
    async with Xrpc(**case.server) as pds:
        settings = BlueskySettings(
            pds=pds.url, handle="brand.test", app_password=Secret("BSKY_APP_PASSWORD", "pw")
        )
        context = AdapterContext(session=session, clock=clock, timeout=TIMEOUT)
        adapter = BlueskyAdapter("brand-bluesky", settings, context)
        result = await attempt(adapter, content("bluesky"), clock)
        if case.case.startswith("ExpiredToken: refreshed"):
            assert pds.calls.count("com.atproto.server.refreshSession") == 1, pds.calls
            assert pds.calls.count("com.atproto.repo.createRecord") == 2, pds.calls
        return result


ERRORS = ErrorTable(
    publish, CASES, listed=["ExpiredToken", "AuthenticationRequired", "RateLimit-Reset"]
)
