"""The X adapter against the strict local X server: what it sends, how it fails, how it finds."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import ValidationError

import publisher.adapters.x as xmod
from publisher.adapters.base import (
    Absent,
    AdapterContext,
    AmbiguousError,
    Attention,
    CheckStatus,
    DeliveryRef,
    Found,
    MediaItem,
    PermanentError,
    PostContent,
    RateLimitedError,
    Rendered,
    ThreadMode,
    TransientError,
    Unknowable,
)
from publisher.adapters.x import XAdapter, XSettings, normalize_text
from publisher.adapters.x_auth import OAuth1
from publisher.clock import FakeClock
from publisher.media import MediaRef
from publisher.secrets import Secret
from tests.networks.x.server import XServer, invalid_request, problem

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
MP4 = b"\x00\x00\x00\x18ftypmp42"  # the start of an MP4: what the adapter checks it reads


# ---------------------------------------------------------------------------
# Fixtures and helpers.


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def server(clock: FakeClock) -> AsyncIterator[XServer]:
    async with XServer(now=clock.now) as srv:
        yield srv
    assert srv.problems == [], srv.problems  # every answer matched the documented schema


@pytest.fixture
def waited() -> list[timedelta]:
    return []


@pytest.fixture
async def context(clock: FakeClock, waited: list[timedelta]) -> AsyncIterator[AdapterContext]:
    timeout = aiohttp.ClientTimeout(total=5, sock_connect=1, sock_read=2)

    async def wait(delay: timedelta) -> None:
        waited.append(delay)  # no real sleeping; the clock moves as if we had waited
        await clock.advance(delay)

    async with aiohttp.ClientSession(timeout=timeout) as session:
        yield AdapterContext(session=session, clock=clock, timeout=timeout, wait=wait)


def oauth1(server: XServer, **changes: str) -> dict[str, Any]:
    values = {
        "api_key": server.consumer_key,
        "api_secret": server.consumer_secret,
        "access_token": server.access_token,
        "access_secret": server.access_secret,
        **changes,
    }
    return {k: Secret(f"X_{k.upper()}", v) for k, v in values.items()}


def oauth2(server: XServer, token: str | None = None) -> dict[str, Any]:
    return {"oauth2_token": Secret("X_OAUTH2_TOKEN", token or server.bearer_token)}


def adapter_for(
    server: XServer, context: AdapterContext, creds: dict[str, Any] | None = None, **extra: Any
) -> XAdapter:
    settings = XSettings(**(creds if creds is not None else oauth1(server)), api_base=server.url,
                         **extra)
    return XAdapter("brand-x", settings, context)


def content(text: str, **kw: Any) -> PostContent:
    return PostContent(post_id=kw.pop("post_id", "p1"), account="brand-x", network="x", text=text,
                       **kw)


def ref(post_id: str = "p1") -> DeliveryRef:
    return DeliveryRef(1, post_id, "brand-x", NOW)


def render(adapter: XAdapter, post: PostContent) -> Rendered:
    rendered = adapter.render(post)
    assert not rendered.errors, rendered.errors
    return rendered


def media_file(tmp_path: Path, name: str, data: bytes, mime: str, alt: str = "") -> MediaItem:
    path = tmp_path / name
    path.write_bytes(data)
    return MediaItem(MediaRef.beside(path), alt, mime, len(data))


def render_only() -> XAdapter:
    settings = XSettings(oauth2_token=Secret("X_OAUTH2_TOKEN", None))
    return XAdapter("brand-x", settings, AdapterContext(session=None, clock=FakeClock(NOW)))


# ---------------------------------------------------------------------------
# Rendering: exact payloads, X-weighted lengths.


def test_render_weighted_length_url_and_emoji() -> None:
    rendered = render_only().render(content("Soldes d'hiver ❄️ https://example.com/soldes #soldes"))
    assert rendered.errors == ()
    assert rendered.limit == 280
    [part] = rendered.parts
    assert part.length == 15 + 2 + 1 + 23 + 8  # the emoji counts 2, any URL 23
    assert part.payload == {"text": "Soldes d'hiver ❄️ https://example.com/soldes #soldes"}


def test_render_cjk_counts_double() -> None:
    adapter = render_only()
    fits = adapter.render(content("日本語" * 46 + "日本", thread=ThreadMode.OFF))  # 140 chars
    assert fits.errors == ()
    assert fits.parts[0].length == 280
    over = adapter.render(content("日本語" * 47, thread=ThreadMode.OFF))  # 141 chars
    assert over.errors == ("text is 282 long, the limit is 280 (threads are off)",)


def test_render_image_payload(tmp_path: Path) -> None:
    image = media_file(tmp_path, "a.png", PNG, "image/png", alt="A shop window")
    rendered = render_only().render(content("Hello", media=(image, image)))
    assert rendered.errors == ()
    assert [p.payload for p in rendered.parts] == [
        {"text": "Hello", "media": {"media_ids": ["<media:0>", "<media:1>"]}}
    ]


def test_render_media_only_post_sends_empty_text(tmp_path: Path) -> None:
    image = media_file(tmp_path, "a.png", PNG, "image/png", alt="A shop window")
    rendered = render_only().render(content("", media=(image,)))
    assert rendered.errors == ()
    assert rendered.parts[0].payload == {"text": "", "media": {"media_ids": ["<media:0>"]}}


def test_render_thread_payloads_reply_to_previous_part() -> None:
    rendered = render_only().render(content("one 🧵", extra_parts=("two", "three")))
    assert rendered.errors == ()
    assert [(p.length, p.payload) for p in rendered.parts] == [
        (6, {"text": "one 🧵"}),
        (3, {"text": "two", "reply": {"in_reply_to_tweet_id": "<part:0>"}}),
        (5, {"text": "three", "reply": {"in_reply_to_tweet_id": "<part:1>"}}),
    ]


def test_render_long_text_splits_into_parts_within_the_limit() -> None:
    text = " ".join(f"mot{i}" for i in range(120))  # ~600 weighted
    rendered = render_only().render(content(text))
    assert rendered.errors == ()
    assert len(rendered.parts) >= 3
    assert all(p.length <= 280 for p in rendered.parts)
    assert "reply" not in rendered.parts[0].payload
    for part in rendered.parts[1:]:
        assert part.payload["reply"] == {"in_reply_to_tweet_id": f"<part:{part.index - 1}>"}


def test_render_paid_account_limit(tmp_path: Path) -> None:
    settings = XSettings(oauth2_token=Secret("X_OAUTH2_TOKEN", None), max_length=25_000)
    adapter = XAdapter("brand-x", settings, AdapterContext(session=None, clock=FakeClock(NOW)))
    rendered = adapter.render(content("a" * 1000))
    assert rendered.errors == ()
    assert rendered.limit == 25_000
    assert [p.length for p in rendered.parts] == [1000]


def test_render_media_rules(tmp_path: Path) -> None:
    image = media_file(tmp_path, "a.png", PNG, "image/png", alt="alt")
    gif = media_file(tmp_path, "a.gif", b"GIF89a", "image/gif", alt="alt")
    video = media_file(tmp_path, "a.mp4", MP4 + b"\x00" * 10, "video/mp4", alt="alt")
    adapter = render_only()
    assert adapter.render(content("x", media=(image,) * 5)).errors == (
        "5 images, x takes at most 4",
    )
    assert "x cannot mix images and video/GIF in one post" in adapter.render(
        content("x", media=(image, gif))
    ).errors
    assert adapter.render(content("x", media=(gif, video))).errors == (
        "2 videos/GIFs, x takes at most 1",
    )
    bmp = MediaItem(image.file, "alt", "image/bmp", 10)
    assert adapter.render(content("x", media=(bmp,))).errors == (
        "a.png: image/bmp is not accepted by x",
    )
    big = MediaItem(image.file, "alt", "image/png", 6 * 1024 * 1024)
    assert adapter.render(content("x", media=(big,))).errors == (
        "a.png: 6,291,456 bytes, x takes at most 5,242,880",
    )
    long_alt = MediaItem(image.file, "é" * 1001, "image/png", 10)
    assert adapter.render(content("x", media=(long_alt,))).errors == (
        "a.png: alt text is 1001 characters, x takes at most 1000",
    )


# ---------------------------------------------------------------------------
# Settings.


def test_settings_need_exactly_one_complete_credential_set() -> None:
    s = Secret("S", "value-1234")
    with pytest.raises(ValidationError, match="not both"):
        XSettings(api_key=s, api_secret=s, access_token=s, access_secret=s, oauth2_token=s)
    with pytest.raises(ValidationError, match=r"missing: access_token, access_secret"):
        XSettings(api_key=s, api_secret=s)
    with pytest.raises(ValidationError, match="no X credentials"):
        XSettings()
    with pytest.raises(ValidationError):
        XSettings(oauth2_token=s, user_id="@brand")
    assert XSettings(oauth2_token=s).api_base == "https://api.x.com"


# ---------------------------------------------------------------------------
# Publishing.


async def test_publish_text_oauth1(server: XServer, context: AdapterContext) -> None:
    adapter = adapter_for(server, context)
    rendered = render(adapter, content("Bonjour & bienvenue https://example.com/a"))
    published = await adapter.publish(rendered, ref())
    [post] = server.created
    assert post.auth == "oauth1"
    assert post.body == rendered.parts[0].payload  # exactly what build_payload said
    assert published.remote_id == post.id
    assert published.url == f"https://x.com/i/web/status/{post.id}"
    assert post.text.startswith("Bonjour &amp; bienvenue https://t.co/")


async def test_publish_text_oauth2(server: XServer, context: AdapterContext) -> None:
    adapter = adapter_for(server, context, oauth2(server))
    published = await adapter.publish(render(adapter, content("Hello")), ref())
    [post] = server.created
    assert post.auth == "oauth2"
    assert published.remote_id == post.id


async def test_publish_uses_the_engine_session(
    server: XServer, context: AdapterContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_new_sessions(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the adapter opened its own aiohttp session")

    adapter = adapter_for(server, context)
    rendered = render(adapter, content("Hello"))
    monkeypatch.setattr(aiohttp, "ClientSession", no_new_sessions)
    await adapter.publish(rendered, ref())
    assert len(server.created) == 1


@pytest.mark.parametrize(
    ("creds", "why"),
    [
        (lambda s: oauth1(s, api_secret="wrong-consumer-secret"), "bad OAuth 1.0a signature"),
        (lambda s: oauth1(s, access_secret="wrong-token-secret"), "bad OAuth 1.0a signature"),
        (lambda s: oauth1(s, access_token="999-unknown-token"), "unknown access token"),
        (lambda s: oauth2(s, "wrong-oauth2-token"), "unknown bearer token"),
    ],
)
async def test_wrong_credentials_are_permanent_and_never_echoed(
    server: XServer, context: AdapterContext, creds: Callable[[XServer], dict[str, Any]], why: str
) -> None:
    settings = creds(server)
    adapter = adapter_for(server, context, settings)
    with pytest.raises(PermanentError) as info:
        await adapter.publish(render(adapter, content("Hello")), ref())
    err = info.value
    assert err.attention is Attention.CREDENTIALS
    assert err.status == 401
    assert "account needs attention" in err.reason
    assert server.created == []
    assert any(why in r for r in server.rejections), server.rejections
    for secret in settings.values():
        assert secret.reveal() not in f"{err} {err!r}"


async def test_missing_secret_is_a_credentials_error(
    server: XServer, context: AdapterContext
) -> None:
    adapter = adapter_for(server, context, oauth1(server) | {"access_secret": Secret("X_AS", None)})
    with pytest.raises(PermanentError) as info:
        await adapter.publish(render(adapter, content("Hello")), ref())
    assert info.value.attention is Attention.CREDENTIALS
    assert "X_AS" in info.value.reason
    assert server.requests == []


async def test_rendered_errors_are_never_sent(server: XServer, context: AdapterContext) -> None:
    adapter = adapter_for(server, context)
    rendered = adapter.render(content("日本語" * 200, thread=ThreadMode.OFF))
    assert rendered.errors
    with pytest.raises(PermanentError):
        await adapter.publish(rendered, ref())
    assert server.requests == []


async def test_thread_is_a_reply_chain_in_order(server: XServer, context: AdapterContext) -> None:
    adapter = adapter_for(server, context)
    rendered = render(adapter, content("first", extra_parts=("second", "third")))
    published = await adapter.publish(rendered, ref())
    posts = server.created
    assert [p.text for p in posts] == ["first", "second", "third"]
    assert [p.reply_to for p in posts] == [None, posts[0].id, posts[1].id]
    assert [p.remote_id for p in published.parts] == [p.id for p in posts]
    assert [p.index for p in published.parts] == [0, 1, 2]


async def test_thread_resumes_after_part_two_failed(
    server: XServer, context: AdapterContext
) -> None:
    adapter = adapter_for(server, context)
    rendered = render(adapter, content("first", extra_parts=("second", "third")))
    reset = NOW + timedelta(minutes=15)
    server.fail(
        "POST", "/2/tweets", nth=2, status=429,
        headers={"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(int(reset.timestamp()))},
    )
    with pytest.raises(RateLimitedError) as info:
        await adapter.publish(rendered, ref())
    err = info.value
    assert err.reset_at == reset
    [first] = server.created
    assert [p.remote_id for p in err.partial] == [first.id]

    published = await adapter.publish(rendered, ref(), done=err.partial)
    posts = server.created
    assert [p.text for p in posts] == ["first", "second", "third"]  # "first" posted once
    assert [p.reply_to for p in posts] == [None, first.id, posts[1].id]
    assert [p.remote_id for p in published.parts] == [p.id for p in posts]


async def test_failure_after_the_body_left_keeps_the_partial_thread(
    server: XServer, context: AdapterContext
) -> None:
    adapter = adapter_for(server, context)
    rendered = render(adapter, content("first", extra_parts=("second",)))
    server.fail("POST", "/2/tweets", nth=2, action="reset")
    with pytest.raises(AmbiguousError) as info:
        await adapter.publish(rendered, ref())
    assert [p.index for p in info.value.partial] == [0]


async def test_image_upload_with_alt_text(
    server: XServer, context: AdapterContext, tmp_path: Path
) -> None:
    adapter = adapter_for(server, context)
    image = media_file(tmp_path, "vitrine.png", PNG, "image/png", alt="Vitrine du magasin")
    rendered = render(adapter, content("Soldes ❄️", media=(image,)))
    await adapter.publish(rendered, ref())
    [post] = server.created
    [media_id] = post.media_ids
    media = server.media[media_id]
    assert media.content == PNG
    assert media.category == "tweet_image"
    assert media.content_type == "image/png"
    assert post.alt_texts == ("Vitrine du magasin",)
    assert post.body == {"text": "Soldes ❄️", "media": {"media_ids": [media_id]}}
    [upload] = server.hits("POST", "/2/media/upload")
    assert upload.form is not None and upload.form["media_category"] == "tweet_image"
    assert upload.content_type == "multipart/form-data"
    [meta] = server.hits("POST", "/2/media/metadata")
    assert meta.json == {"id": media_id, "metadata": {"alt_text": {"text": "Vitrine du magasin"}}}


async def test_video_upload_in_segments_with_processing(
    server: XServer,
    context: AdapterContext,
    waited: list[timedelta],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(xmod, "CHUNK_BYTES", 1000)
    server.processing_polls, server.check_after_secs = 3, 7
    data = MP4 + bytes(range(256)) * 10  # 2572 bytes: three segments
    video = media_file(tmp_path, "clip.mp4", data, "video/mp4", alt="A short clip")
    adapter = adapter_for(server, context, oauth2(server))
    await adapter.publish(render(adapter, content("Regardez", media=(video,))), ref())

    [post] = server.created
    [media_id] = post.media_ids
    media = server.media[media_id]
    assert media.content == data
    assert sorted(media.segments) == [0, 1, 2]
    assert (media.category, media.media_type) == ("tweet_video", "video/mp4")
    assert media.total_bytes == len(data)
    assert post.alt_texts == ("A short clip",)
    [init] = server.hits("POST", "/2/media/upload/initialize")
    assert init.json == {
        "media_type": "video/mp4",
        "total_bytes": len(data),
        "media_category": "tweet_video",
    }
    assert len(server.hits("POST", "/2/media/upload/*/append")) == 3
    assert len(server.hits("POST", "/2/media/upload/*/finalize")) == 1
    assert server.status_polls == [media_id] * 3
    assert waited == [timedelta(seconds=7)] * 3  # check_after_secs honoured, via the clock seam


async def test_gif_goes_up_as_tweet_gif(
    server: XServer, context: AdapterContext, tmp_path: Path
) -> None:
    server.processing_polls = 0
    gif = media_file(tmp_path, "a.gif", b"GIF89a" + b"\x00" * 100, "image/gif", alt="")
    adapter = adapter_for(server, context)
    await adapter.publish(render(adapter, content("gif", media=(gif,))), ref())
    [post] = server.created
    media = server.media[post.media_ids[0]]
    assert (media.category, media.media_type) == ("tweet_gif", "image/gif")
    assert post.alt_texts == (None,)
    assert server.hits("POST", "/2/media/metadata") == []


async def test_failed_video_processing_is_permanent(
    server: XServer, context: AdapterContext, tmp_path: Path
) -> None:
    server.processing_outcome = "failed"
    video = media_file(tmp_path, "bad.mp4", MP4 + b"\x00" * 50, "video/mp4", alt="x")
    adapter = adapter_for(server, context)
    with pytest.raises(PermanentError) as info:
        await adapter.publish(render(adapter, content("v", media=(video,))), ref())
    assert info.value.attention is Attention.CONTENT
    assert server.created == []


async def test_processing_that_never_ends_is_transient(
    server: XServer, context: AdapterContext, waited: list[timedelta], tmp_path: Path
) -> None:
    server.processing_polls, server.check_after_secs = 10_000, 60
    video = media_file(tmp_path, "slow.mp4", MP4 + b"\x00" * 50, "video/mp4")
    adapter = adapter_for(server, context)
    with pytest.raises(TransientError, match="still processing"):
        await adapter.publish(render(adapter, content("v", media=(video,))), ref())
    assert sum(waited, timedelta()) <= xmod.MAX_PROCESSING_WAIT
    assert server.created == []


@pytest.mark.parametrize("path", ["/2/media/upload", "/2/media/metadata"])
async def test_media_5xx_is_transient(
    server: XServer, context: AdapterContext, tmp_path: Path, path: str
) -> None:
    server.fail("POST", path, status=503)
    image = media_file(tmp_path, "a.png", PNG, "image/png", alt="alt")
    adapter = adapter_for(server, context)
    with pytest.raises(TransientError) as info:
        await adapter.publish(render(adapter, content("x", media=(image,))), ref())
    assert info.value.status == 503
    assert server.hits("POST", "/2/tweets") == []


@pytest.mark.parametrize(
    ("status", "raw"),
    [
        (502, ("text/html", "<html><body><h1>502 Bad Gateway</h1></body></html>")),
        (200, ("application/json", '{"data": {"id": "18')),
        (200, ("text/plain", "OK")),
    ],
    ids=["html-502", "truncated-200", "text-200"],
)
async def test_media_garbage_is_transient(
    server: XServer, context: AdapterContext, tmp_path: Path, status: int, raw: tuple[str, str]
) -> None:
    server.fail("POST", "/2/media/upload/*/finalize", status=status, raw=raw)
    video = media_file(tmp_path, "a.mp4", MP4 + b"\x00" * 50, "video/mp4")
    adapter = adapter_for(server, context)
    with pytest.raises(TransientError):
        await adapter.publish(render(adapter, content("v", media=(video,))), ref())
    assert server.hits("POST", "/2/tweets") == []


async def test_tweet_html_error_is_ambiguous(server: XServer, context: AdapterContext) -> None:
    server.fail("POST", "/2/tweets", status=502, raw=("text/html", "<h1>Bad Gateway</h1>"))
    adapter = adapter_for(server, context)
    with pytest.raises(AmbiguousError) as info:
        await adapter.publish(render(adapter, content("Hello")), ref())
    assert info.value.status == 502


async def test_media_step_hanging_is_transient(
    server: XServer, clock: FakeClock, tmp_path: Path
) -> None:
    server.fail("POST", "/2/media/upload/*/append", action="hang")
    video = media_file(tmp_path, "a.mp4", MP4 + b"\x00" * 50, "video/mp4")
    timeout = aiohttp.ClientTimeout(total=3, sock_connect=1, sock_read=0.3)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        ctx = AdapterContext(session=session, clock=clock, timeout=timeout)
        adapter = adapter_for(server, ctx)
        with pytest.raises(TransientError):
            await adapter.publish(render(adapter, content("v", media=(video,))), ref())
    assert server.hits("POST", "/2/tweets") == []


async def test_duplicate_is_ambiguous(server: XServer, context: AdapterContext) -> None:
    server.duplicate_texts.add("Already said")
    adapter = adapter_for(server, context)
    with pytest.raises(AmbiguousError) as info:
        await adapter.publish(render(adapter, content("Already said")), ref())
    assert info.value.status == 403
    assert "duplicate content" in info.value.reason


async def test_blind_resend_meets_the_duplicate_check(
    server: XServer, context: AdapterContext
) -> None:
    adapter = adapter_for(server, context)
    rendered = render(adapter, content("Only once"))
    await adapter.publish(rendered, ref())
    with pytest.raises(AmbiguousError):
        await adapter.publish(rendered, ref())
    assert len(server.created) == 1


async def test_bad_request_is_permanent_content_with_x_reason(
    server: XServer, context: AdapterContext
) -> None:
    server.fail("POST", "/2/tweets", status=400,
                body=invalid_request("$.text: text is too long"))
    adapter = adapter_for(server, context)
    with pytest.raises(PermanentError) as info:
        await adapter.publish(render(adapter, content("Hello")), ref())
    assert info.value.attention is Attention.CONTENT
    assert "$.text: text is too long" in info.value.reason


async def test_forbidden_is_permanent_permission_with_x_detail(
    server: XServer, context: AdapterContext
) -> None:
    detail = "You are not permitted to perform this action."
    server.fail("POST", "/2/tweets", status=403, body=problem(403, "Forbidden", detail))
    adapter = adapter_for(server, context)
    with pytest.raises(PermanentError) as info:
        await adapter.publish(render(adapter, content("Hello")), ref())
    assert info.value.attention is Attention.PERMISSION
    assert detail in info.value.reason


async def test_429_waits_for_the_24_hour_cap_when_it_is_spent(
    server: XServer, context: AdapterContext
) -> None:
    window, day = NOW + timedelta(minutes=15), NOW + timedelta(hours=20)
    server.fail("POST", "/2/tweets", status=429, headers={
        "x-rate-limit-remaining": "99",
        "x-rate-limit-reset": str(int(window.timestamp())),
        "x-user-limit-24hour-remaining": "0",
        "x-user-limit-24hour-reset": str(int(day.timestamp())),
    })
    adapter = adapter_for(server, context)
    with pytest.raises(RateLimitedError) as info:
        await adapter.publish(render(adapter, content("Hello")), ref())
    assert info.value.reset_at == day


async def test_429_without_reset(server: XServer, context: AdapterContext) -> None:
    server.fail("POST", "/2/tweets", status=429)
    adapter = adapter_for(server, context)
    with pytest.raises(RateLimitedError) as info:
        await adapter.publish(render(adapter, content("Hello")), ref())
    assert info.value.reset_at is None and info.value.retry_after is None


async def test_tweet_5xx_is_ambiguous(server: XServer, context: AdapterContext) -> None:
    server.fail("POST", "/2/tweets", status=500)
    adapter = adapter_for(server, context)
    with pytest.raises(AmbiguousError):
        await adapter.publish(render(adapter, content("Hello")), ref())


async def test_connection_refused_is_transient(context: AdapterContext) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = XSettings(oauth2_token=Secret("X_OAUTH2_TOKEN", "tok-1234"),
                         api_base=f"http://127.0.0.1:{port}")
    adapter = XAdapter("brand-x", settings, context)
    with pytest.raises(TransientError):
        await adapter.publish(render(adapter, content("Hello")), ref())


# ---------------------------------------------------------------------------
# Lookup and check.


def test_normalize_text_ignores_what_x_rewrites() -> None:
    assert normalize_text("A &amp; B https://t.co/abc123 https://t.co/media") == normalize_text(
        "A & B https://example.com/long/path"
    )
    assert normalize_text("voir https://t.co/x") == normalize_text("voir example.com")


def test_long_posts_match_their_truncated_text_only_when_long() -> None:
    long_post = " ".join(f"mot{i}" for i in range(80))  # over 280: a paid account's post
    assert xmod._same_post(long_post, long_post[:270] + "…")
    short_post = long_post[:200]
    assert not xmod._same_post(short_post + " et la suite", short_post)


async def test_lookup_finds_a_published_post(
    server: XServer, context: AdapterContext, clock: FakeClock, tmp_path: Path
) -> None:
    image = media_file(tmp_path, "a.png", PNG, "image/png", alt="alt")
    adapter = adapter_for(server, context)
    rendered = render(adapter, content("Soldes & promos https://example.com/soldes",
                                       media=(image,)))
    published = await adapter.publish(rendered, ref())
    server.add_post("something else")
    await clock.advance(timedelta(minutes=2))

    fresh = adapter_for(server, context)  # a restarted daemon: no cached user id
    result = await fresh.lookup(ref(), rendered, NOW - timedelta(minutes=1))
    assert result == Found(published)
    [timeline] = server.hits("GET", "/2/users/*/tweets")
    assert timeline.query["tweet.fields"] == "created_at,text"
    assert timeline.query["max_results"] == "100"
    assert timeline.query["start_time"] == "2026-12-01T08:54:00Z"
    assert len(server.hits("GET", "/2/users/me")) == 1


async def test_lookup_finds_every_part_of_a_thread(
    server: XServer, context: AdapterContext
) -> None:
    adapter = adapter_for(server, context, user_id=server.user_id)
    rendered = render(adapter, content("first", extra_parts=("second", "third")))
    published = await adapter.publish(rendered, ref())
    assert await adapter.lookup(ref(), rendered, NOW) == Found(published)
    assert server.hits("GET", "/2/users/me") == []  # user_id from the settings


async def test_lookup_absent_when_the_timeline_was_read_to_the_end(
    server: XServer, context: AdapterContext
) -> None:
    server.page_size = 5
    for i in range(12):
        server.add_post(f"post {i}")
    adapter = adapter_for(server, context)
    rendered = render(adapter, content("never published"))
    assert await adapter.lookup(ref(), rendered, NOW) == Absent()
    assert len(server.hits("GET", "/2/users/*/tweets")) == 3  # every page read


async def test_lookup_across_pages(server: XServer, context: AdapterContext) -> None:
    server.page_size = 5
    target = server.add_post("the one we look for")
    for i in range(12):
        server.add_post(f"later {i}")
    adapter = adapter_for(server, context)
    result = await adapter.lookup(ref(), render(adapter, content("the one we look for")), NOW)
    assert isinstance(result, Found)
    assert result.published.remote_id == target.id


async def test_lookup_ignores_posts_before_since(
    server: XServer, context: AdapterContext
) -> None:
    server.add_post("old news", created_at=NOW - timedelta(days=3))
    adapter = adapter_for(server, context)
    assert await adapter.lookup(ref(), render(adapter, content("old news")), NOW) == Absent()


async def test_lookup_unknowable_when_the_timeline_is_too_long(
    server: XServer, context: AdapterContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(xmod, "LOOKUP_PAGES", 2)
    server.page_size = 5
    for i in range(11):
        server.add_post(f"post {i}")
    adapter = adapter_for(server, context)
    result = await adapter.lookup(ref(), render(adapter, content("nowhere")), NOW)
    assert isinstance(result, Unknowable)


async def test_lookup_unknowable_on_errors(server: XServer, context: AdapterContext) -> None:
    server.fail("GET", "/2/users/*/tweets", status=503)
    adapter = adapter_for(server, context, user_id=server.user_id)
    result = await adapter.lookup(ref(), render(adapter, content("x")), NOW)
    assert isinstance(result, Unknowable)
    assert "503" in result.reason


async def test_check_ok(server: XServer, context: AdapterContext) -> None:
    check = await adapter_for(server, context, oauth2(server)).check()
    assert check.status is CheckStatus.OK
    assert check.identity == "@brand"


async def test_check_bad_credentials(server: XServer, context: AdapterContext) -> None:
    settings = oauth1(server, access_secret="revoked-secret-value")
    check = await adapter_for(server, context, settings).check()
    assert check.status is CheckStatus.ATTENTION
    assert "account needs attention" in check.detail
    assert "revoked-secret-value" not in check.detail


async def test_check_wrong_user_id(server: XServer, context: AdapterContext) -> None:
    check = await adapter_for(server, context, user_id="42").check()
    assert check.status is CheckStatus.ATTENTION
    assert "@brand" in check.detail


# ---------------------------------------------------------------------------
# The strict server itself: it must refuse what X refuses (and a little more).


async def signed(
    server: XServer,
    session: aiohttp.ClientSession,
    method: str,
    route: str,
    *,
    query: list[tuple[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> tuple[int, Any]:
    creds = OAuth1(
        server.consumer_key, server.consumer_secret, server.access_token, server.access_secret
    )
    url, auth = creds.authorize(method, server.url + route, query or [], NOW)
    async with session.request(method, url, headers={**auth, **(headers or {})}, **kwargs) as r:
        return r.status, await r.json(content_type=None)


async def test_server_refuses_unknown_fields_and_bad_values(
    server: XServer, context: AdapterContext
) -> None:
    session = context.http()
    status, doc = await signed(server, session, "POST", "/2/tweets", json={"text": "a", "x": 1})
    assert status == 400 and "'x' was unexpected" in doc["errors"][0]["message"]
    status, doc = await signed(
        server, session, "POST", "/2/tweets",
        json={"text": "a", "reply": {"in_reply_to_tweet_id": "abc"}},
    )
    assert status == 400 and "$.reply.in_reply_to_tweet_id" in doc["errors"][0]["message"]
    status, doc = await signed(
        server, session, "POST", "/2/media/metadata",
        json={"id": "1", "metadata": {"alt_text": {"text": "a", "lang": "fr"}}},
    )
    assert status == 400
    status, _ = await signed(server, session, "GET", "/2/users/me", query=[("bogus", "1")])
    assert status == 400
    status, _ = await signed(
        server, session, "GET", f"/2/users/{server.user_id}/tweets", query=[("max_results", "500")]
    )
    assert status == 400
    assert server.created == []


async def test_server_refuses_wrong_content_types(
    server: XServer, context: AdapterContext
) -> None:
    session = context.http()
    status, _ = await signed(server, session, "POST", "/2/tweets", data={"text": "a"})
    assert status == 415
    status, _ = await signed(
        server, session, "POST", "/2/tweets", data=b'{"text": "a"}',
        headers={"Content-Type": "text/plain"},
    )
    assert status == 415
    status, _ = await signed(
        server, session, "POST", "/2/media/upload/initialize", data={"media_type": "video/mp4"}
    )
    assert status == 415


async def test_server_refuses_missing_stale_and_replayed_signatures(
    server: XServer, context: AdapterContext
) -> None:
    session = context.http()
    async with session.get(server.url + "/2/users/me") as r:
        assert r.status == 401
        assert await r.json() == {
            "title": "Unauthorized", "detail": "Unauthorized", "type": "about:blank", "status": 401
        }
    creds = OAuth1(
        server.consumer_key, server.consumer_secret, server.access_token, server.access_secret
    )
    url, auth = creds.authorize("GET", server.url + "/2/users/me", [], NOW)
    async with session.get(url, headers=auth) as r:
        assert r.status == 200
    async with session.get(url, headers=auth) as r:  # the same nonce again
        assert r.status == 401
    url, auth = creds.authorize("GET", server.url + "/2/users/me", [], NOW - timedelta(hours=1))
    async with session.get(url, headers=auth) as r:
        assert r.status == 401
    url, auth = creds.authorize("GET", server.url + "/2/users/me", [("user.fields", "id")], NOW)
    async with session.get(server.url + "/2/users/me?user.fields=name", headers=auth) as r:
        assert r.status == 401  # the query is part of what is signed
    assert [r.split(": ", 1)[1] for r in server.rejections] == [
        "no Authorization header",
        "nonce replayed",
        "timestamp is 3600s away from the server's clock",
        "bad OAuth 1.0a signature",
    ]


async def test_server_refuses_media_it_does_not_know(
    server: XServer, context: AdapterContext
) -> None:
    session = context.http()
    status, doc = await signed(
        server, session, "POST", "/2/tweets",
        json={"text": "a", "media": {"media_ids": ["1880000000000000999"]}},
    )
    assert status == 400 and doc["errors"][0]["message"] == "Your media IDs are invalid."
