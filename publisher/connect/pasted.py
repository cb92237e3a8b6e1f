"""The connect flows whose credential the operator pastes, checked against the network before
anything is stored: Bluesky, Telegram, Discord.

* Bluesky (docs.bsky.app, "App passwords"; lexicon ``com.atproto.server.createSession``): an
  app password (``xxxx-xxxx-xxxx-xxxx``), checked by creating a session with the handle.
* Telegram (core.telegram.org/bots/api): a bot token from @BotFather checked with ``getMe``,
  the chat with ``getChat``, and the bot's rights there with ``getChatMember``.
* Discord (discord.com/developers/docs/resources/webhook, "Get Webhook with Token"): a
  webhook URL checked with a GET, which answers the webhook without its secret use.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from publisher.connect.flow import (
    Account,
    ConnectError,
    Context,
    Flow,
    Granted,
    Obtained,
    Output,
)
from publisher.connect.meta import first_key
from publisher.connect.oauth import call, token_string
from publisher.secrets import REDACTOR

BLUESKY_PDS = "https://bsky.social"
APP_PASSWORD = re.compile(r"^[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}$")


async def connect_bluesky(account: Account, ctx: Context) -> Obtained:
    pds = (account.text("pds") or BLUESKY_PDS).rstrip("/")
    handle = account.needs("handle", "(the account to sign in as)").strip().removeprefix("@")
    ctx.terminal.say(
        f"Create an app password for @{handle}: Bluesky, Settings > Privacy and security > "
        "App passwords > Add App Password."
    )
    password = (await ctx.terminal.ask(f"App password for @{handle}: ", hidden=True)).strip()
    if APP_PASSWORD.fullmatch(password) is None:
        raise ConnectError(
            "that is not an app password (xxxx-xxxx-xxxx-xxxx): never give publisher the "
            "account's own password"
        )
    REDACTOR.add(password)
    what = "creating a session with the app password"
    doc = await call(
        ctx,
        "POST",
        f"{pds}/xrpc/com.atproto.server.createSession",
        what,
        json={"identifier": handle, "password": password},
    )
    token_string(doc, "accessJwt", what)
    token_string(doc, "refreshJwt", what)
    did = doc.get("did")
    return Obtained(
        {"app_password": password},
        Granted((), None),
        f"@{doc.get('handle') or handle} ({did})",
        ("an app password carries no scopes: it can post, not read direct messages",),
    )


BLUESKY_FLOW = Flow("bluesky", (Output(("app_password",)),), connect_bluesky)

TELEGRAM_API = "https://api.telegram.org"
BOT_TOKEN = re.compile(r"^[0-9]{5,}:[A-Za-z0-9_-]{30,}$")
TELEGRAM_TOKEN = ("bot_token", "token")
TELEGRAM_CHAT = ("chat_id", "chat")


def _result(doc: dict[str, Any], what: str) -> dict[str, Any]:
    result = doc.get("result")
    if doc.get("ok") is not True or not isinstance(result, dict):
        raise ConnectError(f"{what}: Telegram answered {doc.get('description') or 'not ok'}")
    return result


async def connect_telegram(account: Account, ctx: Context) -> Obtained:
    api = (account.text("api_base") or TELEGRAM_API).rstrip("/")
    ctx.terminal.say("Create a bot with @BotFather (/newbot) and add it to the chat as an admin.")
    token = (await ctx.terminal.ask("Bot token from @BotFather: ", hidden=True)).strip()
    if BOT_TOKEN.fullmatch(token) is None:
        raise ConnectError("that is not a bot token (digits, a colon, then 30 or more characters)")
    REDACTOR.add(token)
    me = _result(await call(ctx, "GET", f"{api}/bot{token}/getMe", "checking the bot"), "getMe")
    if me.get("is_bot") is not True:
        raise ConnectError("getMe: the token is not a bot's")
    chat_key = first_key(account, TELEGRAM_CHAT)
    chat = account.text(chat_key)
    if not chat:
        chat = (await ctx.terminal.ask("Chat (@channel or numeric id): ", hidden=False)).strip()
    found = _result(
        await call(
            ctx, "GET", f"{api}/bot{token}/getChat", "checking the chat", params={"chat_id": chat}
        ),
        "getChat",
    )
    member = _result(
        await call(
            ctx,
            "GET",
            f"{api}/bot{token}/getChatMember",
            "checking the bot's rights in the chat",
            params={"chat_id": chat, "user_id": str(me.get("id"))},
        ),
        "getChatMember",
    )
    needed: tuple[str, ...] = ("member",)
    granted = set()
    if member.get("status") in ("creator", "administrator", "member"):
        granted.add("member")
    if found.get("type") == "channel":
        needed = (*needed, "can_post_messages")
        if member.get("status") == "creator" or member.get("can_post_messages") is True:
            granted.add("can_post_messages")
    title = found.get("title") or found.get("username") or found.get("id")
    values = {first_key(account, TELEGRAM_TOKEN): token, chat_key: chat}
    identity = f"@{me.get('username')} in {title} ({found.get('id')})"
    return Obtained(values, Granted(needed, frozenset(granted)), identity)


TELEGRAM_FLOW = Flow(
    "telegram",
    (Output(TELEGRAM_TOKEN), Output(TELEGRAM_CHAT, secret=False)),
    connect_telegram,
)

WEBHOOK_PATH = re.compile(r"^/api(?:/v[0-9]+)?/webhooks/([0-9]+)/([A-Za-z0-9_-]+)$")
DISCORD_HOSTS = frozenset(
    {"discord.com", "discordapp.com", "ptb.discord.com", "canary.discord.com"}
)
DISCORD_WEBHOOK = ("webhook_url", "webhook")


async def connect_discord(account: Account, ctx: Context) -> Obtained:
    ctx.terminal.say(
        "Create a webhook: channel settings > Integrations > Webhooks > New Webhook > "
        "Copy Webhook URL."
    )
    url = (await ctx.terminal.ask("Webhook URL: ", hidden=True)).strip()
    parts = urlsplit(url)
    m = WEBHOOK_PATH.fullmatch(parts.path)
    if parts.scheme not in ("https", "http") or m is None:
        raise ConnectError("that is not a webhook URL (https://discord.com/api/webhooks/ID/TOKEN)")
    REDACTOR.add(url)
    REDACTOR.add(m.group(2))
    notes = []
    if parts.hostname not in DISCORD_HOSTS:
        notes.append(f"the webhook is on {parts.hostname}, not discord.com")
    doc = await call(ctx, "GET", url, "checking the webhook")
    if doc.get("id") != m.group(1):
        raise ConnectError("checking the webhook: Discord answered another webhook")
    identity = f"webhook {doc.get('name')} (channel {doc.get('channel_id')})"
    values = {first_key(account, DISCORD_WEBHOOK): url}
    return Obtained(values, Granted((), None), identity, tuple(notes))


DISCORD_FLOW = Flow("discord", (Output(DISCORD_WEBHOOK),), connect_discord)
