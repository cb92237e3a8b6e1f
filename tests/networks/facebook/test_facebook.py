"""The Facebook Pages adapter against the strict local Graph server."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from publisher.adapters.base import (
    Absent,
    AdapterContext,
    AdapterError,
    AmbiguousError,
    Attention,
    CheckStatus,
    DeliveryRef,
    Found,
    LinkCard,
    MediaItem,
    PermanentError,
    PostContent,
    Published,
    RateLimitedError,
    RemotePart,
    TransientError,
    Unknowable,
)
from publisher.adapters.facebook import FacebookAdapter, FacebookSettings, usage_retry_after
from publisher.clock import FakeClock
from publisher.media import MediaRef
from publisher.secrets import Secret
from publisher.text import code_points
from tests.networks.facebook.server import GraphServer, error_body, usage_headers

PAGE_ID = "1234567890"
TOKEN = "EAAG-SECRET-page-token-9b7e21"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64 + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def server(clock: FakeClock) -> AsyncIterator[GraphServer]:
    async with GraphServer(page_id=PAGE_ID, token=TOKEN, now=clock.now) as graph:
        yield graph


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    timeout = aiohttp.ClientTimeout(total=5, sock_connect=1, sock_read=3)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        yield http


def make_adapter(
    base: str,
    session: aiohttp.ClientSession | None,
    clock: FakeClock,
    token: str | None = TOKEN,
) -> FacebookAdapter:
    settings = FacebookSettings(
        page_id=PAGE_ID, page_token=Secret("FB_PAGE_TOKEN", token), api_base=base
    )
    return FacebookAdapter("brand-fb", settings, AdapterContext(session=session, clock=clock))


@pytest.fixture
def adapter(
    server: GraphServer, session: aiohttp.ClientSession, clock: FakeClock
) -> FacebookAdapter:
    return make_adapter(server.url, session, clock)


@pytest.fixture
def offline(clock: FakeClock) -> FacebookAdapter:
    """For pure rendering: no session, no server."""
    return make_adapter("https://graph.facebook.com", None, clock)


@pytest.fixture
def photos(tmp_path: Path) -> list[MediaItem]:
    items = []
    for i in range(4):
        data = JPEG if i % 2 == 0 else PNG
        ext, mime = ("jpg", "image/jpeg") if i % 2 == 0 else ("png", "image/png")
        path = tmp_path / f"photo{i}.{ext}"
        path.write_bytes(data)
        alt = f"alt {i}" if i == 0 else ""
        items.append(MediaItem(MediaRef.beside(path), alt, mime, len(data)))
    return items


def content(text: str = "Les soldes d'hiver commencent ! ❄️", **kw: Any) -> PostContent:
    return PostContent(
        post_id="winter-sale", account="brand-fb", network="facebook", text=text, **kw
    )


def ref(clock: FakeClock) -> DeliveryRef:
    return DeliveryRef(42, "winter-sale", "brand-fb", clock.now())


def assert_no_token(*texts: object) -> None:
    for text in texts:
        assert TOKEN not in str(text), f"token leaked in {text!r}"


def assert_token_only_in_headers(server: GraphServer) -> None:
    for req in server.requests:
        if req.path.endswith("/debug_token"):
            continue  # input_token has no other place in Graph
        assert req.token_via == "header", req
        assert "access_token" not in req.query, req


# --------------------------------------------------------------------------- rendering


def test_capabilities(offline: FacebookAdapter) -> None:
    caps = offline.capabilities()
    assert caps.network == "facebook"
    assert caps.length.count is code_points and caps.length.limit == 63_206
    assert caps.media.max_images == 10 and caps.media.max_videos == 0
    assert caps.media.max_image_bytes == 4 * 1024 * 1024
    assert caps.media.alt_text_max == 0
    assert "image/jpeg" in caps.media.image_types and "image/png" in caps.media.image_types
    assert not caps.threads and caps.link_cards


def test_payload_text(offline: FacebookAdapter) -> None:
    rendered = offline.render(content())
    assert not rendered.errors and not rendered.warnings
    assert [p.payload for p in rendered.parts] == [
        {"message": "Les soldes d'hiver commencent ! ❄️"}
    ]
    assert rendered.parts[0].length == 34  # code points: ❄️ is U+2744 U+FE0F


def test_payload_link(offline: FacebookAdapter) -> None:
    rendered = offline.render(
        content("Soldes : https://example.com/soldes", link=LinkCard("https://example.com/soldes"))
    )
    assert rendered.parts[0].payload == {
        "message": "Soldes : https://example.com/soldes",
        "link": "https://example.com/soldes",
    }
    assert not rendered.warnings


def test_payload_link_card_details_are_not_sent(offline: FacebookAdapter) -> None:
    card = LinkCard("https://example.com/soldes", title="Soldes", description="Tout à -50 %")
    rendered = offline.render(content("Soldes !", link=card))
    assert rendered.parts[0].payload == {"message": "Soldes !", "link": card.url}
    assert any("title, description and thumbnail are not sent" in w for w in rendered.warnings)


def test_payload_single_photo(offline: FacebookAdapter, photos: list[MediaItem]) -> None:
    rendered = offline.render(content(media=(photos[0],)))
    assert rendered.parts[0].payload == {
        "source": "<media:0>",
        "caption": "Les soldes d'hiver commencent ! ❄️",
    }
    # Graph's publish API has no alt text: the shared layer says it is dropped.
    assert any("no alt text; it is dropped" in w for w in rendered.warnings)


def test_payload_several_photos(offline: FacebookAdapter, photos: list[MediaItem]) -> None:
    rendered = offline.render(content(media=tuple(photos[:3])))
    assert rendered.parts[0].payload == {
        "message": "Les soldes d'hiver commencent ! ❄️",
        "attached_media": [
            {"media_fbid": "<media:0>"},
            {"media_fbid": "<media:1>"},
            {"media_fbid": "<media:2>"},
        ],
    }


def test_payload_photo_without_text(offline: FacebookAdapter, photos: list[MediaItem]) -> None:
    assert offline.render(content("", media=(photos[1],))).parts[0].payload == {
        "source": "<media:0>"
    }


def test_photos_with_a_link_card_warn(offline: FacebookAdapter, photos: list[MediaItem]) -> None:
    rendered = offline.render(
        content("Soldes", media=(photos[0],), link=LinkCard("https://example.com/soldes"))
    )
    assert "link" not in rendered.parts[0].payload
    assert any("link card dropped" in w and "not in the text" in w for w in rendered.warnings)


def test_render_refuses_what_facebook_cannot_take(
    offline: FacebookAdapter, photos: list[MediaItem], tmp_path: Path
) -> None:
    too_many = tuple(photos) * 3  # 12 photos
    assert any("at most 10" in e for e in offline.render(content(media=too_many)).errors)
    video = MediaItem(MediaRef.beside(tmp_path / "clip.mp4"), "", "video/mp4", 1000)
    assert offline.render(content(media=(video,))).errors
    big = MediaItem(photos[0].file, "", "image/jpeg", 4 * 1024 * 1024 + 1)
    assert offline.render(content(media=(big,))).errors
    assert offline.render(content("x" * 63_207)).errors  # no threads on Facebook
    assert not offline.render(content("x" * 63_206)).errors


def test_no_token_in_any_payload(offline: FacebookAdapter, photos: list[MediaItem]) -> None:
    for post in (
        content(),
        content(link=LinkCard("https://example.com")),
        content(media=(photos[0],)),
        content(media=tuple(photos)),
    ):
        rendered = offline.render(post)
        assert_no_token(json.dumps([p.payload for p in rendered.parts]), rendered)


# --------------------------------------------------------------------------- publishing


async def test_text_post(adapter: FacebookAdapter, server: GraphServer, clock: FakeClock) -> None:
    published = await adapter.publish(adapter.render(content()), ref(clock))
    [post] = server.posts
    assert post.message == "Les soldes d'hiver commencent ! ❄️"
    assert post.link is None and post.photo_ids == []
    assert published.remote_id == post.id and post.id.startswith(f"{PAGE_ID}_")
    assert published.url == f"https://www.facebook.com/{post.id}"
    [req] = server.requests
    assert (req.method, req.path, req.content_type) == (
        "POST",
        f"/v23.0/{PAGE_ID}/feed",
        "application/json",
    )
    assert_token_only_in_headers(server)


async def test_link_post(adapter: FacebookAdapter, server: GraphServer, clock: FakeClock) -> None:
    post = content("Nos soldes", link=LinkCard("https://example.com/soldes"))
    published = await adapter.publish(adapter.render(post), ref(clock))
    [recorded] = server.posts
    assert (recorded.message, recorded.link) == ("Nos soldes", "https://example.com/soldes")
    assert published.remote_id == recorded.id


async def test_single_photo(
    adapter: FacebookAdapter, server: GraphServer, clock: FakeClock, photos: list[MediaItem]
) -> None:
    published = await adapter.publish(adapter.render(content(media=(photos[0],))), ref(clock))
    [photo] = server.photos.values()
    [post] = server.posts
    assert photo.published and photo.caption == "Les soldes d'hiver commencent ! ❄️"
    assert (photo.filename, photo.content_type, photo.data) == ("photo0.jpg", "image/jpeg", JPEG)
    assert published.remote_id == post.id == photo.post_id
    assert published.parts[0].extra == {"photo_id": photo.id}
    assert [r.path for r in server.requests] == [f"/v23.0/{PAGE_ID}/photos"]
    assert_token_only_in_headers(server)


async def test_several_photos(
    adapter: FacebookAdapter, server: GraphServer, clock: FakeClock, photos: list[MediaItem]
) -> None:
    published = await adapter.publish(adapter.render(content(media=tuple(photos))), ref(clock))
    uploads = list(server.photos.values())
    assert [p.filename for p in uploads] == ["photo0.jpg", "photo1.png", "photo2.jpg", "photo3.png"]
    assert all(not p.published and p.caption is None for p in uploads)
    [post] = server.posts
    assert post.photo_ids == [p.id for p in uploads]  # attached in the editor's order
    assert post.message == "Les soldes d'hiver commencent ! ❄️"
    assert all(p.post_id == post.id for p in uploads)
    assert published.remote_id == post.id
    assert published.parts[0].extra == {"photo_ids": tuple(p.id for p in uploads)}
    paths = [r.path for r in server.requests]
    assert paths == [f"/v23.0/{PAGE_ID}/photos"] * 4 + [f"/v23.0/{PAGE_ID}/feed"]
    assert_token_only_in_headers(server)


async def test_done_part_is_not_sent_again(
    adapter: FacebookAdapter, server: GraphServer, clock: FakeClock
) -> None:
    done = [RemotePart(0, f"{PAGE_ID}_1", "https://www.facebook.com/x")]
    published = await adapter.publish(adapter.render(content()), ref(clock), done)
    assert published == Published(tuple(done))
    assert server.requests == []


async def test_rendered_with_errors_is_refused(
    adapter: FacebookAdapter, server: GraphServer, clock: FakeClock
) -> None:
    with pytest.raises(PermanentError) as info:
        await adapter.publish(adapter.render(content("")), ref(clock))
    assert info.value.attention is Attention.CONTENT
    assert server.requests == []


async def test_unreadable_media_is_permanent(
    adapter: FacebookAdapter, server: GraphServer, clock: FakeClock, photos: list[MediaItem]
) -> None:
    rendered = adapter.render(content(media=(photos[0],)))
    photos[0].file.path.unlink()
    with pytest.raises(PermanentError) as info:
        await adapter.publish(rendered, ref(clock))
    assert "photo0.jpg" in info.value.reason
    assert server.requests == []


async def test_missing_secret_is_a_credentials_problem(
    server: GraphServer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    adapter = make_adapter(server.url, session, clock, token=None)
    with pytest.raises(PermanentError) as info:
        await adapter.publish(adapter.render(content()), ref(clock))
    assert info.value.attention is Attention.CREDENTIALS
    assert "FB_PAGE_TOKEN" in info.value.reason
    assert server.requests == []


async def test_wrong_token_is_refused_by_the_server(
    server: GraphServer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    adapter = make_adapter(server.url, session, clock, token="EAAG-not-the-page-token")
    with pytest.raises(PermanentError) as info:
        await adapter.publish(adapter.render(content()), ref(clock))
    assert info.value.attention is Attention.CREDENTIALS
    assert info.value.status == 401 and "190" in info.value.reason
    assert server.posts == []


# --------------------------------------------------------------------------- error table

# (code, HTTP status or None for the server's default, extra error fields) -> (class, attention)
ERROR_TABLE: list[tuple[int, int | None, dict[str, Any], type[AdapterError], Attention | None]] = [
    (1, 400, {}, TransientError, None),
    (2, 400, {}, TransientError, None),
    (9001, 400, {"is_transient": True}, TransientError, None),
    (1, 503, {}, TransientError, None),
    # A 5xx on the publish request may hide a post (Graph has no idempotency key).
    (2, 500, {"is_transient": True}, AmbiguousError, None),
    (4, None, {}, RateLimitedError, None),
    (17, None, {}, RateLimitedError, None),
    (32, None, {}, RateLimitedError, None),
    (341, None, {}, RateLimitedError, None),
    (613, None, {}, RateLimitedError, None),
    (80001, None, {}, RateLimitedError, None),
    (368, None, {}, RateLimitedError, Attention.FLAGGED),
    (190, None, {"subcode": 463}, PermanentError, Attention.CREDENTIALS),
    (190, 401, {}, PermanentError, Attention.CREDENTIALS),
    (102, None, {}, PermanentError, Attention.CREDENTIALS),
    (10, 403, {}, PermanentError, Attention.PERMISSION),
    (200, None, {}, PermanentError, Attention.PERMISSION),
    (230, None, {}, PermanentError, Attention.PERMISSION),
    (299, None, {}, PermanentError, Attention.PERMISSION),
    (100, None, {"subcode": 33}, PermanentError, Attention.PERMISSION),
    (506, None, {}, AmbiguousError, None),
    (100, None, {}, PermanentError, Attention.CONTENT),
    (1609005, None, {}, PermanentError, Attention.CONTENT),
    (12345, None, {}, PermanentError, None),
]


@pytest.mark.parametrize(
    ("code", "status", "extra", "expected", "attention"),
    ERROR_TABLE,
    ids=[f"{c}-{s or 'default'}" for c, s, *_ in ERROR_TABLE],
)
async def test_graph_error_codes(
    adapter: FacebookAdapter,
    server: GraphServer,
    clock: FakeClock,
    code: int,
    status: int | None,
    extra: dict[str, Any],
    expected: type[AdapterError],
    attention: Attention | None,
) -> None:
    message = f"Graph says no ({code})"
    server.inject_error("feed", code, message, status=status, **extra)
    with pytest.raises(AdapterError) as info:
        await adapter.publish(adapter.render(content()), ref(clock))
    err = info.value
    assert type(err) is expected, err
    assert getattr(err, "attention", None) is attention
    assert message in err.reason and f"Graph error {code}" in err.reason
    assert server.posts == []
    if code == 368:
        assert isinstance(err, RateLimitedError) and err.retry_after == timedelta(hours=24)


async def test_http_error_without_graph_code(
    adapter: FacebookAdapter, server: GraphServer, clock: FakeClock
) -> None:
    cases: list[tuple[int, type[AdapterError], Attention | None]] = [
        (500, AmbiguousError, None),
        (502, AmbiguousError, None),
        (503, TransientError, None),
        (429, RateLimitedError, None),
        (401, PermanentError, Attention.CREDENTIALS),
        (403, PermanentError, Attention.PERMISSION),
        (404, PermanentError, None),
    ]
    for status, expected, attention in cases:
        server.inject_raw("feed", status, "<html>nope</html>", content_type="text/html")
        with pytest.raises(AdapterError) as info:
            await adapter.publish(adapter.render(content()), ref(clock))
        assert type(info.value) is expected, (status, info.value)
        assert getattr(info.value, "attention", None) is attention


# --------------------------------------------------------------------------- rate-limit headers


async def test_usage_headers_give_retry_after(
    adapter: FacebookAdapter, server: GraphServer, clock: FakeClock
) -> None:
    server.inject_error("feed", 32, "(#32) Page request limit reached", headers=usage_headers(17))
    with pytest.raises(RateLimitedError) as info:
        await adapter.publish(adapter.render(content()), ref(clock))
    assert info.value.retry_after == timedelta(minutes=17)
    assert info.value.reset_at is None


async def test_rate_limit_without_usage_time(
    adapter: FacebookAdapter, server: GraphServer, clock: FakeClock
) -> None:
    app_only = {"X-App-Usage": json.dumps({"call_count": 100, "total_time": 9, "total_cputime": 9})}
    server.inject_error("feed", 4, "(#4) Application request limit reached", headers=app_only)
    with pytest.raises(RateLimitedError) as info:
        await adapter.publish(adapter.render(content()), ref(clock))
    assert info.value.retry_after is None and info.value.reset_at is None


async def test_429_without_code_reads_usage(
    adapter: FacebookAdapter, server: GraphServer, clock: FakeClock
) -> None:
    server.inject_raw("feed", 429, "{}", headers=usage_headers(3))
    with pytest.raises(RateLimitedError) as info:
        await adapter.publish(adapter.render(content()), ref(clock))
    assert info.value.retry_after == timedelta(minutes=3)


def test_usage_retry_after_takes_the_longest_wait() -> None:
    buc = {
        "111": [
            {"type": "pages", "call_count": 100, "estimated_time_to_regain_access": 5},
            {"type": "instagram", "call_count": 20, "estimated_time_to_regain_access": 0},
        ],
        "222": [{"type": "pages", "call_count": 100, "estimated_time_to_regain_access": 42}],
    }
    page = {"call_count": 100, "estimated_time_to_regain_access": 7}
    headers = {"X-Business-Use-Case-Usage": json.dumps(buc), "X-Page-Usage": json.dumps(page)}
    assert usage_retry_after(headers) == timedelta(minutes=42)
    assert usage_retry_after({"X-Page-Usage": json.dumps(page)}) == timedelta(minutes=7)
    assert usage_retry_after({"X-App-Usage": "not json", "Retry-After": "90"}) == timedelta(
        seconds=90
    )
    assert usage_retry_after({"X-Business-Use-Case-Usage": json.dumps(usage_headers(0))}) is None
    assert usage_retry_after({}) is None
    lowercase = {"x-business-use-case-usage": json.dumps(buc)}  # as Graph sends over HTTP/2
    assert usage_retry_after(lowercase) == timedelta(minutes=42)


# --------------------------------------------------------------------------- photo uploads


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, json.dumps(error_body(2, "An unexpected error has occurred.", is_transient=True))),
        (502, "<html>Bad Gateway</html>"),
        (200, "OK, uploaded"),
        (200, '{"no_id": true}'),
    ],
    ids=["500-code-2", "502-html", "200-garbage", "200-no-id"],
)
async def test_unpublished_upload_failures_are_transient(
    adapter: FacebookAdapter,
    server: GraphServer,
    clock: FakeClock,
    photos: list[MediaItem],
    status: int,
    body: str,
) -> None:
    """Nothing is visible before the feed post: a failed hidden upload is safe to retry."""
    ctype = "application/json" if body.startswith("{") else "text/html"
    server.inject_raw("photos-unpublished", status, body, content_type=ctype)
    with pytest.raises(TransientError):
        await adapter.publish(adapter.render(content(media=tuple(photos[:2]))), ref(clock))
    assert server.posts == []


async def test_connection_reset_on_hidden_upload_is_transient(
    adapter: FacebookAdapter, server: GraphServer, clock: FakeClock, photos: list[MediaItem]
) -> None:
    server.inject_drop("photos-unpublished")
    with pytest.raises(TransientError):
        await adapter.publish(adapter.render(content(media=tuple(photos[:2]))), ref(clock))
    assert server.posts == []


async def test_connection_reset_on_feed_is_ambiguous(
    adapter: FacebookAdapter, server: GraphServer, clock: FakeClock, photos: list[MediaItem]
) -> None:
    server.inject_drop("feed", commit=True)
    with pytest.raises(AmbiguousError):
        await adapter.publish(adapter.render(content(media=tuple(photos[:2]))), ref(clock))
    assert len(server.posts) == 1


async def test_published_photo_garbage_is_ambiguous(
    adapter: FacebookAdapter, server: GraphServer, clock: FakeClock, photos: list[MediaItem]
) -> None:
    server.inject_raw("photos", 200, '{"unexpected": 1}', commit=True)
    with pytest.raises(AmbiguousError):
        await adapter.publish(adapter.render(content(media=(photos[0],))), ref(clock))
    assert len(server.posts) == 1  # it did land


async def test_feed_failure_after_uploads(
    adapter: FacebookAdapter, server: GraphServer, clock: FakeClock, photos: list[MediaItem]
) -> None:
    server.inject_raw("feed", 502, "<html>Bad Gateway</html>", content_type="text/html")
    with pytest.raises(AmbiguousError):
        await adapter.publish(adapter.render(content(media=tuple(photos[:2]))), ref(clock))
    # A retry after the lookup said Absent uploads fresh photos and posts once.
    published = await adapter.publish(adapter.render(content(media=tuple(photos[:2]))), ref(clock))
    [post] = server.posts
    assert published.remote_id == post.id and len(post.photo_ids) == 2


# --------------------------------------------------------------------------- lookup


async def test_lookup_finds_a_post_whose_answer_was_lost(
    adapter: FacebookAdapter, server: GraphServer, clock: FakeClock
) -> None:
    server.add_post("Something else", NOW - timedelta(minutes=1))
    server.inject_raw("feed", 500, "{}", commit=True)
    rendered = adapter.render(content())
    with pytest.raises(AmbiguousError):
        await adapter.publish(rendered, ref(clock))
    landed = server.posts[-1]
    result = await adapter.lookup(ref(clock), rendered, NOW)
    assert isinstance(result, Found)
    number = landed.id.partition("_")[2]
    assert result.published.remote_id == landed.id
    assert result.published.url == f"https://www.facebook.com/{PAGE_ID}/posts/{number}"
    assert_token_only_in_headers(server)


async def test_lookup_absent(
    adapter: FacebookAdapter, server: GraphServer, clock: FakeClock
) -> None:
    server.add_post("Les soldes d'hiver commencent ! ❄️", NOW - timedelta(days=30))  # too old
    server.add_post("Un autre message", NOW + timedelta(seconds=5))
    result = await adapter.lookup(ref(clock), adapter.render(content()), NOW)
    assert isinstance(result, Absent)


async def test_lookup_follows_pages_without_the_echoed_token(
    adapter: FacebookAdapter, server: GraphServer, clock: FakeClock
) -> None:
    server.page_size = 2
    wanted = server.add_post("Les soldes d'hiver commencent ! ❄️", NOW + timedelta(seconds=1))
    for i in range(5):  # newer posts push ours to the third page
        server.add_post(f"post {i}", NOW + timedelta(minutes=i + 1))
    result = await adapter.lookup(ref(clock), adapter.render(content()), NOW)
    assert isinstance(result, Found) and result.published.remote_id == wanted
    posts_requests = [r for r in server.requests if r.path.endswith("/posts")]
    assert len(posts_requests) == 3
    assert_token_only_in_headers(server)  # Graph's `next` URL carries it: not followed as is


async def test_lookup_gives_up_after_too_many_pages(
    adapter: FacebookAdapter, server: GraphServer, clock: FakeClock
) -> None:
    server.page_size = 1
    for i in range(8):
        server.add_post(f"post {i}", NOW + timedelta(minutes=i))
    result = await adapter.lookup(ref(clock), adapter.render(content()), NOW)
    assert isinstance(result, Unknowable)


async def test_lookup_unknowable(
    adapter: FacebookAdapter, server: GraphServer, clock: FakeClock, photos: list[MediaItem]
) -> None:
    server.inject_error("posts", 2, "Service temporarily unavailable")
    result = await adapter.lookup(ref(clock), adapter.render(content()), NOW)
    assert isinstance(result, Unknowable) and "Service temporarily unavailable" in result.reason
    no_text = adapter.render(content("", media=(photos[0],)))
    assert isinstance(await adapter.lookup(ref(clock), no_text, NOW), Unknowable)


# --------------------------------------------------------------------------- check


async def test_check_ok_with_expiry(adapter: FacebookAdapter, server: GraphServer) -> None:
    expiry = datetime(2027, 3, 1, tzinfo=UTC)
    server.data_access_expires_at = int(expiry.timestamp())
    result = await adapter.check()
    assert result.status is CheckStatus.OK
    assert result.identity == f"Brand Page ({PAGE_ID})"
    assert result.expires_at == expiry and "data access" in result.detail
    assert_no_token(result)


async def test_check_token_that_never_expires(
    adapter: FacebookAdapter, server: GraphServer
) -> None:
    result = await adapter.check()
    assert result.status is CheckStatus.OK and result.expires_at is None
    assert "does not expire" in result.detail


async def test_check_debug_token_failure_is_not_fatal(
    adapter: FacebookAdapter, server: GraphServer
) -> None:
    server.inject_error("debug_token", 100, f"bad https://x/?input_token={TOKEN}&a=1")
    result = await adapter.check()
    assert result.status is CheckStatus.OK and "expiry unknown" in result.detail
    assert_no_token(result)


async def test_check_bad_token(
    server: GraphServer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    adapter = make_adapter(server.url, session, clock, token="EAAG-revoked-token-0000")
    result = await adapter.check()
    assert result.status is CheckStatus.ATTENTION and "190" in result.detail


# --------------------------------------------------------------------------- secrets


async def test_token_never_in_errors_or_logs(
    adapter: FacebookAdapter,
    server: GraphServer,
    clock: FakeClock,
    photos: list[MediaItem],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    echo = f"Invalid URL https://graph.facebook.com/v23.0/me/feed?access_token={TOKEN}&x=1"
    server.inject_error("feed", 100, echo)
    with pytest.raises(PermanentError) as info:
        await adapter.publish(adapter.render(content()), ref(clock))
    err = info.value
    assert "access_token=***" in err.reason
    assert_no_token(err, repr(err), err.reason, err.__cause__)
    await adapter.publish(adapter.render(content(media=tuple(photos[:2]))), ref(clock))
    await adapter.lookup(ref(clock), adapter.render(content()), NOW)
    await adapter.check()
    assert caplog.records, "expected some log lines to check"
    for record in caplog.records:
        assert_no_token(record.getMessage())


# --------------------------------------------------------------------------- the server itself


@pytest.fixture
def http_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


async def _graph(
    session: aiohttp.ClientSession, method: str, url: str, **kw: Any
) -> tuple[int, dict[str, Any]]:
    async with session.request(method, url, **kw) as resp:
        return resp.status, await resp.json()


async def test_server_rejects_unknown_fields(
    server: GraphServer, session: aiohttp.ClientSession, http_headers: dict[str, str]
) -> None:
    feed = f"{server.url}/v23.0/{PAGE_ID}/feed"
    status, doc = await _graph(
        session, "POST", feed, json={"message": "hi", "privacy": "{}"}, headers=http_headers
    )
    assert status == 400 and doc["error"]["code"] == 100
    assert "strict server" in doc["error"]["message"]
    status, doc = await _graph(session, "POST", feed, data=b"hi", headers=http_headers)
    assert status == 400 and "not application/octet-stream" in doc["error"]["message"]
    status, doc = await _graph(
        session,
        "POST",
        feed,
        json={"message": "hi", "attached_media": [{"id": "1"}]},
        headers=http_headers,
    )
    assert status == 400 and "attached_media[0]" in doc["error"]["message"]
    status, doc = await _graph(
        session,
        "POST",
        feed,
        json={"attached_media": [{"media_fbid": "999"}]},
        headers=http_headers,
    )
    assert status == 400 and "invalid media_fbid" in doc["error"]["message"]
    photos_url = f"{server.url}/v23.0/{PAGE_ID}/photos"
    status, doc = await _graph(
        session, "POST", photos_url, json={"url": "https://x/y.jpg"}, headers=http_headers
    )
    assert status == 400 and "multipart" in doc["error"]["message"]
    assert server.posts == [] and server.photos == {}


async def test_server_requires_the_page_token(
    server: GraphServer, session: aiohttp.ClientSession
) -> None:
    feed = f"{server.url}/v23.0/{PAGE_ID}/feed"
    status, doc = await _graph(session, "POST", feed, json={"message": "hi"})
    assert status == 400 and doc["error"]["code"] == 190
    assert doc["error"]["type"] == "OAuthException" and "fbtrace_id" in doc["error"]
    status, doc = await _graph(
        session, "POST", feed, json={"message": "hi"}, headers={"Authorization": "Bearer nope"}
    )
    assert status == 401 and doc["error"]["code"] == 190
    # Graph also takes the token as a form field; the server accepts it the same way.
    status, doc = await _graph(
        session, "POST", feed, data={"message": "hi", "access_token": TOKEN}
    )
    assert status == 200 and doc["id"].startswith(f"{PAGE_ID}_")
    assert server.requests[-1].token_via == "body"


async def test_server_form_attached_media(
    server: GraphServer, session: aiohttp.ClientSession, http_headers: dict[str, str]
) -> None:
    form = aiohttp.FormData()
    form.add_field("source", JPEG, filename="a.jpg", content_type="image/jpeg")
    form.add_field("published", "false")
    status, doc = await _graph(
        session, "POST", f"{server.url}/v23.0/{PAGE_ID}/photos", data=form, headers=http_headers
    )
    assert status == 200 and set(doc) == {"id"}
    body = {"message": "hi", "attached_media[0]": json.dumps({"media_fbid": doc["id"]})}
    status, _ = await _graph(
        session, "POST", f"{server.url}/v23.0/{PAGE_ID}/feed", data=body, headers=http_headers
    )
    assert status == 200 and server.posts[0].photo_ids == [doc["id"]]


def test_render_twice_is_identical(offline: FacebookAdapter) -> None:
    first, second = offline.render(content()), offline.render(content())
    assert first == second
