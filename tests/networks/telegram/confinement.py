"""Telegram in the media-confinement test."""

from __future__ import annotations

from publisher.adapters.telegram import TelegramAdapter, TelegramSettings
from publisher.secrets import Secret
from tests.networks.confinement import Network
from tests.networks.telegram.server import TelegramServer

TG_TOKEN = "5550001234:AAG-SECRET-confinement-bot-token"

NETWORKS = [
    Network(
        "telegram",
        "brand-tg",
        "jpg",
        False,
        lambda clock: TelegramServer(token=TG_TOKEN, now=clock.now),
        lambda s, url, ctx: TelegramAdapter(
            "brand-tg",
            TelegramSettings(
                bot_token=Secret("TG_TOKEN", TG_TOKEN), chat_id="-1001234567890", api_base=url
            ),
            ctx,
        ),
        lambda s: [m.file[2] for m in s.messages if m.file is not None],
        lambda s: len(s.messages),
    ),
]
