"""Mastodon in the shared fault harness: faults hit ``POST /api/v1/statuses``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime

from publisher.adapters.base import (
    AdapterContext,
    AmbiguousError,
    PostContent,
    TransientError,
)
from publisher.adapters.mastodon import MastodonAdapter, MastodonSettings
from publisher.clock import FakeClock
from publisher.secrets import Secret
from publisher.testing import Fault, HarnessNetwork
from tests.networks.mastodon.errors import ERRORS
from tests.networks.mastodon.server import MastodonServer


def _make(base_url: str, context: AdapterContext, secrets: Mapping[str, str]) -> MastodonAdapter:
    settings = MastodonSettings(
        instance=base_url, token=Secret("MASTODON_TOKEN", secrets["token"])
    )
    return MastodonAdapter("brand-masto", settings, context)


@contextlib.asynccontextmanager
async def _serve(clock: FakeClock, secrets: Mapping[str, str]) -> AsyncIterator[str]:
    """The strict Mastodon server, for the account ``_make`` builds."""
    async with MastodonServer(token=secrets["token"], clock=clock) as server:
        yield server.url
        assert server.problems == [], "the server answered outside the Mastodon document"


def _rate_limit_headers(reset_at: datetime) -> Mapping[str, str]:
    # Mastodon's Rack::Attack answer: the reset is an ISO 8601 time with microseconds.
    reset = reset_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}


def _error_body(status: int) -> Mapping[str, object]:
    return {
        401: {"error": "The access token is invalid"},
        429: {"error": "Too many requests"},
        503: {"error": "Service Unavailable"},
    }.get(status, {"error": "We're sorry, but something went wrong on our end."})


HARNESS = HarnessNetwork(
    network="mastodon",
    make=_make,
    content=PostContent(
        post_id="winter-sale-launch",
        account="brand-masto",
        network="mastodon",
        text="Les soldes d'hiver commencent ! ❄️ #soldes https://example.com/soldes",
    ),
    publish_method="POST",
    publish_path="/api/v1/statuses",
    rate_limit_headers=_rate_limit_headers,
    error_body=_error_body,
    # Decision (see adapters/mastodon.py): the statuses request carries Idempotency-Key, yet a
    # failure after its body left stays *ambiguous*, not transient. Mastodon keeps the key
    # for an hour from the first attempt, and only the engine knows when that was and when
    # it will resend (backoff reaches an hour; the daemon may be stopped). A transient error
    # would tell it "nothing was created"; ambiguous keeps the truth, and the engine resends
    # with the same key inside the hour (one status, test_mastodon proves it) or looks the
    # post up after it. 503 stays transient: Mastodon sends it when its idempotency lock or
    # transaction failed, i.e. when nothing was saved. Listed here so the choice is explicit.
    expected={
        Fault.HTTP_500: AmbiguousError,
        Fault.HTML_ERROR: AmbiguousError,
        Fault.TIMEOUT_AFTER_BODY: AmbiguousError,
        Fault.RESET_AFTER_BODY: AmbiguousError,
        Fault.TRUNCATED_JSON: AmbiguousError,
        Fault.INVALID_JSON: AmbiguousError,
        Fault.UNEXPECTED_SHAPE: AmbiguousError,
        Fault.HTTP_503: TransientError,
        Fault.TIMEOUT_BEFORE_BODY: TransientError,
    },
    serve=_serve,
    errors=ERRORS,
)
