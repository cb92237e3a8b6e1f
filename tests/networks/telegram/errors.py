"""Telegram's error table: ``sendMessage`` against the strict Bot API server, each answer the
Bot API documents or is known to give, our error class and the engine's action."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import aiohttp

from publisher.adapters.base import AdapterContext, AdapterError, Attention
from publisher.adapters.telegram import TelegramAdapter, TelegramSettings
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
from tests.networks.telegram.server import TelegramServer

TOKEN = "7770001234:AAE-SECRET-error-table-bot-token"


def answer(status: int, description: str, **parameters: int) -> Callable[[Any], object]:
    return lambda s: s.inject("sendMessage", status, description, **parameters)


CASES = [
    ErrorCase(
        "429 retry_after 35",
        rate_limited(NOW + timedelta(seconds=35)),
        answer(429, "Too Many Requests: retry after 35", retry_after=35),
    ),
    ErrorCase("429 without parameters", rate_limited(BACKOFF), answer(429, "Too Many Requests")),
    ErrorCase("401 Unauthorized (revoked token)", CREDENTIALS, settings={"token": "1:wrong-token"}),
    ErrorCase(
        "404 Not Found (a token Telegram does not know)", CREDENTIALS, answer(404, "Not Found")
    ),
    ErrorCase("400 chat not found", CREDENTIALS, settings={"chat_id": "-1009999999999"}),
    ErrorCase(
        "403 bot was kicked",
        CREDENTIALS,
        answer(403, "Forbidden: bot was kicked from the channel chat"),
    ),
    ErrorCase(
        "403 bot is not a member",
        CREDENTIALS,
        answer(403, "Forbidden: bot is not a member of the channel chat"),
    ),
    ErrorCase(
        "400 need administrator rights",
        CREDENTIALS,
        answer(400, "Bad Request: need administrator rights in the channel chat"),
    ),
    ErrorCase(
        "400 migrate_to_chat_id (group upgraded)",
        CREDENTIALS,
        answer(
            400,
            "Bad Request: group chat was upgraded to a supergroup chat",
            migrate_to_chat_id=-1001987654321,
        ),
    ),
    ErrorCase("400 message thread not found", CREDENTIALS, settings={"message_thread_id": 99}),
    ErrorCase(
        "400 not enough rights to send photos (this post only)",
        refused(Attention.PERMISSION),
        answer(400, "Bad Request: not enough rights to send photos to the chat"),
    ),
    ErrorCase(
        "400 message is too long",
        refused(Attention.CONTENT),
        answer(400, "Bad Request: message is too long"),
    ),
    ErrorCase(
        "403 other refusal",
        refused(Attention.PERMISSION),
        answer(403, "Forbidden: bot can't send messages to bots"),
    ),
    ErrorCase(
        "500 Internal Server Error: it may be out",
        ambiguous(),
        answer(500, "Internal Server Error"),
    ),
    ErrorCase("502 Bad Gateway: it may be out", ambiguous(), answer(502, "Bad Gateway")),
    ErrorCase("503 Service Unavailable", transient(), answer(503, "Service Unavailable")),
]


async def publish(
    case: ErrorCase, clock: FakeClock, session: aiohttp.ClientSession
) -> AdapterError | None:
    async with TelegramServer(token=TOKEN, now=clock.now) as server:
        if case.inject is not None:
            case.inject(server)
        settings = TelegramSettings(
            bot_token=Secret("TELEGRAM_BOT_TOKEN", case.settings.get("token", TOKEN)),
            chat_id=case.settings.get("chat_id", str(server.chat_id)),
            message_thread_id=case.settings.get("message_thread_id"),
            api_base=server.url,
        )
        context = AdapterContext(session=session, clock=clock, timeout=TIMEOUT)
        adapter = TelegramAdapter("brand-telegram", settings, context)
        return await attempt(adapter, content("telegram"), clock)


ERRORS = ErrorTable(
    publish,
    CASES,
    listed=[
        "429 retry_after",
        "429 without",
        "401 ",
        "404 ",
        "chat not found",
        "kicked",
        "not a member",
        "administrator",
        "send photos",
        "migrate_to_chat_id",
        "thread not found",
        "too long",
        "500 ",
        "502 ",
        "503 ",
    ],
)
