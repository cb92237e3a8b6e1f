"""Facebook's error table: POST /{page}/feed against the Graph server, each Graph error code."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import aiohttp

from publisher.adapters.base import AdapterContext, AdapterError, Attention, TransientError
from publisher.adapters.facebook import FacebookAdapter, FacebookSettings
from publisher.clock import FakeClock
from publisher.engine.decide import GiveUp
from publisher.secrets import Secret
from publisher.states import Outcome
from publisher.testing import (
    BACKOFF,
    CREDENTIALS,
    NOW,
    VERSION,
    ErrorCase,
    ErrorTable,
    Expect,
    ambiguous,
    attempt,
    rate_limited,
    refused,
    transient,
)
from publisher.testing.errors import POLICY, TIMEOUT, content
from tests.networks.facebook.server import GraphServer, usage_headers


def graph(code: int, **kw: Any) -> Callable[[Any], object]:
    return lambda s: s.inject_error("feed", code, f"injected Graph error {code}", **kw)


CASES = [
    ErrorCase("code 1 (HTTP 500): the post may exist", ambiguous(), graph(1)),
    ErrorCase("code 1 (HTTP 400)", transient(), graph(1, status=400)),
    ErrorCase("code 2 (HTTP 500): the post may exist", ambiguous(), graph(2)),
    ErrorCase("code 2 (HTTP 503)", transient(), graph(2, status=503)),
    ErrorCase(
        "is_transient (on a code otherwise final)",
        transient(),
        graph(100, is_transient=True),
    ),
    ErrorCase("code 4 (application limit)", rate_limited(BACKOFF), graph(4)),
    ErrorCase("code 17 (user limit)", rate_limited(BACKOFF), graph(17)),
    ErrorCase(
        "code 32 (page limit, BUC says 5 minutes)",
        rate_limited(NOW + timedelta(minutes=5)),
        graph(32, headers=usage_headers(5)),
    ),
    ErrorCase("code 341 (application limit reached)", rate_limited(BACKOFF), graph(341)),
    ErrorCase(
        "code 613 (calls exceeded, Retry-After)",
        rate_limited(NOW + timedelta(seconds=90)),
        graph(613, headers={"Retry-After": "90"}),
    ),
    ErrorCase("code 190 (token invalid)", CREDENTIALS, graph(190)),
    ErrorCase("code 190 (HTTP 401, wrong token)", CREDENTIALS, settings={"token": "wrong"}),
    ErrorCase("code 102 (session)", CREDENTIALS, graph(102)),
    ErrorCase("code 2635 (API version refused)", VERSION, server={"version": "v99.0"}),
    ErrorCase("code 10 (permission)", refused(Attention.PERMISSION), graph(10)),
    ErrorCase("code 200 (permission)", refused(Attention.PERMISSION), graph(200)),
    ErrorCase("code 230 (permission)", refused(Attention.PERMISSION), graph(230)),
    ErrorCase("code 299 (permission)", refused(Attention.PERMISSION), graph(299)),
    ErrorCase(
        "code 368 (blocked for policy)",
        rate_limited(NOW + timedelta(hours=24), Attention.FLAGGED),
        graph(368),
    ),
    ErrorCase("code 506 (duplicate post)", ambiguous(), graph(506)),
    ErrorCase("code 100 (invalid parameter)", refused(Attention.CONTENT), graph(100)),
    ErrorCase(
        "code 2 (HTTP 503) on the last attempt",
        Expect(TransientError, GiveUp, outcome=Outcome.TRANSIENT, attempt=POLICY.max_attempts),
        graph(2, status=503),
    ),
]


async def publish(
    case: ErrorCase, clock: FakeClock, session: aiohttp.ClientSession
) -> AdapterError | None:
    token = "EAAG-page-token-for-tests-4c1d"
    async with GraphServer(token=token, now=clock.now, **case.server) as server:
        if case.inject is not None:
            case.inject(server)
        settings = FacebookSettings(
            page_id=server.page_id,
            page_token=Secret("FB_PAGE_TOKEN", case.settings.get("token", token)),
            api_base=server.url,
        )
        context = AdapterContext(session=session, clock=clock, timeout=TIMEOUT)
        adapter = FacebookAdapter("brand-facebook", settings, context)
        return await attempt(adapter, content("facebook"), clock)


ERRORS = ErrorTable(
    publish,
    CASES,
    listed=["code 1 ", "code 2 ", "is_transient", "code 4 ", "code 17 ", "code 32 ",
            "code 341 ", "code 613 ", "code 190 ", "code 102 ", "code 2635 ", "code 10 ",
            "code 200 ", "code 299 ", "code 368 ", "code 506 "],
)
