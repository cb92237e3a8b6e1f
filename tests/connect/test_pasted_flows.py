"""Bluesky, Telegram and Discord: the credential the operator pastes is checked against the
network before anything is stored."""

from __future__ import annotations

import pytest

from publisher.connect.flow import ConnectError
from publisher.connect.pasted import connect_bluesky, connect_discord, connect_telegram
from tests.connect.bot_servers import DiscordServer, PdsServer, TelegramServer
from tests.connect.kit import account, running


async def test_bluesky_app_password_checked_by_a_session() -> None:
    async with PdsServer() as pds, running() as run:
        table = {"pds": pds.url, "handle": "@brand.test", "app_password": "${BSKY}"}
        got = await connect_bluesky(
            account("bluesky", table), run.context(run.terminal(answers=[pds.password]))
        )
        assert got.values == {"app_password": pds.password}
        assert got.identity.startswith("@brand.test (did:plc:")
        with pytest.raises(ConnectError, match="Invalid identifier or password"):
            await connect_bluesky(
                account("bluesky", table),
                run.context(run.terminal(answers=["wxyz-wxyz-wxyz-wxyz"])),
            )
        hits = len(pds.hits)
        with pytest.raises(ConnectError, match="not an app password"):
            await connect_bluesky(
                account("bluesky", table),
                run.context(run.terminal(answers=["my main password"])),
            )
        assert len(pds.hits) == hits  # refused before it was sent anywhere


async def test_telegram_bot_and_chat_checked() -> None:
    async with TelegramServer() as tg, running() as run:
        table = {"api_base": tg.url, "bot_token": "${TG_TOKEN}", "chat_id": "@brandchannel"}
        got = await connect_telegram(
            account("telegram", table), run.context(run.terminal(answers=[tg.token]))
        )
        assert got.values == {"bot_token": tg.token, "chat_id": "@brandchannel"}
        assert tg.hits == ["getMe", "getChat", "getChatMember"]
        assert got.granted.missing == () and "Brand news" in got.identity
        # The chat asked when the account does not name it; a channel without post rights.
        tg.can_post = False
        table = {"api_base": tg.url, "token": "${TG_TOKEN}", "chat": "${TG_CHAT}"}
        got = await connect_telegram(
            account("telegram", table),
            run.context(run.terminal(answers=[tg.token, "-1001234567890"])),
        )
        assert got.values == {"token": tg.token, "chat": "-1001234567890"}
        assert got.granted.missing == ("can_post_messages",)


async def test_telegram_wrong_token_and_unknown_chat() -> None:
    async with TelegramServer() as tg, running() as run:
        table = {"api_base": tg.url, "bot_token": "${TG_TOKEN}", "chat_id": "@elsewhere"}
        wrong = "123456789:BBB0123456789abcdefghijklmnopqrstuv"
        with pytest.raises(ConnectError, match="Unauthorized") as err:
            await connect_telegram(
                account("telegram", table), run.context(run.terminal(answers=[wrong]))
            )
        assert wrong not in str(err.value)  # the token is in the URL's path: scrubbed
        with pytest.raises(ConnectError, match="chat not found"):
            await connect_telegram(
                account("telegram", table), run.context(run.terminal(answers=[tg.token]))
            )


async def test_discord_webhook_checked_with_a_get() -> None:
    async with DiscordServer() as dc, running() as run:
        table = {"webhook_url": "${DISCORD_WEBHOOK}"}
        got = await connect_discord(
            account("discord", table), run.context(run.terminal(answers=[dc.webhook_url()]))
        )
        assert got.values == {"webhook_url": dc.webhook_url()}
        assert any("not discord.com" in n for n in got.notes)
        with pytest.raises(ConnectError, match="Invalid Webhook Token") as err:
            await connect_discord(
                account("discord", table),
                run.context(run.terminal(answers=[dc.webhook_url("wrong-token-0123456789")])),
            )
        assert "wrong-token-0123456789" not in str(err.value)
        with pytest.raises(ConnectError, match="not a webhook URL"):
            await connect_discord(
                account("discord", table),
                run.context(run.terminal(answers=["https://discord.com/channels/1/2"])),
            )
