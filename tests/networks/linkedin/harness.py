"""LinkedIn in the shared fault harness: faults hit ``POST /rest/posts``.

LinkedIn has no idempotency key and no reset header. So:

- a 503 after the post's body left is *ambiguous*, not transient (the harness default):
  nothing in LinkedIn's answer says the post was not created, and a blind resend could
  publish it twice (or meet DUPLICATE_POST). ``lookup`` resolves it.
- its 429 with a reset is a ``Retry-After`` (seconds), the only hint LinkedIn's gateway may
  give; without one the error carries no time and the engine backs off.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from datetime import datetime

from publisher.adapters.base import AdapterContext, AmbiguousError, PostContent
from publisher.adapters.linkedin import LinkedInAdapter, LinkedInSettings
from publisher.clock import FakeClock
from publisher.secrets import Secret
from publisher.testing import HARNESS_NOW, Fault, HarnessNetwork
from tests.networks.linkedin.errors import ERRORS
from tests.networks.linkedin.server import INVALID_TOKEN, LinkedInServer, error_body

AUTHOR = "urn:li:organization:5515715"
# The harness's FakeClock starts at HARNESS_NOW; Retry-After is relative to it.


def _make(base_url: str, context: AdapterContext, secrets: Mapping[str, str]) -> LinkedInAdapter:
    settings = LinkedInSettings(
        author=AUTHOR,
        token=Secret("LINKEDIN_TOKEN", secrets["token"]),
        api_base=base_url,
    )
    return LinkedInAdapter("brand-li", settings, context)


@contextlib.asynccontextmanager
async def _serve(clock: FakeClock, secrets: Mapping[str, str]) -> AsyncIterator[str]:
    """The LinkedIn server, for the author ``_make`` builds."""
    async with LinkedInServer(author=AUTHOR, token=secrets["token"], now=clock.now) as server:
        yield server.url


def _rate_limit_headers(reset_at: datetime) -> Mapping[str, str]:
    return {"Retry-After": str(int((reset_at - HARNESS_NOW).total_seconds()))}


def _error_body(status: int) -> Mapping[str, object]:
    """What LinkedIn sends with each status the harness uses."""
    if status == 401:
        return INVALID_TOKEN
    if status == 429:
        return error_body(
            429,
            "Resource level throttle APPLICATION DAY limit for calls to this resource is reached.",
            "TOO_MANY_REQUESTS",
        )
    if status == 503:
        return error_body(503, "Service Unavailable", "SERVICE_UNAVAILABLE")
    return error_body(500, "Internal Server Error", "INTERNAL_SERVER_ERROR")


HARNESS = HarnessNetwork(
    network="linkedin",
    make=_make,
    content=PostContent(
        post_id="winter-sale-launch",
        account="brand-li",
        network="linkedin",
        text="Les soldes d'hiver commencent (enfin) ! ❄️ #soldes\nhttps://example.com/soldes",
    ),
    publish_method="POST",
    publish_path="/rest/posts",
    rate_limit_headers=_rate_limit_headers,
    error_body=_error_body,
    expected={Fault.HTTP_503: AmbiguousError},
    serve=_serve,
    errors=ERRORS,
    read_id="urn:li:share:7300000000000000001",
)
