"""The Instagram adapter against the strict local Instagram Graph API (``InstagramServer``),
media fetched by the server from a really served directory (``ServedDirectory``)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

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
    TransientError,
    Unknowable,
)
from publisher.adapters.instagram import InstagramAdapter, InstagramSettings
from publisher.clock import FakeClock
from publisher.engine.decide import RetryAt, RetryPolicy, after_error
from publisher.media import MediaRef
from publisher.secrets import Secret
from publisher.states import Outcome
from publisher.testing.hosting import ServedDirectory
from publisher.text import code_points
from tests.networks.instagram.server import InstagramServer

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
TOKEN = "EAAG-SECRET-ig-token-6b0f"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64 + b"\xff\xd9"
JPEG2 = b"\xff\xd8\xff\xe1" + b"\x01" * 64 + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64
CAPTION = "Nouvelle collection d'automne 🍂 #automne @atelier"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def server(clock: FakeClock) -> AsyncIterator[InstagramServer]:
    async with InstagramServer(token=TOKEN, now=clock.now) as ig:
        yield ig


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    timeout = aiohttp.ClientTimeout(total=5, sock_connect=1, sock_read=3)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        yield http


@pytest.fixture
async def served(tmp_path: Path, session: aiohttp.ClientSession) -> AsyncIterator[ServedDirectory]:
    async with ServedDirectory(tmp_path / "public", session) as directory:
        yield directory


@pytest.fixture
def pauses(clock: FakeClock) -> list[timedelta]:
    return []


def make(
    server: InstagramServer,
    session: aiohttp.ClientSession | None,
    clock: FakeClock,
    served: ServedDirectory | None,
    pauses: list[timedelta] | None = None,
    token: str = TOKEN,
) -> InstagramAdapter:
    async def wait(delay: timedelta) -> None:
        if pauses is not None:
            pauses.append(delay)
        await clock.advance(delay)

    settings = InstagramSettings(
        user_id=server.user_id, token=Secret("IG_TOKEN", token), api_base=server.url
    )
    context = AdapterContext(
        session=session, clock=clock, wait=wait, host=served.host if served else None
    )
    return InstagramAdapter("brand-ig", settings, context)


@pytest.fixture
def adapter(
    server: InstagramServer,
    session: aiohttp.ClientSession,
    clock: FakeClock,
    served: ServedDirectory,
    pauses: list[timedelta],
) -> InstagramAdapter:
    return make(server, session, clock, served, pauses)


@pytest.fixture
def offline(clock: FakeClock) -> InstagramAdapter:
    settings = InstagramSettings(user_id="1", token=Secret("IG_TOKEN", TOKEN))
    return InstagramAdapter("brand-ig", settings, AdapterContext(session=None, clock=clock))


def media(tmp_path: Path, name: str, data: bytes, mime: str, alt: str = "") -> MediaItem:
    path = tmp_path / name
    path.write_bytes(data)
    return MediaItem(MediaRef.beside(path), alt, mime, len(data))


@pytest.fixture
def photo(tmp_path: Path) -> MediaItem:
    return media(tmp_path, "veste.jpg", JPEG, "image/jpeg", "Une veste en laine rousse")


def content(text: str = CAPTION, **kw: Any) -> PostContent:
    return PostContent(post_id="automne", account="brand-ig", network="instagram", text=text, **kw)


def ref(clock: FakeClock) -> DeliveryRef:
    return DeliveryRef(11, "automne", "brand-ig", clock.now())


def token_only_in_headers(server: InstagramServer) -> None:
    for req in server.requests:
        assert req.token_via == "header", req
        assert "access_token" not in req.query, req


# --------------------------------------------------------------------------- render


def test_capabilities(offline: InstagramAdapter) -> None:
    caps = offline.capabilities()
    assert caps.length.count is code_points and caps.length.limit == 2_200
    assert not caps.threads and not caps.link_cards
    assert caps.media.image_types == frozenset({"image/jpeg"})
    assert caps.media.max_images == 10 and caps.media.mix_images_and_video


def test_payloads(offline: InstagramAdapter, photo: MediaItem, tmp_path: Path) -> None:
    assert offline.render(content(media=(photo,))).parts[0].payload == {
        "image_url": "<media:0>",
        "alt_text": "Une veste en laine rousse",
        "caption": CAPTION,
    }
    reel = media(tmp_path, "defile.mp4", MP4, "video/mp4")
    assert offline.render(content(media=(reel,))).parts[0].payload == {
        "media_type": "REELS",
        "video_url": "<media:0>",
        "caption": CAPTION,
    }
    assert offline.render(content("", media=(photo, reel))).parts[0].payload == {
        "media_type": "CAROUSEL",
        "children": [
            {
                "image_url": "<media:0>",
                "alt_text": "Une veste en laine rousse",
                "is_carousel_item": True,
            },
            {"media_type": "VIDEO", "video_url": "<media:1>", "is_carousel_item": True},
        ],
    }


def test_render_errors(offline: InstagramAdapter, photo: MediaItem, tmp_path: Path) -> None:
    def errors(post: PostContent) -> str:
        return " | ".join(offline.render(post).errors)

    assert "needs an image or a video" in errors(content())
    assert not errors(content(media=(photo,)))
    assert "the limit is 2200" in errors(content("x" * 2_201, media=(photo,)))
    tags = " ".join(f"#tag{i}a" for i in range(31))
    assert "31 hashtags" in errors(content(tags, media=(photo,)))
    assert "hashtags" not in errors(content(" ".join(f"#t{i}a" for i in range(30)), media=(photo,)))
    mentions = " ".join(f"@user{i}" for i in range(21))
    assert "21 mentions" in errors(content(mentions, media=(photo,)))
    png = media(tmp_path, "logo.png", PNG, "image/png", "logo")
    assert "image/png is not accepted" in errors(content(media=(png,)))
    assert "at most 10" in errors(content(media=(photo,) * 11))


def test_alt_text_on_a_reel_is_dropped_with_a_warning(
    offline: InstagramAdapter, tmp_path: Path
) -> None:
    reel = media(tmp_path, "defile.mp4", MP4, "video/mp4", "le défilé")
    rendered = offline.render(content(media=(reel,)))
    assert any("alt text for images only" in w for w in rendered.warnings)
    assert "alt_text" not in rendered.parts[0].payload


# --------------------------------------------------------------------------- publishing


async def test_photo_post_end_to_end(
    adapter: InstagramAdapter,
    server: InstagramServer,
    served: ServedDirectory,
    clock: FakeClock,
    photo: MediaItem,
    pauses: list[timedelta],
) -> None:
    published = await adapter.publish(adapter.render(content(media=(photo,))), ref(clock))
    [post] = server.posts
    assert post.text == CAPTION
    assert post.container.fetched == [JPEG]  # the server fetched the bytes served
    assert post.container.body["alt_text"] == "Une veste en laine rousse"
    assert published.remote_id == post.id
    assert published.url == f"https://www.instagram.com/p/{post.id}"
    # The container answered IN_PROGRESS once: one pause, a minute, as Instagram advises.
    assert pauses == [timedelta(minutes=1)]
    [name] = served.names()
    assert served.fetched.count(f"/media/{name}") == 2  # the host's check, the network's fetch
    token_only_in_headers(server)


async def test_reel_and_carousel(
    adapter: InstagramAdapter,
    server: InstagramServer,
    clock: FakeClock,
    photo: MediaItem,
    tmp_path: Path,
) -> None:
    reel = media(tmp_path, "defile.mp4", MP4, "video/mp4")
    await adapter.publish(adapter.render(content(media=(reel,))), ref(clock))
    assert server.posts[-1].container.body["media_type"] == "REELS"
    other = media(tmp_path, "echarpe.jpg", JPEG2, "image/jpeg", "Une écharpe")
    published = await adapter.publish(
        adapter.render(content(media=(photo, reel, other))), ref(clock)
    )
    carousel = server.posts[-1]
    assert carousel.container.body["media_type"] == "CAROUSEL"
    assert [c.fetched for c in carousel.children] == [[JPEG], [MP4], [JPEG2]]
    assert [c.body.get("media_type") for c in carousel.children] == [None, "VIDEO", None]
    assert published.remote_id == carousel.id and carousel.text == CAPTION


async def test_without_a_media_host_nothing_is_sent(
    server: InstagramServer, session: aiohttp.ClientSession, clock: FakeClock, photo: MediaItem
) -> None:
    adapter = make(server, session, clock, None)
    rendered = adapter.render(content(media=(photo,)))
    assert any("configure a media host ([media]" in e for e in rendered.errors)
    with pytest.raises(PermanentError) as info:
        await adapter.publish(rendered, ref(clock))
    assert info.value.attention is Attention.CONTENT
    assert server.requests == []


async def test_container_error_is_the_posts_fault(
    adapter: InstagramAdapter, server: InstagramServer, clock: FakeClock, photo: MediaItem
) -> None:
    server.end_next_container("ERROR", "Error: media could not be processed")
    with pytest.raises(PermanentError) as info:
        await adapter.publish(adapter.render(content(media=(photo,))), ref(clock))
    assert info.value.attention is Attention.CONTENT
    assert "media could not be processed" in info.value.reason
    assert server.posts == []


async def test_container_never_ready_is_transient(
    adapter: InstagramAdapter,
    server: InstagramServer,
    clock: FakeClock,
    photo: MediaItem,
    pauses: list[timedelta],
) -> None:
    server.processing_polls = 99
    with pytest.raises(TransientError):
        await adapter.publish(adapter.render(content(media=(photo,))), ref(clock))
    assert pauses == [timedelta(minutes=1)] * 5  # "no more than 5 minutes"
    assert server.posts == []


async def test_lost_publish_answer_then_lookup(
    adapter: InstagramAdapter, server: InstagramServer, clock: FakeClock, photo: MediaItem
) -> None:
    server.add_post("Un autre jour", NOW - timedelta(hours=2))
    server.inject_raw(
        "publish", 502, "<html>Bad Gateway</html>", content_type="text/html", commit=True
    )
    rendered = adapter.render(content(media=(photo,)))
    with pytest.raises(AmbiguousError):
        await adapter.publish(rendered, ref(clock))
    landed = server.posts[-1]
    result = await adapter.lookup(ref(clock), rendered, NOW - timedelta(hours=1))
    assert isinstance(result, Found) and result.published.remote_id == landed.id
    assert result.published.url == f"https://www.instagram.com/p/{landed.id}"
    nothing = await adapter.lookup(
        ref(clock), adapter.render(content("Jamais publié")), NOW - timedelta(hours=1)
    )
    assert isinstance(nothing, Absent)


# --------------------------------------------------------------------------- the daily limit


async def test_the_51st_post_is_held_not_failed_and_goes_out_when_the_window_frees(
    adapter: InstagramAdapter, server: InstagramServer, clock: FakeClock, photo: MediaItem
) -> None:
    """50 posts through the adapter over the day; the 51st is a rate limit the engine holds
    the account for (no attempt spent, nothing failed) until the first of the 50 is 24 hours
    old; then it goes out."""
    server.processing_polls = 0
    first_at = clock.now()
    for i in range(50):
        post = content(f"{CAPTION} n°{i}", media=(photo,))
        await adapter.publish(adapter.render(post), ref(clock))
        await clock.advance(timedelta(minutes=10))
    assert len(server.posts) == 50
    fifty_first = adapter.render(content(media=(photo,)))
    with pytest.raises(RateLimitedError) as info:
        await adapter.publish(fifty_first, ref(clock))
    err = info.value
    assert err.reset_at == first_at + timedelta(hours=24)
    assert "50 of 50" in err.reason
    assert len(server.posts) == 50  # nothing was sent: checked before the container
    step = after_error(err, 3, clock.now(), RetryPolicy(), 0.5)
    assert isinstance(step, RetryAt) and step.outcome is Outcome.RATE_LIMITED
    assert step.at == step.account_limited_until == first_at + timedelta(hours=24)
    await clock.set(step.at)
    published = await adapter.publish(fifty_first, ref(clock))
    assert published.remote_id == server.posts[-1].id and len(server.posts) == 51


async def test_limit_read_from_the_network(
    adapter: InstagramAdapter, server: InstagramServer, clock: FakeClock, photo: MediaItem
) -> None:
    """The documented 50 is only the default: the network's own figure counts."""
    server.quota_total = 2
    server.add_post("un", NOW - timedelta(hours=20))
    server.add_post("deux", NOW - timedelta(hours=1))
    with pytest.raises(RateLimitedError) as info:
        await adapter.publish(adapter.render(content(media=(photo,))), ref(clock))
    assert info.value.reset_at == NOW + timedelta(hours=4)


