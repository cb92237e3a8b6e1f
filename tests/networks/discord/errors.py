"""Discord's error table: Execute Webhook against the strict local endpoint, each answer
Discord documents (HTTP status and JSON code), our error class and the engine's action."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import aiohttp

from publisher.adapters.base import AdapterContext, AdapterError, Attention
from publisher.adapters.discord import DiscordAdapter, DiscordSettings
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
from tests.networks.discord.server import DiscordServer, error_body, rate_headers

TOKEN = "SECRET-error-table-webhook-token-0a1b2c3d4e5f"
RESET = NOW + timedelta(seconds=42)


def answer(
    status: int, body: dict[str, Any] | None, headers: dict[str, str] | None = None
) -> Callable[[Any], object]:
    return lambda s: s.inject(status, body, headers=headers)


LIMITED = {"message": "You are being rate limited.", "retry_after": 1.5, "global": False}

CASES = [
    ErrorCase(
        "429 retry_after in the body (1.5 s)",
        rate_limited(NOW + timedelta(seconds=1.5)),
        answer(429, LIMITED, rate_headers(RESET, NOW)),
    ),
    ErrorCase(
        "429 X-RateLimit-Reset-After only",
        rate_limited(RESET),
        answer(
            429,
            {"message": "You are being rate limited."},
            {"X-RateLimit-Reset-After": "42.000", "X-RateLimit-Bucket": "abc"},
        ),
    ),
    ErrorCase(
        "429 X-RateLimit-Reset only (epoch)",
        rate_limited(RESET),
        answer(429, None, {"X-RateLimit-Reset": f"{RESET.timestamp():.3f}"}),
    ),
    ErrorCase(
        "429 global, Retry-After only (a Cloudflare ban)",
        rate_limited(NOW + timedelta(seconds=3600)),
        answer(429, None, {"Retry-After": "3600", "X-RateLimit-Global": "true"}),
    ),
    ErrorCase("429 without a wait", rate_limited(BACKOFF), answer(429, None)),
    ErrorCase("401 50027 Invalid Webhook Token", CREDENTIALS, settings={"token": "x" * 40}),
    ErrorCase("404 10015 Unknown Webhook (deleted)", CREDENTIALS, settings={"hook": "1"}),
    ErrorCase("404 10003 Unknown Channel (thread)", CREDENTIALS, settings={"thread_id": "99"}),
    ErrorCase(
        "400 50083 thread archived",
        CREDENTIALS,
        answer(400, error_body(50083, "Thread is archived")),
    ),
    ErrorCase(
        "403 160005 thread locked", CREDENTIALS, answer(403, error_body(160005, "Thread is locked"))
    ),
    ErrorCase(
        "400 220001 a forum channel's webhook without thread_id",
        CREDENTIALS,
        answer(400, error_body(220001, "Webhooks posted to forum channels need a thread")),
    ),
    ErrorCase(
        "403 50013 Missing Permissions",
        refused(Attention.PERMISSION),
        answer(403, error_body(50013, "Missing Permissions")),
    ),
    ErrorCase(
        "400 50035 Invalid Form Body",
        refused(Attention.CONTENT),
        answer(400, error_body(50035, "Invalid Form Body", {"content": {}})),
    ),
    ErrorCase(
        "413 40005 entity too large",
        refused(Attention.CONTENT),
        answer(413, error_body(40005, "Request entity too large")),
    ),
    ErrorCase("500: it may be out", ambiguous(), answer(500, error_body(0, "500: Internal"))),
    ErrorCase("502: it may be out", ambiguous(), answer(502, None)),
    ErrorCase("503", transient(), answer(503, error_body(0, "503: Service Unavailable"))),
    ErrorCase("204 (wait ignored): it is out, without an id", ambiguous(), answer(204, None)),
]


async def publish(
    case: ErrorCase, clock: FakeClock, session: aiohttp.ClientSession
) -> AdapterError | None:
    async with DiscordServer(token=TOKEN, now=clock.now) as server:
        if case.inject is not None:
            case.inject(server)
        hook = case.settings.get("hook", server.webhook_id)
        token = case.settings.get("token", TOKEN)
        settings = DiscordSettings(
            webhook_url=Secret("DISCORD_WEBHOOK_URL", f"{server.url}/api/webhooks/{hook}/{token}"),
            thread_id=case.settings.get("thread_id"),
        )
        context = AdapterContext(session=session, clock=clock, timeout=TIMEOUT)
        adapter = DiscordAdapter("brand-discord", settings, context)
        return await attempt(adapter, content("discord"), clock)


ERRORS = ErrorTable(
    publish,
    CASES,
    listed=[
        "retry_after",
        "Reset-After",
        "X-RateLimit-Reset only",
        "Retry-After only",
        "50027",
        "10015",
        "10003",
        "50083",
        "160005",
        "220001",
        "50013",
        "50035",
        "40005",
        "500",
        "502",
        "503",
        "204",
    ],
)
