"""Discord in the shared fault harness: faults hit ``POST /api/webhooks/{id}/{token}``.

The webhook token is in the path, so the fault server's "401 quoting the request" echoes it
in every form: the contract proves none reaches an error or the log. No ``expected``
override: Execute Webhook has no idempotency key, so the defaults are the adapter's rules.
Discord's 429 names its wait in the body (``retry_after``) and in the bucket headers; the
harness sends both, the same reset.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from datetime import datetime

from publisher.adapters.base import AdapterContext, PostContent
from publisher.adapters.discord import DiscordAdapter, DiscordSettings
from publisher.clock import FakeClock
from publisher.secrets import Secret
from publisher.testing import HARNESS_NOW, RESET_AT, HarnessNetwork
from tests.networks.discord.errors import ERRORS
from tests.networks.discord.server import DiscordServer, error_body, rate_headers

WEBHOOK_ID = "1187654321098765432"
SECRETS = {"token": "SECRET-harness-webhook-token-7f3a9c-abcdefghijklmnop"}


def _make(base_url: str, context: AdapterContext, secrets: Mapping[str, str]) -> DiscordAdapter:
    url = f"{base_url}/api/webhooks/{WEBHOOK_ID}/{secrets['token']}"
    settings = DiscordSettings(webhook_url=Secret("DISCORD_WEBHOOK_URL", url))
    return DiscordAdapter("brand-dc", settings, context)


@contextlib.asynccontextmanager
async def _serve(clock: FakeClock, secrets: Mapping[str, str]) -> AsyncIterator[str]:
    async with DiscordServer(webhook_id=WEBHOOK_ID, token=secrets["token"], now=clock.now) as s:
        yield s.url


def _rate_limit_headers(reset_at: datetime) -> Mapping[str, str]:
    return rate_headers(reset_at, HARNESS_NOW)


def _error_body(status: int) -> Mapping[str, object]:
    if status == 429:
        wait = (RESET_AT - HARNESS_NOW).total_seconds()
        return {"message": "You are being rate limited.", "retry_after": wait, "global": False}
    return {
        401: error_body(50027, "Invalid Webhook Token"),
        503: error_body(0, "503: Service Unavailable"),
    }.get(status, error_body(0, "500: Internal Server Error"))


HARNESS = HarnessNetwork(
    network="discord",
    make=_make,
    content=PostContent(
        post_id="winter-sale-launch",
        account="brand-dc",
        network="discord",
        text="Les soldes d'hiver commencent ! ❄️ #soldes https://example.com/soldes",
    ),
    publish_method="POST",
    publish_path=f"/api/webhooks/{WEBHOOK_ID}/{SECRETS['token']}",
    rate_limit_headers=_rate_limit_headers,
    error_body=_error_body,
    secrets=SECRETS,
    serve=_serve,
    errors=ERRORS,
)