async def test_window_unknown_rechecks_in_an_hour(
    adapter: InstagramAdapter, server: InstagramServer, clock: FakeClock, photo: MediaItem
) -> None:
    server.quota_total = 1
    server.add_post("un", NOW - timedelta(hours=1))
    server.inject_error("list", 2, "Service temporarily unavailable", status=503)
    with pytest.raises(RateLimitedError) as info:
        await adapter.publish(adapter.render(content(media=(photo,))), ref(clock))
    assert info.value.reset_at is None and info.value.retry_after == timedelta(hours=1)


# --------------------------------------------------------------------------- check, secrets


async def test_check(adapter: InstagramAdapter, server: InstagramServer) -> None:
    expiry = datetime(2027, 1, 30, tzinfo=UTC)
    server.token_expires_at = int(expiry.timestamp())
    result = await adapter.check()
    assert result.status is CheckStatus.OK
    assert result.identity == f"@brand ({server.user_id})"
    assert "0 of 50" in result.detail and result.expires_at == expiry
    assert f"token expires {expiry.isoformat()}" in result.detail
    assert server.requests[0].path == f"/v23.0/{server.user_id}"
    assert TOKEN not in repr(result)
    server.inject_raw("debug_token", 200, json.dumps({"data": {"is_valid": False}}))
    invalid = await adapter.check()
    assert invalid.status is CheckStatus.ATTENTION and "not valid" in invalid.detail


