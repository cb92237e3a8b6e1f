"""X's error table: POST /2/tweets against the strict X server, each answer X can give."""

from __future__ import annotations

from datetime import datetime, timedelta

import aiohttp

from publisher.adapters.base import AdapterContext, AdapterError, Attention
from publisher.adapters.x import XAdapter, XSettings
from publisher.clock import FakeClock
from publisher.secrets import Secret
from publisher.testing import (
    BACKOFF,
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
from publisher.testing.servers import Blackhole
from tests.networks.x.server import XServer, invalid_request, problem


def epoch(when: datetime) -> str:
    return str(int(when.timestamp()))


X_POST = "/2/tweets"
X_RESET = NOW + timedelta(minutes=15)
X_DAY_RESET = NOW + timedelta(hours=6)

CASES = [
    ErrorCase(
        "429 with x-rate-limit-reset",
        rate_limited(X_RESET),
        lambda s: s.fail(
            "POST",
            X_POST,
            status=429,
            headers={
                "x-rate-limit-limit": "100",
                "x-rate-limit-remaining": "0",
                "x-rate-limit-reset": epoch(X_RESET),
            },
        ),
    ),
    ErrorCase(
        "429 with the 24-hour post cap spent",
        rate_limited(X_DAY_RESET),
        lambda s: s.fail(
            "POST",
            X_POST,
            status=429,
            headers={
                "x-rate-limit-remaining": "12",
                "x-rate-limit-reset": epoch(X_RESET),
                "x-user-limit-24hour-limit": "17",
                "x-user-limit-24hour-remaining": "0",
                "x-user-limit-24hour-reset": epoch(X_DAY_RESET),
            },
        ),
    ),
    ErrorCase(
        "429 without a reset",
        rate_limited(BACKOFF),
        lambda s: s.fail("POST", X_POST, status=429),
    ),
    ErrorCase("500", ambiguous(), lambda s: s.fail("POST", X_POST, status=500)),
    ErrorCase("502", ambiguous(), lambda s: s.fail("POST", X_POST, status=502)),
    ErrorCase("503", ambiguous(), lambda s: s.fail("POST", X_POST, status=503)),
    ErrorCase("timeout before the body left", transient(), connect_timeout=True),
    ErrorCase("timeout after the body left", ambiguous(), lambda s: s.fail(
        "POST", X_POST, action="hang")),
    ErrorCase("connection reset after the body left", ambiguous(), lambda s: s.fail(
        "POST", X_POST, action="reset")),
    ErrorCase(
        "403 duplicate content",
        ambiguous(),
        lambda s: s.duplicate_texts.add(content("x").text),
    ),
    ErrorCase(
        "403 not permitted",
        refused(Attention.PERMISSION),
        lambda s: s.fail(
            "POST",
            X_POST,
            status=403,
            body=problem(403, "Forbidden", "You are not permitted to perform this action."),
        ),
    ),
    ErrorCase(
        "400 invalid request",
        refused(Attention.CONTENT),
        lambda s: s.fail("POST", X_POST, status=400, body=invalid_request("Invalid text")),
    ),
    ErrorCase("401 (revoked token)", CREDENTIALS, settings={"access_secret": "revoked"}),
]


async def publish(
    case: ErrorCase, clock: FakeClock, session: aiohttp.ClientSession
) -> AdapterError | None:
    context = AdapterContext(session=session, clock=clock, timeout=TIMEOUT)
    if case.connect_timeout:
        with Blackhole() as hole:
            settings = XSettings(
                api_key=Secret("X_API_KEY", "error-table-consumer-key"),
                api_secret=Secret("X_API_SECRET", "error-table-consumer-secret"),
                access_token=Secret("X_ACCESS_TOKEN", "error-table-access-token"),
                access_secret=Secret("X_ACCESS_SECRET", "error-table-access-secret"),
                api_base=hole.url,
            )
            return await attempt(XAdapter("brand-x", settings, context), content("x"), clock)
    async with XServer(now=clock.now) as server:
        if case.inject is not None:
            case.inject(server)
        creds = {
            "api_key": server.consumer_key,
            "api_secret": server.consumer_secret,
            "access_token": server.access_token,
            "access_secret": server.access_secret,
            **case.settings,
        }
        settings = XSettings(
            **{k: Secret(f"X_{k.upper()}", v) for k, v in creds.items()}, api_base=server.url
        )
        result = await attempt(XAdapter("brand-x", settings, context), content("x"), clock)
        assert server.problems == []
        return result


ERRORS = ErrorTable(
    publish,
    CASES,
    listed=["429 with x-rate-limit-reset", "429 without", "500", "503", "timeout before",
            "timeout after", "403 duplicate", "401"],
)
