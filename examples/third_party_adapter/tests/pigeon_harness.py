"""The pigeon network's harness row and error table, for publisher's test kit."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timedelta

import aiohttp
from pigeon_loft import Failure, Loft, error_body
from publisher_pigeon import PigeonAdapter, PigeonSettings

from publisher.adapters.base import AdapterContext, AdapterError, Attention, PostContent
from publisher.clock import FakeClock
from publisher.secrets import Secret
from publisher.testing import (
    BACKOFF,
    CREDENTIALS,
    NOW,
    ErrorCase,
    ErrorTable,
    HarnessNetwork,
    ambiguous,
    attempt,
    rate_limited,
    refused,
    transient,
)
from publisher.testing.errors import TIMEOUT, content


def make(base_url: str, context: AdapterContext, secrets: Mapping[str, str]) -> PigeonAdapter:
    settings = PigeonSettings(loft=base_url, token=Secret("PIGEON_TOKEN", secrets["token"]))
    return PigeonAdapter("brand-pigeon", settings, context)


@contextlib.asynccontextmanager
async def serve(clock: FakeClock, secrets: Mapping[str, str]) -> AsyncIterator[str]:
    async with Loft(token=secrets["token"], now=clock.now) as loft:
        yield loft.url


def rate_limit_headers(reset_at: datetime) -> Mapping[str, str]:
    return {"X-Loft-Reset": str(int(reset_at.timestamp()))}


def harness_error_body(status: int) -> Mapping[str, object]:
    codes = {401: "unauthorized", 429: "slow_down", 503: "loft_closed"}
    return error_body(codes.get(status, "internal"), f"the loft answered {status}")


# --------------------------------------------------------------------------- error table


def fails(status: int, code: str, headers: Mapping[str, str] | None = None) -> ErrorCase:
    return ErrorCase(
        f"{status} {code}",
        EXPECT[(status, code)],
        lambda loft: loft.fail("/v1/messages", Failure(status, code, "injected", headers or {})),
    )


RESET = NOW + timedelta(minutes=20)
EXPECT = {
    (400, "too_long"): refused(Attention.CONTENT),
    (403, "wing_clipped"): refused(Attention.PERMISSION),
    (429, "slow_down"): rate_limited(BACKOFF),
    (500, "internal"): ambiguous(),
    (503, "loft_closed"): transient(),
}

CASES = [
    fails(400, "too_long"),
    fails(403, "wing_clipped"),
    fails(429, "slow_down"),
    ErrorCase(
        "429 with X-Loft-Reset",
        rate_limited(RESET),
        lambda loft: loft.fail(
            "/v1/messages",
            Failure(429, "slow_down", "later", {"X-Loft-Reset": str(int(RESET.timestamp()))}),
        ),
    ),
    ErrorCase(
        "429 with Retry-After",
        rate_limited(NOW + timedelta(seconds=90)),
        lambda loft: loft.fail(
            "/v1/messages", Failure(429, "slow_down", "later", {"Retry-After": "90"})
        ),
    ),
    fails(500, "internal"),
    fails(503, "loft_closed"),
    ErrorCase("401 (token revoked)", CREDENTIALS, settings={"token": "revoked-token-00"}),
]


async def drive(
    case: ErrorCase, clock: FakeClock, session: aiohttp.ClientSession
) -> AdapterError | None:
    async with Loft(now=clock.now) as loft:
        if case.inject is not None:
            case.inject(loft)
        token = case.settings.get("token", loft.token)
        context = AdapterContext(session=session, clock=clock, timeout=TIMEOUT)
        settings = PigeonSettings(loft=loft.url, token=Secret("PIGEON_TOKEN", token))
        adapter = PigeonAdapter("brand-pigeon", settings, context)
        return await attempt(adapter, content("pigeon"), clock)


HARNESS = HarnessNetwork(
    network="pigeon",
    make=make,
    content=PostContent(
        post_id="winter-sale-launch",
        account="brand-pigeon",
        network="pigeon",
        text="Les soldes d'hiver commencent ! ❄️ #soldes https://example.com/soldes",
    ),
    publish_method="POST",
    publish_path="/v1/messages",
    rate_limit_headers=rate_limit_headers,
    error_body=harness_error_body,
    serve=serve,
    errors=ErrorTable(drive, CASES, listed=["400", "401", "403", "429", "500", "503"]),
)