async def test_revoked_token(
    server: InstagramServer,
    session: aiohttp.ClientSession,
    clock: FakeClock,
    served: ServedDirectory,
    photo: MediaItem,
) -> None:
    adapter = make(server, session, clock, served, token="EAAG-revoked")
    with pytest.raises(PermanentError) as info:
        await adapter.publish(adapter.render(content(media=(photo,))), ref(clock))
    assert info.value.attention is Attention.CREDENTIALS
    assert TOKEN not in info.value.reason and "EAAG-revoked" not in info.value.reason
    check = await adapter.check()
    assert check.status is CheckStatus.ATTENTION and "190" in check.detail


def test_no_token_in_payloads(offline: InstagramAdapter, photo: MediaItem) -> None:
    rendered = offline.render(content(media=(photo, photo)))
    assert TOKEN not in json.dumps([p.payload for p in rendered.parts])


# --------------------------------------------------------------------------- the server itself


async def test_server_refuses_what_instagram_would(
    server: InstagramServer, session: aiohttp.ClientSession, served: ServedDirectory
) -> None:
    media_url = f"{server.url}/v23.0/{server.user_id}/media"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    from publisher.media import MediaFile

    png_url = await served.host.public_url(
        MediaFile("image/png", len(PNG), (0, 0, 0, 0), PNG), suffix=".png"
    )
    for body, expected in [
        ({"image_url": png_url}, "Media download has failed"),  # PNG: not JPEG
        ({"image_url": f"{server.url}/missing.jpg"}, "Media download has failed"),
        ({"image_url": png_url, "location": "x"}, "strict server"),
        ({"media_type": "REELS", "video_url": png_url, "alt_text": "x"}, "strict server"),
        ({"media_type": "CAROUSEL", "children": ["1"]}, "2 to 10 items"),
    ]:
        async with session.post(media_url, json=body, headers=headers) as resp:
            doc = await resp.json()
        assert resp.status == 400 and expected in doc["error"]["message"], (body, doc)
    async with session.post(media_url, json={"image_url": png_url}) as resp:
        assert (await resp.json())["error"]["code"] == 190  # no token
    assert server.containers == {}


