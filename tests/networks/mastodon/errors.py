"""Mastodon's error table: POST /api/v1/statuses against the strict Mastodon server."""

from __future__ import annotations

from datetime import timedelta

import aiohttp

from publisher.adapters.base import AdapterContext, AdapterError, Attention
from publisher.adapters.mastodon import MastodonAdapter, MastodonSettings
from publisher.clock import FakeClock
from publisher.secrets import Secret
from publisher.testing import (
    CREDENTIALS,
    NOW,
    ErrorCase,
    ErrorTable,
    ambiguous,
    attempt,
    rate_limited,
    refused,
    transient,
)
from publisher.testing.errors import TIMEOUT, content
from tests.networks.mastodon.server import NOT_PROCESSED, MastodonServer

M_POST = "/api/v1/statuses"
M_RESET = NOW + timedelta(minutes=10)

CASES = [
    ErrorCase(
        "429 with X-RateLimit-Reset",
        rate_limited(M_RESET),
        lambda s: s.throttle("POST", M_POST, reset_at=M_RESET),
    ),
    ErrorCase(
        "429 with Retry-After only",
        rate_limited(NOW + timedelta(seconds=120)),
        lambda s: s.fail(
            "POST", M_POST, status=429, body={"error": "Too many requests"},
            headers={"Retry-After": "120"},
        ),
    ),
    ErrorCase("401 (token invalid)", CREDENTIALS, settings={"token": "revoked"}),
    ErrorCase("403 (scope missing)", refused(Attention.PERMISSION),
              server={"scopes": frozenset({"read"})}),
    ErrorCase("422 (text over the instance's limit)", refused(Attention.CONTENT),
              server={"max_characters": 40}),
    ErrorCase(
        "422 (media not processed yet)",
        transient(),
        lambda s: s.fail("POST", M_POST, status=422, body={"error": NOT_PROCESSED}),
    ),
    ErrorCase("500: the status may exist", ambiguous(),
              lambda s: s.fail("POST", M_POST, status=500)),
    ErrorCase("503 (nothing saved)", transient(),
              lambda s: s.fail("POST", M_POST, status=503)),
]


async def publish(
    case: ErrorCase, clock: FakeClock, session: aiohttp.ClientSession
) -> AdapterError | None:
    token = "test-token-0123456789"
    server = MastodonServer(token=token, clock=clock, **case.server)
    await server.__aenter__()
    try:
        if case.inject is not None:
            case.inject(server)
        settings = MastodonSettings(
            instance=server.url,
            token=Secret("MASTODON_TOKEN", case.settings.get("token", token)),
        )
        context = AdapterContext(session=session, clock=clock, timeout=TIMEOUT)
        adapter = MastodonAdapter("brand-mastodon", settings, context)
        result = await attempt(adapter, content("mastodon"), clock)
    finally:
        await server.__aexit__(None, None, None)
    assert server.problems == [], "the server answered outside the Mastodon document"
    return result


ERRORS = ErrorTable(
    publish, CASES, listed=["429 with X-RateLimit-Reset", "401", "403", "422"]
)
