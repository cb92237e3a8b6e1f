"""The Threads adapter against the strict local Threads API (``ThreadsServer``), media
fetched by the server from a really served directory (``ServedDirectory``)."""

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
    RemotePart,
    TransientError,
    Unknowable,
)
from publisher.adapters.threads import ThreadsAdapter, ThreadsSettings, threads_length
from publisher.clock import FakeClock
from publisher.media import MediaRef
from publisher.secrets import Secret
from publisher.testing.hosting import ServedDirectory
from tests.networks.threads.server import ThreadsServer

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
TOKEN = "THAA-SECRET-threads-token-77e1"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64 + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def server(clock: FakeClock) -> AsyncIterator[ThreadsServer]:
    async with ThreadsServer(token=TOKEN, now=clock.now) as threads:
        yield threads


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    timeout = aiohttp.ClientTimeout(total=5, sock_connect=1, sock_read=3)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        yield http


@pytest.fixture
async def served(tmp_path: Path, session: aiohttp.ClientSession) -> AsyncIterator[ServedDirectory]:
    async with ServedDirectory(tmp_path / "public", session) as directory:
        yield directory


class Waits:
    """The adapter's pauses: recorded, and the fake clock moved by each."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.pauses: list[timedelta] = []

    async def __call__(self, delay: timedelta) -> None:
        self.pauses.append(delay)
        await self.clock.advance(delay)


@pytest.fixture
def waits(clock: FakeClock) -> Waits:
    return Waits(clock)


def make(
    server: ThreadsServer,
    session: aiohttp.ClientSession | None,
    clock: FakeClock,
    waits: Waits | None = None,
    served: ServedDirectory | None = None,
    token: str = TOKEN,
) -> ThreadsAdapter:
    settings = ThreadsSettings(
        user_id=server.user_id, token=Secret("THREADS_TOKEN", token), api_base=server.url
    )
    context = AdapterContext(
        session=session, clock=clock, wait=waits, host=served.host if served else None
    )
    return ThreadsAdapter("brand-threads", settings, context)


@pytest.fixture
def adapter(
    server: ThreadsServer, session: aiohttp.ClientSession, clock: FakeClock, waits: Waits
) -> ThreadsAdapter:
    return make(server, session, clock, waits)


@pytest.fixture
def offline(clock: FakeClock) -> ThreadsAdapter:
    settings = ThreadsSettings(user_id="1", token=Secret("THREADS_TOKEN", TOKEN))
    return ThreadsAdapter("brand-threads", settings, AdapterContext(session=None, clock=clock))


def media(tmp_path: Path, name: str, data: bytes, mime: str, alt: str = "") -> MediaItem:
    path = tmp_path / name
    path.write_bytes(data)
    return MediaItem(MediaRef.beside(path), alt, mime, len(data))


def content(text: str = "La rentrée des classes 🎒 commence lundi.", **kw: Any) -> PostContent:
    return PostContent(
        post_id="rentree", account="brand-threads", network="threads", text=text, **kw
    )


def ref(clock: FakeClock) -> DeliveryRef:
    return DeliveryRef(9, "rentree", "brand-threads", clock.now())


def token_only_in_headers(server: ThreadsServer) -> None:
    for req in server.requests:
        assert req.token_via == "header", req
        assert "access_token" not in req.query, req


# --------------------------------------------------------------------------- length and render


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("hello", 5),
        ("été", 3),  # accented letters: one each
        ("❄️", 6),  # U+2744 U+FE0F: 3 + 3 UTF-8 bytes
        ("😀", 4),
        ("👍🏽", 8),  # with a skin tone
        ("🇫🇷", 8),  # a flag: two regional indicators
        ("1️⃣", 7),  # keycap: 1 + 3 + 3
        ("日本", 2),  # not emoji: characters
        ("a😀b", 6),
    ],
)
def test_length_counts_emoji_as_utf8_bytes(text: str, length: int) -> None:
    assert threads_length(text) == length


def test_capabilities(offline: ThreadsAdapter) -> None:
    caps = offline.capabilities()
    assert caps.threads and caps.length.limit == 500 and caps.length.count is threads_length
    assert caps.media.max_images == 20 and caps.media.alt_text_max == 1000
    assert caps.media.mix_images_and_video


def test_emoji_push_a_text_over_the_limit(offline: ThreadsAdapter) -> None:
    text = "x" * 495 + "😀😀"  # 497 characters, 503 as Threads counts
    rendered = offline.render(content(text, thread=content().thread))
    assert len(rendered.parts) == 2  # split into a reply chain
    assert all(p.length <= 500 for p in rendered.parts)


def test_payloads_text_and_reply_chain(offline: ThreadsAdapter) -> None:
    rendered = offline.render(content("Premier mot. " * 60))
    assert len(rendered.parts) == 2 and not rendered.errors
    assert rendered.parts[0].payload == {"media_type": "TEXT", "text": rendered.parts[0].text}
    assert rendered.parts[1].payload == {
        "media_type": "TEXT",
        "text": rendered.parts[1].text,
        "reply_to_id": "<part:0>",
    }


def test_payload_carousel(offline: ThreadsAdapter, tmp_path: Path) -> None:
    items = (
        media(tmp_path, "a.jpg", JPEG, "image/jpeg", "une salle de classe"),
        media(tmp_path, "b.mp4", MP4, "video/mp4"),
    )
    rendered = offline.render(content(media=items))
    assert not rendered.errors
    assert rendered.parts[0].payload == {
        "media_type": "CAROUSEL",
        "children": [
            {
                "media_type": "IMAGE",
                "image_url": "<media:0>",
                "alt_text": "une salle de classe",
                "is_carousel_item": True,
            },
            {"media_type": "VIDEO", "video_url": "<media:1>", "is_carousel_item": True},
        ],
        "text": "La rentrée des classes 🎒 commence lundi.",
    }


def test_render_refuses_more_than_five_links(offline: ThreadsAdapter) -> None:
    links = " ".join(f"https://example.com/{i}" for i in range(6))
    assert any("6 links" in e for e in offline.render(content(links)).errors)
    five = " ".join(f"https://example.com/{i}" for i in range(5))
    assert not offline.render(content(five)).errors
    # The same link twice is one link.
    assert not offline.render(content(five + " https://example.com/0")).errors


def test_render_refuses_a_carousel_of_21(offline: ThreadsAdapter, tmp_path: Path) -> None:
    item = media(tmp_path, "a.jpg", JPEG, "image/jpeg", "alt")
    errors = offline.render(content(media=(item,) * 21)).errors
    assert any("at most 20" in e for e in errors)


# --------------------------------------------------------------------------- publishing


async def test_text_post(
    adapter: ThreadsAdapter, server: ThreadsServer, clock: FakeClock, waits: Waits
) -> None:
    server.processing_polls = 2
    published = await adapter.publish(adapter.render(content()), ref(clock))
    [post] = server.posts
    assert post.text == "La rentrée des classes 🎒 commence lundi."
    assert post.container.body["media_type"] == "TEXT"
    assert published.remote_id == post.id
    assert published.url == f"https://www.threads.com/@brand/post/p/{post.id}"
    assert published.parts[0].extra == {"container_id": post.container.id}
    # Two IN_PROGRESS answers: two pauses through the clock seam, 30 s each.
    assert waits.pauses == [timedelta(seconds=30)] * 2
    paths = [(r.method, r.path.removeprefix(f"/v1.0/{server.user_id}")) for r in server.requests]
    assert paths[:2] == [("GET", "/threads_publishing_limit"), ("POST", "/threads")]
    assert paths[-2][1] == "/threads_publish"
    token_only_in_headers(server)


async def test_long_post_becomes_a_reply_chain(
    adapter: ThreadsAdapter, server: ThreadsServer, clock: FakeClock
) -> None:
    rendered = adapter.render(content("Une phrase de plus. " * 40))
    assert len(rendered.parts) == 2
    published = await adapter.publish(rendered, ref(clock))
    first, reply = server.posts
    assert reply.reply_to == first.id
    assert [p.remote_id for p in published.parts] == [first.id, reply.id]
    # Only the post counts against the 250; the limit is read once.
    assert [r.path for r in server.requests].count(
        f"/v1.0/{server.user_id}/threads_publishing_limit"
    ) == 1


async def test_resumed_chain_replies_to_the_part_already_out(
    adapter: ThreadsAdapter, server: ThreadsServer, clock: FakeClock
) -> None:
    rendered = adapter.render(content("Une phrase de plus. " * 40))
    first = server.add_post(rendered.parts[0].text, NOW)
    published = await adapter.publish(rendered, ref(clock), [RemotePart(0, first)])
    [_, reply] = server.posts
    assert reply.reply_to == first and published.parts[1].remote_id == reply.id


async def test_image_and_carousel_fetched_from_the_media_host(
    server: ThreadsServer,
    session: aiohttp.ClientSession,
    clock: FakeClock,
    waits: Waits,
    served: ServedDirectory,
    tmp_path: Path,
) -> None:
    adapter = make(server, session, clock, waits, served)
    photo = media(tmp_path, "photo.png", PNG, "image/png", "la cour")
    published = await adapter.publish(adapter.render(content(media=(photo,))), ref(clock))
    [post] = server.posts
    assert post.container.fetched == [PNG]  # the server fetched the served bytes
    assert post.container.body["alt_text"] == "la cour"
    assert published.remote_id == post.id
    assert any(path.endswith(".png") for path in served.fetched)

    clip = media(tmp_path, "clip.mp4", MP4, "video/mp4")
    await adapter.publish(adapter.render(content(media=(photo, clip))), ref(clock))
    carousel = server.posts[-1]
    assert carousel.container.body["media_type"] == "CAROUSEL"
    assert [c.fetched for c in carousel.children] == [[PNG], [MP4]]
    token_only_in_headers(server)


async def test_media_without_a_host_is_refused(
    adapter: ThreadsAdapter, server: ThreadsServer, clock: FakeClock, tmp_path: Path
) -> None:
    photo = media(tmp_path, "photo.jpg", JPEG, "image/jpeg", "alt")
    rendered = adapter.render(content(media=(photo,)))  # a sending context: render says it
    assert any("configure a media host" in e for e in rendered.errors)
    with pytest.raises(PermanentError) as info:
        await adapter.publish(rendered, ref(clock))
    assert info.value.attention is Attention.CONTENT and "media host" in info.value.reason
    assert server.requests == []
    # Rendered where no host is ever given (validate, dry-run), the send refuses it.
    with pytest.raises(PermanentError) as info:
        await adapter.publish(make(server, None, clock).render(content(media=(photo,))), ref(clock))
    assert info.value.attention is Attention.CONTENT and "no media host" in info.value.reason
    assert server.requests == []


async def test_a_url_that_serves_no_image_is_refused_by_the_network(
    server: ThreadsServer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    url = f"{server.url}/v1.0/{server.user_id}/threads"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    body = {"media_type": "IMAGE", "image_url": f"{server.url}/nothing-here.jpg"}
    async with session.post(url, json=body, headers=headers) as resp:
        doc = await resp.json()
    assert resp.status == 400 and doc["error"]["code"] == 9004
    assert server.containers == {}


@pytest.mark.parametrize(
    ("status", "expected", "attention"),
    [
        ("ERROR", PermanentError, Attention.CONTENT),
        ("EXPIRED", TransientError, None),
    ],
)
async def test_container_that_fails(
    adapter: ThreadsAdapter,
    server: ThreadsServer,
    clock: FakeClock,
    status: str,
    expected: type[Exception],
    attention: Attention | None,
) -> None:
    server.end_next_container(status, "FAILED_PROCESSING_TEXT")
    with pytest.raises(expected) as info:
        await adapter.publish(adapter.render(content()), ref(clock))
    assert getattr(info.value, "attention", None) is attention
    assert server.posts == []


async def test_container_still_processing_is_transient(
    adapter: ThreadsAdapter, server: ThreadsServer, clock: FakeClock, waits: Waits
) -> None:
    server.processing_polls = 1000
    with pytest.raises(TransientError) as info:
        await adapter.publish(adapter.render(content()), ref(clock))
    assert "still processing" in info.value.reason
    assert sum(waits.pauses, timedelta()) == timedelta(minutes=5)
    assert server.posts == []


async def test_publish_answer_lost_then_lookup_finds_it(
    adapter: ThreadsAdapter, server: ThreadsServer, clock: FakeClock
) -> None:
    server.add_post("Autre chose", NOW - timedelta(minutes=2))
    server.inject_drop("publish", commit=True)
    rendered = adapter.render(content())
    with pytest.raises(AmbiguousError):
        await adapter.publish(rendered, ref(clock))
    [_, landed] = server.posts
    result = await adapter.lookup(ref(clock), rendered, NOW - timedelta(hours=1))
    assert isinstance(result, Found) and result.published.remote_id == landed.id
    token_only_in_headers(server)


async def test_lookup_follows_the_reply_chain(
    adapter: ThreadsAdapter, server: ThreadsServer, clock: FakeClock
) -> None:
    rendered = adapter.render(content("Une phrase de plus. " * 60))
    assert len(rendered.parts) == 3
    first = server.add_post(rendered.parts[0].text, NOW)
    second = server.add_post(rendered.parts[1].text, NOW, reply_to=first)
    server.add_post(rendered.parts[2].text, NOW, reply_to="someone-else")
    result = await adapter.lookup(ref(clock), rendered, NOW - timedelta(hours=1))
    assert isinstance(result, Found)
    assert [p.remote_id for p in result.published.parts] == [first, second]


async def test_lookup_absent(
    adapter: ThreadsAdapter, server: ThreadsServer, clock: FakeClock
) -> None:
    server.add_post("La rentrée des classes 🎒 commence lundi.", NOW - timedelta(days=3))
    result = await adapter.lookup(ref(clock), adapter.render(content()), NOW)
    assert isinstance(result, Absent)


# --------------------------------------------------------------------------- the 250 a day


async def test_the_limit_holds_until_the_window_frees(
    adapter: ThreadsAdapter, server: ThreadsServer, clock: FakeClock
) -> None:
    for minute in range(250):
        server.add_post(f"post {minute}", NOW - timedelta(hours=23) + timedelta(minutes=minute))
    with pytest.raises(RateLimitedError) as info:
        await adapter.publish(adapter.render(content()), ref(clock))
    assert info.value.reset_at == NOW + timedelta(hours=1)  # the oldest turns 24 h old
    assert "250 of 250" in info.value.reason
    assert len(server.posts) == 250 and not any(
        r.path.endswith("/threads_publish") for r in server.requests
    )
    await clock.set(info.value.reset_at)
    published = await adapter.publish(adapter.render(content()), ref(clock))
    assert published.remote_id == server.posts[-1].id


async def test_publish_refused_for_the_limit_is_a_rate_limit(
    adapter: ThreadsAdapter, server: ThreadsServer, clock: FakeClock
) -> None:
    server.inject_error("publish", 9, "limit reached", subcode=2207042)
    with pytest.raises(RateLimitedError):
        await adapter.publish(adapter.render(content()), ref(clock))


# --------------------------------------------------------------------------- check and secrets


async def test_check(adapter: ThreadsAdapter, server: ThreadsServer) -> None:
    server.add_post("hier", NOW - timedelta(hours=2))
    result = await adapter.check()
    assert result.status is CheckStatus.OK
    assert result.identity == f"@brand ({server.user_id})"
    assert "1 of 250" in result.detail
    assert server.requests[0].path == "/v1.0/me"


async def test_wrong_token(
    server: ThreadsServer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    adapter = make(server, session, clock, token="THAA-revoked")
    with pytest.raises(PermanentError) as info:
        await adapter.publish(adapter.render(content()), ref(clock))
    assert info.value.attention is Attention.CREDENTIALS
    assert (await adapter.check()).status is CheckStatus.ATTENTION


def test_no_token_in_payloads(offline: ThreadsAdapter) -> None:
    rendered = offline.render(content("Une phrase de plus. " * 40))
    assert TOKEN not in json.dumps([p.payload for p in rendered.parts])


# --------------------------------------------------------------------------- the server itself


async def test_server_refuses_unknown_fields_and_bad_children(
    server: ThreadsServer, session: aiohttp.ClientSession
) -> None:
    url = f"{server.url}/v1.0/{server.user_id}/threads"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    for body, expected in [
        ({"media_type": "TEXT", "text": "hi", "link": "x"}, "strict server"),
        ({"media_type": "CAROUSEL", "children": ["1", "2"]}, "not a carousel item"),
        ({"media_type": "TEXT"}, "text is required"),
        ({"media_type": "TEXT", "text": "hi", "reply_to_id": "404"}, "not a post"),
    ]:
        async with session.post(url, json=body, headers=headers) as resp:
            doc = await resp.json()
        assert resp.status == 400 and expected in doc["error"]["message"], (body, doc)
    assert server.containers == {}


@pytest.mark.parametrize(
    ("endpoint", "fault"),
    [
        (endpoint, fault)
        for endpoint in ("limit", "container", "status")
        for fault in ("500", "drop", "garbage")
        # aiohttp itself sends a GET again on a kept-alive connection the server dropped
        if (endpoint, fault) not in (("limit", "drop"), ("status", "drop"))
    ],
)
async def test_failures_before_the_publish_are_transient(
    adapter: ThreadsAdapter, server: ThreadsServer, clock: FakeClock, endpoint: str, fault: str
) -> None:
    """Nothing anyone sees exists before the publish: a failed read or container is retried,
    never looked up."""
    if fault == "500":
        server.inject_error(endpoint, 1, "An unknown error has occurred.", status=500)
    elif fault == "drop":
        server.inject_drop(endpoint, commit=True)
    else:
        server.inject_raw(endpoint, 200, "OK", content_type="text/plain", commit=True)
    with pytest.raises(TransientError):
        await adapter.publish(adapter.render(content()), ref(clock))
    assert server.posts == []
    published = await adapter.publish(adapter.render(content()), ref(clock))
    assert [p.id for p in server.posts] == [published.remote_id]


# --------------------------------------------------------------------------- first comment

COMMENT = "Les fournitures : https://example.com/liste 📝"


def test_first_comment_is_a_reply_to_the_post(offline: ThreadsAdapter) -> None:
    """dry-run shows it: a TEXT container replying to the post's first part (not to the part
    before it), counted as a post is (emoji as UTF-8 bytes)."""
    rendered = offline.render(content("Une phrase de plus. " * 40, first_comment=COMMENT))
    assert not rendered.errors
    comment = rendered.comment
    assert comment is not None and comment is rendered.parts[-1] and comment.index == 2
    assert comment.payload == {"media_type": "TEXT", "text": COMMENT, "reply_to_id": "<part:0>"}
    assert comment.length == threads_length(COMMENT) and comment.limit == 500


def test_first_comment_length_and_links_are_checked(offline: ThreadsAdapter) -> None:
    """validate: 497 characters, 503 as Threads counts, is too long; six links too many."""
    long = "x" * 495 + "😀😀"
    errors = offline.render(content(first_comment=long)).errors
    assert any("first comment is 503 long" in e and "at most 500" in e for e in errors), errors
    links = " ".join(f"https://example.com/{i}" for i in range(6))
    errors = offline.render(content(first_comment=links)).errors
    assert list(errors) == ["the first comment: 6 links, Threads takes at most 5 a post"]


async def test_thread_with_a_comment_published_and_found(
    adapter: ThreadsAdapter, server: ThreadsServer, clock: FakeClock
) -> None:
    """Part 2 replies to part 1, the comment to part 1 as well (the post): the lookup tells
    them apart by text, and finds the thread without its comment when only that is missing."""
    rendered = adapter.render(content("Une phrase de plus. " * 40, first_comment=COMMENT))
    published = await adapter.publish(rendered, ref(clock))
    first, second, comment = server.posts
    assert second.reply_to == first.id and comment.reply_to == first.id
    assert comment.text == COMMENT and comment.container.body["media_type"] == "TEXT"
    assert [p.remote_id for p in published.parts] == [first.id, second.id, comment.id]
    found = await adapter.lookup(ref(clock), rendered, NOW - timedelta(hours=1))
    assert isinstance(found, Found)
    assert [p.remote_id for p in found.published.parts] == [first.id, second.id, comment.id]
    assert [p.index for p in found.published.parts] == [0, 1, 2]
    server.posts.remove(comment)
    found = await adapter.lookup(ref(clock), rendered, NOW - timedelta(hours=1))
    assert isinstance(found, Found)
    assert [p.remote_id for p in found.published.parts] == [first.id, second.id]


async def test_a_comment_on_a_part_not_the_post_is_not_ours(
    adapter: ThreadsAdapter, server: ThreadsServer, clock: FakeClock
) -> None:
    rendered = adapter.render(content(first_comment=COMMENT))
    post = server.add_post(rendered.parts[0].text, NOW)
    server.add_post(COMMENT, NOW, reply_to="someone-elses-thread")
    found = await adapter.lookup(ref(clock), rendered, NOW - timedelta(hours=1))
    assert isinstance(found, Found)
    assert [p.remote_id for p in found.published.parts] == [post]


@pytest.mark.parametrize("fault", ["500", "garbage"])
async def test_replies_unreadable_make_the_comment_unknowable(
    adapter: ThreadsAdapter, server: ThreadsServer, clock: FakeClock, fault: str
) -> None:
    """The post is out and its replies cannot be read: never a blind resend of the comment."""
    rendered = adapter.render(content(first_comment=COMMENT))
    server.add_post(rendered.parts[0].text, NOW)
    if fault == "500":
        server.inject_error("replies", 2, "Service temporarily unavailable", status=503)
    else:
        server.inject_raw("replies", 200, json.dumps({"data": "nope"}))
    found = await adapter.lookup(ref(clock), rendered, NOW - timedelta(hours=1))
    assert isinstance(found, Unknowable), found