async def test_publish_refused_as_not_ready_is_transient(
    adapter: InstagramAdapter, server: InstagramServer, clock: FakeClock, photo: MediaItem
) -> None:
    """9007/2207027: the container was not ready, nothing was published; a retry (a new
    container) posts once."""
    server.inject_error("publish", 9007, "The media is not ready for publishing", subcode=2207027)
    rendered = adapter.render(content(media=(photo,)))
    with pytest.raises(TransientError):
        await adapter.publish(rendered, ref(clock))
    assert server.posts == []
    await adapter.publish(rendered, ref(clock))
    assert len(server.posts) == 1


# --------------------------------------------------------------------------- first comment

COMMENT = "Toute la collection : lien dans la bio 🍂"


def test_first_comment_payload_and_length(offline: InstagramAdapter, photo: MediaItem) -> None:
    """dry-run shows the Comments body; validate refuses one over 2,200 characters."""
    rendered = offline.render(content(media=(photo,), first_comment=COMMENT))
    assert not rendered.errors
    comment = rendered.comment
    assert comment is not None and comment is rendered.parts[-1] and comment.index == 1
    assert comment.payload == {"message": COMMENT} and comment.limit == 2_200
    errors = offline.render(content(media=(photo,), first_comment="x" * 2_201)).errors
    assert any("first comment is 2201 long" in e for e in errors), errors


