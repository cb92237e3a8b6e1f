"""Facebook Pages in the shared fault harness: faults hit ``POST /{page}/feed``.

No ``expected`` override is needed: Graph has no idempotency key, so the harness's defaults
(a 5xx, a dropped connection or a garbage 200 after the body left is ambiguous) are exactly
the adapter's rules, and its 503 is Graph's "service temporarily unavailable" (transient).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from datetime import datetime

from publisher.adapters.base import AdapterContext, PostContent
from publisher.adapters.facebook import FacebookAdapter, FacebookSettings
from publisher.clock import FakeClock
from publisher.secrets import Secret
from publisher.testing import HARNESS_NOW, HarnessNetwork
from tests.networks.facebook.errors import ERRORS
from tests.networks.facebook.server import GraphServer, error_body, usage_headers

PAGE_ID = "1234567890"
# The harness's FakeClock starts at HARNESS_NOW; Graph only says "minutes from now".


def _make(base_url: str, context: AdapterContext, secrets: Mapping[str, str]) -> FacebookAdapter:
    settings = FacebookSettings(
        page_id=PAGE_ID,
        page_token=Secret("FB_PAGE_TOKEN", secrets["token"]),
        api_base=base_url,
    )
    return FacebookAdapter("brand-fb", settings, context)


@contextlib.asynccontextmanager
async def _serve(clock: FakeClock, secrets: Mapping[str, str]) -> AsyncIterator[str]:
    """The Graph server, for the page ``_make`` builds."""
    async with GraphServer(page_id=PAGE_ID, token=secrets["token"], now=clock.now) as server:
        yield server.url


def _rate_limit_headers(reset_at: datetime) -> Mapping[str, str]:
    return usage_headers((reset_at - HARNESS_NOW).total_seconds() / 60, business_id=PAGE_ID)


def _error_body(status: int) -> Mapping[str, object]:
    """What Graph sends with each status the harness uses."""
    if status == 401:
        return error_body(190, "Error validating access token: The session has been invalidated")
    if status == 429:
        return error_body(32, "(#32) Page request limit reached")
    if status in (500, 503):
        return error_body(
            2,
            "An unexpected error has occurred. Please retry your request later.",
            is_transient=True,
        )
    return error_body(1, "An unknown error has occurred.")


HARNESS = HarnessNetwork(
    network="facebook",
    make=_make,
    content=PostContent(
        post_id="winter-sale-launch",
        account="brand-fb",
        network="facebook",
        text="Les soldes d'hiver commencent ! ❄️ #soldes\nhttps://example.com/soldes",
    ),
    publish_method="POST",
    publish_path=f"/v23.0/{PAGE_ID}/feed",
    rate_limit_headers=_rate_limit_headers,
    error_body=_error_body,
    serve=_serve,
    errors=ERRORS,
)
