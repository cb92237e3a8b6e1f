"""The Telegram adapter against the strict local Bot API (``server.TelegramServer``)."""

from __future__ import annotations

import traceback
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
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
    MediaItem,
    PermanentError,
    PostContent,
    RateLimitedError,
    Unknowable,
)
from publisher.adapters.telegram import (
    CAPTION_LIMIT,
    LOOKUP_LIMIT,
    TEXT_LIMIT,
    TelegramAdapter,
    TelegramSettings,
    message_url,
)
from publisher.clock import FakeClock
from publisher.media import MediaRef
from publisher.secrets import Secret
from publisher.testing import captured_logs, leaks
from tests.networks.telegram.server import TelegramServer, utf16

TOKEN = "6097531864:AAH-SECRET-canary-bot-token-9b7e21x"
CHAT = "-1001234567890"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64 + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def server(clock: FakeClock) -> AsyncIterator[TelegramServer]:
    async with TelegramServer(token=TOKEN, now=clock.now, topics=frozenset({7})) as tg:
        yield tg


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    timeout = aiohttp.ClientTimeout(total=5, sock_connect=1, sock_read=3)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        yield http


def make(
    base: str,
    session: aiohttp.ClientSession | None,
    clock: FakeClock,
    token: str = TOKEN,
    **settings: Any,
) -> TelegramAdapter:
    s = TelegramSettings(
        bot_token=Secret("TELEGRAM_BOT_TOKEN", token),
        chat_id=settings.pop("chat_id", CHAT),
        api_base=base,
        **settings,
    )
    return TelegramAdapter("brand-tg", s, AdapterContext(session=session, clock=clock))


@pytest.fixture
def adapter(
    server: TelegramServer, session: aiohttp.ClientSession, clock: FakeClock
) -> TelegramAdapter:
    return make(server.url, session, clock)


@pytest.fixture
def offline(clock: FakeClock) -> TelegramAdapter:
    return make("https://api.telegram.org", None, clock)


def item(tmp_path: Path, name: str, data: bytes, mime: str, alt: str = "") -> MediaItem:
    path = tmp_path / name
    path.write_bytes(data)
    return MediaItem(MediaRef.beside(path), alt, mime, len(data))


def post(text: str = "Les soldes d'hiver commencent ! ❄️", **kw: Any) -> PostContent:
    return PostContent(
        post_id="winter-sale", account="brand-tg", network="telegram", text=text, **kw
    )


def ref(clock: FakeClock) -> DeliveryRef:
    return DeliveryRef(42, "winter-sale", "brand-tg", clock.now())


def no_token(*texts: object) -> None:
    for text in texts:
        found = leaks(str(text), TOKEN)
        assert not found, f"the bot token leaked ({found}) in {text!r}"


def error_text(err: BaseException) -> str:
    reason = err.reason if isinstance(err, AdapterError) else ""
    return "\n".join([str(err), repr(err), reason, "".join(traceback.format_exception(err))])


# --------------------------------------------------------------------------- rendering


def test_payload_snapshots(offline: TelegramAdapter, tmp_path: Path) -> None:
    photo = item(tmp_path, "a.jpg", JPEG, "image/jpeg")
    video = item(tmp_path, "b.mp4", MP4, "video/mp4")
    options = {"silent": True, "link_preview": False}
    assert offline.build_payload("Bonjour", (), 0, 1, post(options=options)) == {
        "chat_id": CHAT,
        "text": "Bonjour",
        "link_preview_options": {"is_disabled": True},
        "disable_notification": True,
    }
    assert offline.build_payload("suite", (), 1, 2, post()) == {
        "chat_id": CHAT,
        "text": "suite",
        "reply_parameters": {"message_id": "<part:0>"},
    }
    assert offline.build_payload("Vitrine", (photo,), 0, 1, post()) == {
        "chat_id": CHAT,
        "photo": "<media:0>",
        "caption": "Vitrine",
    }
    assert offline.build_payload("", (video,), 0, 1, post()) == {
        "chat_id": CHAT,
        "video": "<media:0>",
    }
    assert offline.build_payload("Album", (photo, video), 0, 1, post()) == {
        "chat_id": CHAT,
        "media": [
            {"type": "photo", "media": "<media:0>", "caption": "Album"},
            {"type": "video", "media": "<media:1>"},
        ],
    }


