"""An unknown delivery on a network whose lookup cannot settle it (Telegram, Discord):
``publisher status`` says so from the start, with what the operator should check.

End to end: the daemon (``publisher run --once``, a process) posts to the strict local server,
which keeps the message and drops the connection; the delivery is unknown, and ``status``
(text and JSON) shows the network's lookup limit with the delivery's own id in the command.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from publisher.adapters.discord import LOOKUP_LIMIT as DISCORD_LIMIT
from publisher.adapters.telegram import LOOKUP_LIMIT as TELEGRAM_LIMIT
from tests.conftest import Project
from tests.networks.discord.server import DiscordServer
from tests.networks.telegram.server import TelegramServer
from tests.processes import run_publisher

TG_TOKEN = "5550009876:AAG-SECRET-status-test-bot-token"
DC_TOKEN = "SECRET-status-test-webhook-token-0123456789"
HOOK = "1187654321098765432"


@contextlib.asynccontextmanager
async def telegram(project: Project) -> AsyncIterator[tuple[Any, dict[str, str]]]:
    async with TelegramServer(token=TG_TOKEN) as server:
        server.drop("sendMessage", commit=True)
        project.accounts = {
            "chan": {
                "network": "telegram",
                "bot_token": "${TG_TOKEN}",
                "chat_id": str(server.chat_id),
                "api_base": server.url,
            }
        }
        yield server, {"TG_TOKEN": TG_TOKEN}


@contextlib.asynccontextmanager
async def discord(project: Project) -> AsyncIterator[tuple[Any, dict[str, str]]]:
    async with DiscordServer(webhook_id=HOOK, token=DC_TOKEN) as server:
        server.drop(commit=True)
        project.accounts = {"chan": {"network": "discord", "webhook_url": "${DC_HOOK}"}}
        yield server, {"DC_HOOK": server.webhook_url}


Setup = Callable[[Project], AbstractAsyncContextManager[tuple[Any, dict[str, str]]]]


@pytest.mark.parametrize(
    ("setup", "network", "limit"),
    [(telegram, "telegram", TELEGRAM_LIMIT), (discord, "discord", DISCORD_LIMIT)],
    ids=["telegram", "discord"],
)
async def test_status_says_what_a_lookup_cannot_settle(
    project: Project, setup: Setup, network: str, limit: str
) -> None:
    async with setup(project) as (server, secrets):
        project.write_config()
        at = datetime.now(UTC) - timedelta(minutes=5)
        project.write_queue(f"""\
            posts:
              - {{id: launch, at: "{at.isoformat()}", accounts: [chan], text: Bonjour}}
            """)
        env = {**os.environ, **secrets}
        config = str(project.config_path)
        ran = await asyncio.to_thread(run_publisher, "run", "--once", "--config", config, env=env)
        assert ran.returncode == 0, ran.stderr
        assert len(server.messages) == 1  # it is out; the daemon cannot know
    shown = await asyncio.to_thread(run_publisher, "status", "--config", config, check=True)
    text = shown.stdout
    assert "UNKNOWN" in text and "launch → chan" in text
    line = next(x for x in text.splitlines() if x.strip().startswith(f"{network}:"))
    assert limit.replace("resolve ID", "resolve 1") in line
    listed = await asyncio.to_thread(
        run_publisher, "status", "--json", "--config", config, check=True
    )
    [row] = json.loads(listed.stdout)["needs_human"]["unknown"]
    assert row["lookup_limit"] == limit and row["network"] == network
    for secret in (*secrets.values(), TG_TOKEN, DC_TOKEN):
        assert secret not in text and secret not in listed.stdout
