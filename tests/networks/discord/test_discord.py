"""The Discord adapter against the strict local webhook endpoint (``server.DiscordServer``)."""

from __future__ import annotations

import traceback
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from publisher.adapters.base import (
    AdapterContext,
    AdapterError,
    AmbiguousError,
    Attention,
    CheckStatus,
    DeliveryRef,
    LinkCard,
    MediaItem,
    PermanentError,
    PostContent,
    RateLimitedError,
    Unknowable,
)
from publisher.adapters.discord import LOOKUP_LIMIT, DiscordAdapter, DiscordSettings
from publisher.clock import FakeClock
from publisher.media import MediaRef
from publisher.secrets import Secret
from publisher.testing import captured_logs, leaks
from tests.networks.discord.server import DiscordServer, rate_headers

HOOK = "1187654321098765432"
TOKEN = "SECRET-canary-webhook-token-9b7e21-QWERTYUIOPasdfghjkl"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64 + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def server(clock: FakeClock) -> AsyncIterator[DiscordServer]:
    threads = frozenset({"1100000000000000077"})
    async with DiscordServer(webhook_id=HOOK, token=TOKEN, now=clock.now, threads=threads) as dc:
        yield dc


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    timeout = aiohttp.ClientTimeout(total=5, sock_connect=1, sock_read=3)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        yield http


def make(
    url: str, session: aiohttp.ClientSession | None, clock: FakeClock, **settings: Any
) -> DiscordAdapter:
    s = DiscordSettings(webhook_url=Secret("DISCORD_WEBHOOK_URL", url), **settings)
    return DiscordAdapter("brand-dc", s, AdapterContext(session=session, clock=clock))


@pytest.fixture
def adapter(
    server: DiscordServer, session: aiohttp.ClientSession, clock: FakeClock
) -> DiscordAdapter:
    return make(server.webhook_url, session, clock)


@pytest.fixture
def offline(clock: FakeClock) -> DiscordAdapter:
    return make(f"https://discord.com/api/webhooks/{HOOK}/{TOKEN}", None, clock)


def item(tmp_path: Path, name: str, data: bytes, mime: str, alt: str = "") -> MediaItem:
    path = tmp_path / name
    path.write_bytes(data)
    return MediaItem(MediaRef.beside(path), alt, mime, len(data))


def post(text: str = "Les soldes d'hiver commencent ! ❄️", **kw: Any) -> PostContent:
    return PostContent(
        post_id="winter-sale", account="brand-dc", network="discord", text=text, **kw
    )


def ref(clock: FakeClock) -> DeliveryRef:
    return DeliveryRef(42, "winter-sale", "brand-dc", clock.now())


def no_token(*texts: object) -> None:
    for text in texts:
        found = leaks(str(text), TOKEN)
        assert not found, f"the webhook token leaked ({found}) in {text!r}"


def error_text(err: BaseException) -> str:
    reason = err.reason if isinstance(err, AdapterError) else ""
    return "\n".join([str(err), repr(err), reason, "".join(traceback.format_exception(err))])


# --------------------------------------------------------------------------- rendering


def test_payload_snapshots(offline: DiscordAdapter, tmp_path: Path) -> None:
    photo = item(tmp_path, "a.jpg", JPEG, "image/jpeg", alt="A shop window")
    options = {"username": "Brand", "avatar_url": "https://example.com/a.png", "ping": True}
    assert offline.build_payload("Bonjour @everyone", (), 0, 1, post(options=options)) == {
        "content": "Bonjour @everyone",
        "username": "Brand",
        "avatar_url": "https://example.com/a.png",
        "allowed_mentions": {"parse": ["users", "roles", "everyone"]},
    }
    thumb = item(tmp_path, "t.png", PNG, "image/png")
    card = LinkCard("https://example.com/soldes", "Soldes", "Jusqu'à -50 %", thumb)
    assert offline.build_payload("Vitrine", (photo,), 0, 1, post(link=card)) == {
        "content": "Vitrine",
        "allowed_mentions": {"parse": []},
        "attachments": [
            {"id": 0, "filename": "a.jpg", "description": "A shop window"},
            {"id": 1, "filename": "thumb-t.png"},
        ],
        "embeds": [
            {
                "url": "https://example.com/soldes",
                "title": "Soldes",
                "description": "Jusqu'à -50 %",
                "thumbnail": {"url": "attachment://thumb-t.png"},
            }
        ],
    }
    # The card goes with the first message only.
    assert "embeds" not in offline.build_payload("suite", (), 1, 2, post(link=card))