def test_topic_thread_id_is_in_every_payload(clock: FakeClock) -> None:
    adapter = make("https://api.telegram.org", None, clock, message_thread_id=7)
    assert adapter.build_payload("x", (), 0, 1, post())["message_thread_id"] == 7


def test_length_is_counted_in_utf16_code_units(offline: TelegramAdapter) -> None:
    """An emoji beyond the BMP counts two: 4,096 of them are 8,192 units, so the text is
    split, every part within 4,096 units, which Telegram takes whether it counts code points
    (as measured) or UTF-16 units (as its entities do)."""
    text = "🎉" * TEXT_LIMIT
    rendered = offline.render(post(text))
    assert not rendered.errors
    assert len(rendered.parts) == 2
    assert all(utf16(p.text) <= TEXT_LIMIT for p in rendered.parts)
    assert rendered.parts[0].length == utf16(rendered.parts[0].text)
    assert len(offline.render(post("é" * TEXT_LIMIT)).parts) == 1  # BMP: one unit each


def test_a_caption_has_its_own_limit(offline: TelegramAdapter, tmp_path: Path) -> None:
    photo = item(tmp_path, "a.jpg", JPEG, "image/jpeg")
    rendered = offline.render(post("mot " * 400, media=(photo,)))
    assert rendered.limit == CAPTION_LIMIT
    assert len(rendered.parts) == 2
    assert all(utf16(p.text) <= CAPTION_LIMIT for p in rendered.parts)
    assert rendered.parts[0].media == (photo,) and rendered.parts[1].media == ()


def test_render_refuses_what_telegram_cannot_take(offline: TelegramAdapter, tmp_path: Path) -> None:
    photos = tuple(item(tmp_path, f"p{i}.jpg", JPEG, "image/jpeg") for i in range(11))
    assert any("at most 10 in all" in e for e in offline.render(post(media=photos)).errors)
    gif = item(tmp_path, "a.gif", b"GIF89a" + b"\x00" * 16, "image/gif")
    assert offline.render(post(media=(gif,))).errors
    alt = item(tmp_path, "alt.jpg", JPEG, "image/jpeg", alt="a shop window")
    assert any("no alt text" in w for w in offline.render(post(media=(alt,))).warnings)


def test_chat_id_is_checked(clock: FakeClock) -> None:
    assert make("https://api.telegram.org", None, clock, chat_id=-1001).settings.chat_id == "-1001"
    assert (
        make("https://x", None, clock, chat_id="@brandchannel").settings.chat_id == "@brandchannel"
    )
    with pytest.raises(ValueError, match="chat_id"):
        make("https://api.telegram.org", None, clock, chat_id="https://t.me/brand")


def test_message_links() -> None:
    assert message_url({"id": -1001234567890, "username": "brand"}, 5) == "https://t.me/brand/5"
    assert message_url({"id": -1001234567890}, 5) == "https://t.me/c/1234567890/5"
    assert message_url({"id": -4242}, 5) is None  # a basic group has no message links


# --------------------------------------------------------------------------- publishing


async def test_text_message(
    adapter: TelegramAdapter, server: TelegramServer, clock: FakeClock
) -> None:
    published = await adapter.publish(adapter.render(post()), ref(clock))
    [message] = server.messages
    assert message.text == "Les soldes d'hiver commencent ! ❄️"
    assert published.remote_id == str(message.message_id)
    assert published.url == f"https://t.me/brandchannel/{message.message_id}"
    assert server.calls == [("sendMessage", "application/json")]


async def test_options_reach_the_chat(
    adapter: TelegramAdapter, server: TelegramServer, clock: FakeClock
) -> None:
    options = {"silent": True, "link_preview": False}
    await adapter.publish(adapter.render(post("https://example.com", options=options)), ref(clock))
    [message] = server.messages
    assert message.silent and message.preview_disabled


