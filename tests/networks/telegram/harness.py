"""Telegram in the shared fault harness: faults hit ``POST /bot{token}/sendMessage``.

The token is in the path of every request, so the fault server's "401 quoting the request"
echoes it in every form: the contract proves none reaches an error or the log. No
``expected`` override: the Bot API has no idempotency key, so the defaults (a 5xx or a
garbage 200 after the body left is ambiguous, 503 and a failed connect transient) are the
adapter's rules. Telegram says how long to wait in the body (``parameters.retry_after``,
seconds), which its 429 always carries: the harness's reset is sent there.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from datetime import datetime

from publisher.adapters.base import AdapterContext, PostContent
from publisher.adapters.telegram import TelegramAdapter, TelegramSettings
from publisher.clock import FakeClock
from publisher.secrets import Secret
from publisher.testing import HARNESS_NOW, RESET_AT, HarnessNetwork
from tests.networks.telegram.errors import ERRORS
from tests.networks.telegram.server import TelegramServer, error_body

CHAT_ID = "-1001234567890"
SECRETS = {"token": "8642097531:AAF-SECRET-harness-bot-token-7f3a9c"}


def _make(base_url: str, context: AdapterContext, secrets: Mapping[str, str]) -> TelegramAdapter:
    settings = TelegramSettings(
        bot_token=Secret("TELEGRAM_BOT_TOKEN", secrets["token"]),
        chat_id=CHAT_ID,
        api_base=base_url,
    )
    return TelegramAdapter("brand-tg", settings, context)


@contextlib.asynccontextmanager
async def _serve(clock: FakeClock, secrets: Mapping[str, str]) -> AsyncIterator[str]:
    async with TelegramServer(token=secrets["token"], now=clock.now) as server:
        yield server.url


def _rate_limit_headers(reset_at: datetime) -> Mapping[str, str]:
    return {}  # Telegram's wait is in the body (``_error_body``)


def _error_body(status: int) -> Mapping[str, object]:
    if status == 429:
        wait = int((RESET_AT - HARNESS_NOW).total_seconds())
        return error_body(429, f"Too Many Requests: retry after {wait}", retry_after=wait)
    return {
        401: error_body(401, "Unauthorized"),
        503: error_body(503, "Service Unavailable"),
    }.get(status, error_body(500, "Internal Server Error"))


HARNESS = HarnessNetwork(
    network="telegram",
    make=_make,
    content=PostContent(
        post_id="winter-sale-launch",
        account="brand-tg",
        network="telegram",
        text="Les soldes d'hiver commencent ! ❄️ #soldes https://example.com/soldes",
    ),
    publish_method="POST",
    publish_path=f"/bot{SECRETS['token']}/sendMessage",
    rate_limit_headers=_rate_limit_headers,
    error_body=_error_body,
    secrets=SECRETS,
    serve=_serve,
    errors=ERRORS,
)