def test_render_limits(offline: DiscordAdapter, tmp_path: Path) -> None:
    assert len(offline.render(post("mot " * 600)).parts) == 2  # 2,400 > 2,000: two messages
    files = tuple(item(tmp_path, f"p{i}.jpg", JPEG, "image/jpeg", "alt") for i in range(11))
    assert any("at most 10 in all" in e for e in offline.render(post(media=files)).errors)
    long_alt = item(tmp_path, "x.jpg", JPEG, "image/jpeg", alt="a" * 1025)
    assert offline.render(post(media=(long_alt,))).errors
    for name in ("Discord news", "x" * 81):
        rendered = offline.render(post(options={"username": name}))
        assert any("username" in e for e in rendered.errors), name
    card = LinkCard("https://example.com", "t" * 257)
    assert any("title" in e for e in offline.render(post(link=card)).errors)


# --------------------------------------------------------------------------- publishing


async def test_text_message_and_its_link(
    adapter: DiscordAdapter, server: DiscordServer, clock: FakeClock
) -> None:
    published = await adapter.publish(adapter.render(post()), ref(clock))
    [message] = server.messages
    assert message.payload["content"] == "Les soldes d'hiver commencent ! ❄️"
    assert message.payload["allowed_mentions"] == {"parse": []}
    assert published.remote_id == message.id and published.url is None  # no server known yet
    await adapter.prepare()
    again = await adapter.publish(adapter.render(post("bis")), ref(clock))
    link = f"https://discord.com/channels/{server.guild_id}/{server.channel_id}/"
    assert again.url == link + server.messages[-1].id
    assert [c[2] for c in server.calls if c[0] == "POST"] == ["application/json"] * 2


async def test_files_with_alt_text_and_a_card_thumb(
    adapter: DiscordAdapter, server: DiscordServer, clock: FakeClock, tmp_path: Path
) -> None:
    photo = item(tmp_path, "a.jpg", JPEG, "image/jpeg", alt="A shop window")
    thumb = item(tmp_path, "t.png", PNG, "image/png")
    card = LinkCard("https://example.com/soldes", "Soldes", thumb=thumb)
    await adapter.publish(adapter.render(post(media=(photo,), link=card)), ref(clock))
    [message] = server.messages
    assert message.files == {0: ("a.jpg", "image/jpeg", JPEG), 1: ("thumb-t.png", "image/png", PNG)}
    assert message.payload["attachments"][0]["description"] == "A shop window"
    assert server.calls[-1][2] == "multipart/form-data"