async def test_photo_and_video_are_uploaded(
    adapter: TelegramAdapter, server: TelegramServer, clock: FakeClock, tmp_path: Path
) -> None:
    photo = item(tmp_path, "a.jpg", JPEG, "image/jpeg")
    video = item(tmp_path, "b.mp4", MP4, "video/mp4")
    await adapter.publish(adapter.render(post("Vitrine", media=(photo,))), ref(clock))
    await adapter.publish(adapter.render(post("", media=(video,))), ref(clock))
    first, second = server.messages
    assert (first.kind, first.caption, first.file) == (
        "photo",
        "Vitrine",
        ("a.jpg", "image/jpeg", JPEG),
    )
    assert (second.kind, second.caption, second.file) == (
        "video",
        None,
        ("b.mp4", "video/mp4", MP4),
    )
    assert [c[0] for c in server.calls] == ["sendPhoto", "sendVideo"]


async def test_media_group_with_the_caption_on_the_first(
    adapter: TelegramAdapter, server: TelegramServer, clock: FakeClock, tmp_path: Path
) -> None:
    media = (
        item(tmp_path, "a.jpg", JPEG, "image/jpeg"),
        item(tmp_path, "b.png", PNG, "image/png"),
        item(tmp_path, "c.mp4", MP4, "video/mp4"),
    )
    published = await adapter.publish(adapter.render(post("Album", media=media)), ref(clock))
    assert [m.kind for m in server.messages] == ["photo", "photo", "video"]
    assert [m.caption for m in server.messages] == ["Album", None, None]
    assert [m.file[2] for m in server.messages if m.file] == [JPEG, PNG, MP4]
    assert len({m.media_group_id for m in server.messages}) == 1
    [part] = published.parts
    assert part.remote_id == str(server.messages[0].message_id)
    assert part.extra["message_ids"] == tuple(str(m.message_id) for m in server.messages)