async def test_post_then_its_comment(
    adapter: InstagramAdapter, server: InstagramServer, clock: FakeClock, photo: MediaItem
) -> None:
    rendered = adapter.render(content(media=(photo,), first_comment=COMMENT))
    published = await adapter.publish(rendered, ref(clock))
    [post] = server.posts
    [comment] = server.comments
    assert (comment.media_id, comment.text, comment.username) == (post.id, COMMENT, "brand")
    assert [p.remote_id for p in published.parts] == [post.id, comment.id]
    assert published.parts[1].url == published.parts[0].url  # a comment has no address
    posts = [r for r in server.requests if r.path.endswith("/media_publish")]
    assert len(posts) == 1  # the comment is no second post: it spends none of the 50
    token_only_in_headers(server)


async def test_lookup_finds_the_comment_by_the_accounts_username(
    adapter: InstagramAdapter, server: InstagramServer, clock: FakeClock, photo: MediaItem
) -> None:
    rendered = adapter.render(content(media=(photo,), first_comment=COMMENT))
    media_id = server.add_post(CAPTION, NOW)
    server.add_comment(media_id, COMMENT, "a-copycat")  # the same words, someone else's
    found = await adapter.lookup(ref(clock), rendered, NOW - timedelta(hours=1))
    assert isinstance(found, Found)
    assert [p.remote_id for p in found.published.parts] == [media_id]  # the comment: not out
    ours = server.add_comment(media_id, COMMENT, "brand")
    for i in range(30):  # more than a page of comments after ours
        server.add_comment(media_id, f"Superbe {i}", f"fan{i}")
    found = await adapter.lookup(ref(clock), rendered, NOW - timedelta(hours=1))
    assert isinstance(found, Found)
    assert [(p.index, p.remote_id) for p in found.published.parts] == [(0, media_id), (1, ours)]


@pytest.mark.parametrize("fault", ["500", "garbage", "me"])
async def test_comments_unreadable_make_the_comment_unknowable(
    adapter: InstagramAdapter,
    server: InstagramServer,
    clock: FakeClock,
    photo: MediaItem,
    fault: str,
) -> None:
    """The post is out and its comments cannot be read: never a blind resend of the comment."""
    rendered = adapter.render(content(media=(photo,), first_comment=COMMENT))
    server.add_post(CAPTION, NOW)
    if fault == "500":
        server.inject_error("comments", 2, "Service temporarily unavailable", status=503)
    elif fault == "garbage":
        server.inject_raw("comments", 200, json.dumps({"data": "nope"}))
    else:
        server.inject_error("me", 2, "Service temporarily unavailable", status=503)
    found = await adapter.lookup(ref(clock), rendered, NOW - timedelta(hours=1))
    assert isinstance(found, Unknowable), found


async def test_server_refuses_a_comment_instagram_would(
    session: aiohttp.ClientSession, server: InstagramServer
) -> None:
    media_id = server.add_post(CAPTION, NOW)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    base = f"{server.url}/v23.0/{media_id}/comments"
    for body, expected in [
        ({"message": "ok", "reply_to": "1"}, "strict server: unknown comments fields"),
        ({}, "message is required"),
        ({"message": "x" * 2_201}, "too long"),
    ]:
        async with session.post(base, json=body, headers=headers) as resp:
            doc = await resp.json()
        assert resp.status == 400 and expected in doc["error"]["message"], (body, doc)
    async with session.post(base, json={"message": "ok"}) as resp:
        assert resp.status == 400 and (await resp.json())["error"]["code"] == 190
    async with session.get(base, params={"fields": "id,caption"}, headers=headers) as resp:
        assert resp.status == 400 and "nonexisting field" in (await resp.json())["error"]["message"]
    assert server.comments == []
