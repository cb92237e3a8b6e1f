"""LinkedIn's error table: POST /rest/posts against the LinkedIn server."""

from __future__ import annotations

from datetime import timedelta

import aiohttp

from publisher.adapters.base import AdapterContext, AdapterError
from publisher.adapters.linkedin import LinkedInAdapter, LinkedInSettings
from publisher.clock import FakeClock
from publisher.secrets import Secret
from publisher.testing import (
    BACKOFF,
    CREDENTIALS,
    NOW,
    VERSION,
    ErrorCase,
    ErrorTable,
    ambiguous,
    attempt,
    rate_limited,
)
from publisher.testing.errors import TIMEOUT, content
from tests.networks.linkedin.server import LinkedInServer, duplicate_body

LI_DUPLICATE = "urn:li:share:7300000000000000099"

CASES = [
    ErrorCase(
        "422 DUPLICATE_POST",
        ambiguous(remote_id=LI_DUPLICATE),
        lambda s: s.inject("posts", 422, duplicate_body(LI_DUPLICATE)),
    ),
    ErrorCase(
        "429 with Retry-After",
        rate_limited(NOW + timedelta(seconds=120)),
        lambda s: s.inject("posts", 429, headers={"Retry-After": "120"}),
    ),
    ErrorCase("429 without Retry-After", rate_limited(BACKOFF),
              lambda s: s.inject("posts", 429)),
    ErrorCase("401 (token revoked)", CREDENTIALS, server={"token_revoked": True}),
    # Every version refused, as the one configured is once its year is out.
    ErrorCase("426 NONEXISTENT_VERSION", VERSION, server={"versions": frozenset()}),
]


async def publish(
    case: ErrorCase, clock: FakeClock, session: aiohttp.ClientSession
) -> AdapterError | None:
    token = "AQV-linkedin-token-for-tests-8e2f"
    async with LinkedInServer(token=token, now=clock.now, **case.server) as server:
        if case.inject is not None:
            case.inject(server)
        settings = LinkedInSettings(
            author=server.author, token=Secret("LINKEDIN_TOKEN", token), api_base=server.url
        )
        context = AdapterContext(session=session, clock=clock, timeout=TIMEOUT)
        adapter = LinkedInAdapter("brand-linkedin", settings, context)
        return await attempt(adapter, content("linkedin"), clock)


ERRORS = ErrorTable(publish, CASES, listed=["422 DUPLICATE_POST", "429", "401", "426"])