async def test_long_text_is_a_reply_chain_in_the_topic(
    server: TelegramServer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    adapter = make(server.url, session, clock, message_thread_id=7)
    text = " ".join(["mot"] * 3000)
    published = await adapter.publish(adapter.render(post(text)), ref(clock))
    ids = [m.message_id for m in server.messages]
    assert len(ids) == 3 and [p.remote_id for p in published.parts] == [str(i) for i in ids]
    assert [m.reply_to for m in server.messages] == [None, ids[0], ids[1]]
    assert all(m.thread_id == 7 for m in server.messages)
    assert " ".join(m.text or "" for m in server.messages).split() == text.split()


async def test_a_thread_resumes_after_its_parts_out(
    adapter: TelegramAdapter, server: TelegramServer, clock: FakeClock
) -> None:
    rendered = adapter.render(post(" ".join(["mot"] * 3000)))
    first = await adapter.publish(replace(rendered, parts=rendered.parts[:1]), ref(clock))
    server.add_message("someone else")  # ids are not consecutive
    server.inject("sendMessage", 500, "Internal Server Error")
    with pytest.raises(AmbiguousError) as info:
        await adapter.publish(rendered, ref(clock), done=first.parts)
    assert info.value.partial == first.parts
    published = await adapter.publish(rendered, ref(clock), done=first.parts)
    ours = [m for m in server.messages if m.text != "someone else"]
    assert [m.text for m in ours] == [p.text for p in rendered.parts]
    assert [m.reply_to for m in ours] == [None, ours[0].message_id, ours[1].message_id]
    assert published.parts[0] == first.parts[0]


async def test_an_album_in_a_topic_silently(
    server: TelegramServer, session: aiohttp.ClientSession, clock: FakeClock, tmp_path: Path
) -> None:
    """Form fields as the Bot API reads them: the topic a number, the flag true/false."""
    adapter = make(server.url, session, clock, message_thread_id=7)
    media = (item(tmp_path, "a.jpg", JPEG, "image/jpeg"), item(tmp_path, "b.mp4", MP4, "video/mp4"))
    options = {"silent": True}
    await adapter.publish(adapter.render(post("Album", media=media, options=options)), ref(clock))
    assert [(m.thread_id, m.silent) for m in server.messages] == [(7, True), (7, True)]


async def test_a_reply_to_a_media_group_answers_its_first_message(
    adapter: TelegramAdapter, server: TelegramServer, clock: FakeClock, tmp_path: Path
) -> None:
    media = (item(tmp_path, "a.jpg", JPEG, "image/jpeg"), item(tmp_path, "b.png", PNG, "image/png"))
    await adapter.publish(adapter.render(post("mot " * 400, media=media)), ref(clock))
    first, _, reply = server.messages
    assert reply.reply_to == first.message_id and reply.caption is None
    assert reply.text is not None and first.caption is not None


# --------------------------------------------------------------------------- errors


async def test_a_migrated_group_names_its_new_id(
    adapter: TelegramAdapter, server: TelegramServer, clock: FakeClock
) -> None:
    server.inject(
        "sendMessage",
        400,
        "Bad Request: group chat was upgraded to a supergroup chat",
        migrate_to_chat_id=-1009876543210,
    )
    with pytest.raises(PermanentError) as info:
        await adapter.publish(adapter.render(post()), ref(clock))
    assert info.value.attention is Attention.CREDENTIALS
    assert "set chat_id = -1009876543210" in info.value.reason


async def test_retry_after_is_read_from_the_body(
    adapter: TelegramAdapter, server: TelegramServer, clock: FakeClock
) -> None:
    server.inject("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
    with pytest.raises(RateLimitedError) as info:
        await adapter.publish(adapter.render(post()), ref(clock))
    assert info.value.retry_after is not None and info.value.retry_after.total_seconds() == 7
    assert "Too Many Requests" in info.value.reason


async def test_an_answer_lost_after_the_send_is_ambiguous(
    adapter: TelegramAdapter, server: TelegramServer, clock: FakeClock
) -> None:
    server.drop("sendMessage", commit=True)
    with pytest.raises(AmbiguousError):
        await adapter.publish(adapter.render(post()), ref(clock))
    assert len(server.messages) == 1  # it is out: only a human can tell (see lookup)


# --------------------------------------------------------------------------- the token canary


async def test_the_bot_token_reaches_no_error_log_or_traceback(
    server: TelegramServer, session: aiohttp.ClientSession, clock: FakeClock, tmp_path: Path
) -> None:
    """The token is in every request's path; an error quoting the path, a wrong address,
    a refused connection, a bad token and an adapter's own bug each leave it out."""
    errors: list[BaseException] = []
    with captured_logs() as logs:
        good = make(server.url, session, clock)
        server.inject("sendMessage", 400, f"Bad Request: can't parse /bot{TOKEN}/sendMessage")
        for adapter, content in [
            (good, post()),
            (make(server.url, session, clock, token=TOKEN + "x"), post()),
            (make("http://127.0.0.1:9", session, clock), post()),
            (make("http://[::1", session, clock), post()),
        ]:
            try:
                await adapter.publish(adapter.render(content), ref(clock))
            except AdapterError as err:
                errors.append(err)
        photo = item(tmp_path, "a.jpg", JPEG, "image/jpeg")
        rendered = good.render(post(media=(photo,)))
        (tmp_path / "a.jpg").unlink()  # gone: read_media refuses, nothing is sent
        try:
            await good.publish(rendered, ref(clock))
        except AdapterError as err:
            errors.append(err)
        checked = await make(server.url, session, clock, token=TOKEN + "x").check()
        result = await good.lookup(ref(clock), good.render(post()), NOW)
    assert len(errors) == 5
    assert "can't parse /bot***/sendMessage" in str(errors[0])
    for err in errors:
        no_token(error_text(err))
    no_token(checked.detail, checked.identity, result, logs.text())


async def test_an_answer_without_ids_is_ambiguous_and_names_no_token(
    adapter: TelegramAdapter, server: TelegramServer, clock: FakeClock
) -> None:
    server.inject("sendMessage", 200, body={"ok": True, "result": {"message_id": "oops"}})
    with captured_logs() as logs, pytest.raises(AmbiguousError) as info:
        await adapter.publish(adapter.render(post()), ref(clock))
    no_token(error_text(info.value), logs.text())


# --------------------------------------------------------------------------- lookup and check


async def test_lookup_says_what_cannot_be_known_and_what_to_check(
    adapter: TelegramAdapter, clock: FakeClock
) -> None:
    result = await adapter.lookup(ref(clock), adapter.render(post()), NOW)
    assert isinstance(result, Unknowable)
    assert LOOKUP_LIMIT in result.reason
    assert "ID 42" in result.reason and CHAT in result.reason
    assert "Les soldes d'hiver" in result.reason
    assert TelegramAdapter.lookup_limit == LOOKUP_LIMIT


async def test_check(adapter: TelegramAdapter, server: TelegramServer) -> None:
    result = await adapter.check()
    assert result.status is CheckStatus.OK
    assert result.identity == "@brand_publisher_bot"
    assert "channel Brand" in result.detail
    assert [c[0] for c in server.calls] == ["getMe", "getChat", "getChatMember"]


@pytest.mark.parametrize(
    ("chat_type", "member", "problem"),
    [
        ("channel", {"status": "member"}, "make it an administrator with the right to post"),
        ("channel", {"status": "administrator", "can_post_messages": False}, "right to post"),
        ("channel", {"status": "left"}, "not in the chat"),
        ("supergroup", {"status": "kicked", "until_date": 0}, "not in the chat"),
        ("supergroup", {"status": "restricted", "can_send_messages": False}, "restricted"),
        ("supergroup", {"status": "member"}, ""),
        ("channel", {"status": "creator", "is_anonymous": False}, ""),
    ],
)
async def test_check_says_when_the_bot_cannot_post(
    session: aiohttp.ClientSession,
    clock: FakeClock,
    chat_type: str,
    member: dict[str, Any],
    problem: str,
) -> None:
    async with TelegramServer(
        token=TOKEN, chat_type=chat_type, bot_member=member, now=clock.now
    ) as server:
        result = await make(server.url, session, clock).check()
    if problem:
        assert result.status is CheckStatus.ATTENTION and problem in result.detail
    else:
        assert result.status is CheckStatus.OK, result.detail


async def test_check_a_chat_the_bot_cannot_see(
    server: TelegramServer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    result = await make(server.url, session, clock, chat_id="@elsewhere").check()
    assert result.status is CheckStatus.ATTENTION
    assert "chat not found" in result.detail


# --------------------------------------------------------------------------- the server itself


async def test_the_server_is_strict(server: TelegramServer, session: aiohttp.ClientSession) -> None:
    base = f"{server.url}/bot{TOKEN}"

    async def call(method: str, **kw: Any) -> tuple[int, dict[str, Any]]:
        async with session.post(f"{base}/{method}", **kw) as resp:
            return resp.status, await resp.json()

    status, doc = await call(
        "sendMessage", json={"chat_id": CHAT, "text": "x", "parse_mod": "HTML"}
    )
    assert status == 400 and "strict server: unknown parameters" in doc["description"]
    status, doc = await call("sendPhoto", json={"chat_id": CHAT, "photo": "https://x/y.jpg"})
    assert status == 400 and "uploaded as a file part" in doc["description"]
    status, doc = await call("sendMessage", json={"chat_id": CHAT, "text": "🎉" * 4097})
    assert status == 400 and doc["description"] == "Bad Request: message is too long"
    status, doc = await call("sendMessage", json={"chat_id": CHAT, "text": "🎉" * 4096})
    assert status == 200 and doc["ok"] is True
    status, doc = await call("getMe")
    assert status == 200 and doc["result"]["is_bot"] is True
    async with session.post(f"{server.url}/bot1:nope/getMe") as resp:
        assert resp.status == 401 and (await resp.json())["description"] == "Unauthorized"
    form = aiohttp.FormData()
    form.add_field("chat_id", CHAT)
    form.add_field(
        "media",
        '[{"type": "photo", "media": "attach://f0"}, {"type": "photo", "media": "attach://f1"}]',
    )
    form.add_field("f0", JPEG, filename="a.jpg", content_type="image/jpeg")
    status, doc = await call("sendMediaGroup", data=form)
    assert status == 400 and "'f1'" in doc["description"]