async def test_long_text_is_consecutive_messages_in_the_thread(
    server: DiscordServer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    adapter = make(server.webhook_url, session, clock, thread_id="1100000000000000077")
    text = " ".join(["mot"] * 1200)
    published = await adapter.publish(adapter.render(post(text)), ref(clock))
    assert [p.remote_id for p in published.parts] == [m.id for m in server.messages]
    assert len(server.messages) == 3
    assert all(m.channel_id == "1100000000000000077" for m in server.messages)
    assert " ".join(m.payload["content"] for m in server.messages).split() == text.split()


async def test_rate_limit_names_the_bucket_and_scope(
    adapter: DiscordAdapter, server: DiscordServer, clock: FakeClock
) -> None:
    headers = {**rate_headers(NOW + timedelta(seconds=30), NOW), "X-RateLimit-Global": "true"}
    body = {"message": "You are being rate limited.", "retry_after": 2.25, "global": True}
    server.inject(429, body, headers=headers)
    with pytest.raises(RateLimitedError) as info:
        await adapter.publish(adapter.render(post()), ref(clock))
    assert info.value.retry_after == timedelta(seconds=2.25)  # the body first
    assert "bucket d8e1f6a1c2b3, global, scope shared" in info.value.reason


async def test_a_deleted_webhook_holds_the_account(
    server: DiscordServer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    adapter = make(f"{server.url}/api/webhooks/1/{TOKEN}", session, clock)
    with pytest.raises(PermanentError) as info:
        await adapter.publish(adapter.render(post()), ref(clock))
    assert info.value.attention is Attention.CREDENTIALS
    assert "Unknown Webhook (code 10015)" in info.value.reason


async def test_a_lost_answer_is_ambiguous(
    adapter: DiscordAdapter, server: DiscordServer, clock: FakeClock
) -> None:
    server.drop(commit=True)
    with pytest.raises(AmbiguousError):
        await adapter.publish(adapter.render(post()), ref(clock))
    assert len(server.messages) == 1


# --------------------------------------------------------------------------- the token canary


@pytest.mark.parametrize(
    "url",
    [
        "https://discord.com/api/webhooks/{hook}/{token}?wait=true",
        "discord.com/api/webhooks/{hook}/{token}",
        "https://discord.com/api/hooks/{hook}/{token}",
    ],
)
async def test_a_malformed_webhook_url_is_refused_without_quoting_it(
    url: str, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    adapter = make(url.format(hook=HOOK, token=TOKEN), session, clock)
    with pytest.raises(PermanentError) as info:
        await adapter.publish(adapter.render(post()), ref(clock))
    assert info.value.attention is Attention.CREDENTIALS
    assert "not a Discord webhook URL" in info.value.reason
    no_token(error_text(info.value))


async def test_the_webhook_token_reaches_no_error_log_or_traceback(
    server: DiscordServer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """The token alone (not the whole URL) quoted back, a refused connection, a wrong
    token, the webhook object's own ``token`` field: none reaches an error or the log."""
    errors: list[BaseException] = []
    with captured_logs() as logs:
        good = make(server.webhook_url, session, clock)
        server.inject(400, {"message": f"Invalid path /webhooks/{HOOK}/{TOKEN}", "code": 50035})
        wrong = make(f"{server.url}/api/webhooks/{HOOK}/{TOKEN}x", session, clock)
        nobody = make(f"http://127.0.0.1:9/api/webhooks/{HOOK}/{TOKEN}", session, clock)
        for adapter in (good, wrong, nobody):
            try:
                await adapter.publish(adapter.render(post()), ref(clock))
            except AdapterError as err:
                errors.append(err)
        checked = await good.check()
        refused = await wrong.check()
        result = await good.lookup(ref(clock), good.render(post()), NOW)
    assert len(errors) == 3
    assert "Invalid path /webhooks/" in errors[0].args[0] and "***" in errors[0].args[0]
    for err in errors:
        no_token(error_text(err))
    assert refused.status is CheckStatus.ATTENTION
    no_token(checked, refused, result, logs.text())


# --------------------------------------------------------------------------- lookup and check


async def test_lookup_says_what_cannot_be_known_and_what_to_check(
    adapter: DiscordAdapter, server: DiscordServer, clock: FakeClock
) -> None:
    await adapter.publish(adapter.render(post()), ref(clock))
    result = await adapter.lookup(ref(clock), adapter.render(post()), NOW)
    assert isinstance(result, Unknowable)
    assert LOOKUP_LIMIT in result.reason and "ID 42" in result.reason
    assert "Les soldes d'hiver" in result.reason


async def test_check(adapter: DiscordAdapter, server: DiscordServer) -> None:
    result = await adapter.check()
    assert result.status is CheckStatus.OK
    assert result.identity == "Brand announcements"
    assert server.channel_id in result.detail and "does not expire" in result.detail


# --------------------------------------------------------------------------- the server itself


async def test_the_server_is_strict(server: DiscordServer, session: aiohttp.ClientSession) -> None:
    async def execute(**kw: Any) -> tuple[int, Any]:
        async with session.post(server.webhook_url, params={"wait": "true"}, **kw) as resp:
            return resp.status, await resp.json()

    status, doc = await execute(json={"content": "x", "nonce": "abc"})
    assert status == 400 and doc["code"] == 50035 and "nonce" in doc["errors"]
    status, doc = await execute(json={"content": "x" * 2001})
    assert status == 400 and "content" in doc["errors"]
    status, doc = await execute(json={"content": " "})
    assert status == 400 and doc["code"] == 50006
    form = aiohttp.FormData()
    form.add_field("payload_json", '{"content": "x"}', content_type="application/json")
    form.add_field("files[0]", JPEG, filename="a.jpg", content_type="image/jpeg")
    status, doc = await execute(data=form)
    assert status == 400 and "without attachments" in doc["message"]
    status, doc = await execute(
        json={"embeds": [{"title": "t", "thumbnail": {"url": "attachment://missing.png"}}]}
    )
    assert status == 400 and "embeds" in doc["errors"]
    status, doc = await execute(json={"content": "ok"})
    assert status == 200 and doc["webhook_id"] == HOOK
    async with session.get(f"{server.webhook_url}/messages/{doc['id']}") as resp:
        assert resp.status == 200 and (await resp.json())["content"] == "ok"
    async with session.get(f"{server.webhook_url}/messages/1") as resp:
        assert resp.status == 404 and (await resp.json())["code"] == 10008
