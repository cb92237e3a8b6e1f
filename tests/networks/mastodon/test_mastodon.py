"""The Mastodon adapter against the strict local Mastodon (``mastodon_server``)."""

from __future__ import annotations

import json
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
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
    MediaItem,
    PermanentError,
    PostContent,
    RateLimitedError,
    RemotePart,
    Rendered,
    ThreadMode,
    TransientError,
    Unknowable,
)
from publisher.adapters.mastodon import (
    MEDIA_POLLS,
    MastodonAdapter,
    MastodonSettings,
    html_to_text,
    mastodon_length,
)
from publisher.clock import FakeClock
from publisher.media import MediaRef
from publisher.secrets import Secret
from tests.networks.mastodon.server import (
    INVALID_TOKEN,
    NOT_PROCESSED,
    MastodonServer,
    known_properties,
    schema_errors,
    spec,
)

TOKEN = "masto-SECRET-token-5c1e0b7d"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64

MakeServer = Callable[..., Awaitable[MastodonServer]]


@dataclass(frozen=True)
class Address:
    """Where an adapter points when no server is needed (or none listens)."""

    url: str


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def servers(clock: FakeClock) -> AsyncIterator[MakeServer]:
    """Start servers on demand (each test picks the instance's limits); check them on exit."""
    started: list[MastodonServer] = []

    async def start(**kw: Any) -> MastodonServer:
        kw.setdefault("token", TOKEN)
        server = MastodonServer(clock=clock, **kw)
        await server.__aenter__()
        started.append(server)
        return server

    yield start
    for server in started:
        await server.__aexit__(None, None, None)
        assert server.problems == [], "the test server answered outside the document"


@pytest.fixture
async def server(servers: MakeServer) -> MastodonServer:
    return await servers()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def waited() -> list[timedelta]:
    return []


@pytest.fixture
def make(
    session: aiohttp.ClientSession, clock: FakeClock, waited: list[timedelta]
) -> Callable[..., MastodonAdapter]:
    async def wait(delay: timedelta) -> None:
        waited.append(delay)  # the clock seam: recorded, never slept

    def build(
        server: Address | MastodonServer, token: str = TOKEN, **settings: Any
    ) -> MastodonAdapter:
        timeout = aiohttp.ClientTimeout(total=5, sock_connect=1, sock_read=0.5)
        context = AdapterContext(session=session, clock=clock, timeout=timeout, wait=wait)
        s = MastodonSettings(
            instance=server.url, token=Secret("MASTODON_TOKEN", token), **settings
        )
        return MastodonAdapter("brand-masto", s, context)

    return build


def post(text: str, **kw: Any) -> PostContent:
    return PostContent(
        post_id=kw.pop("post_id", "winter-sale"), account="brand-masto", network="mastodon",
        text=text, **kw,
    )


def ref_for(content: PostContent, clock: FakeClock) -> DeliveryRef:
    return DeliveryRef(7, content.post_id, content.account, clock.now())


def status_posts(server: MastodonServer) -> list[dict[str, Any]]:
    return [a.json for a in server.accepted_for("POST", "/api/v1/statuses")]


def no_secret(err: BaseException) -> None:
    text = "\n".join([str(err), repr(err), "".join(traceback.format_exception(err))])
    assert TOKEN not in text


# ---------------------------------------------------------------------------- payloads


def test_payload_snapshots(make: Callable[..., MastodonAdapter]) -> None:
    adapter = make(Address("https://masto.example"), language="fr", visibility="unlisted")
    image = MediaItem(MediaRef.beside(Path("soldes.jpg")), "Vitrine", "image/jpeg", 1000)
    content = post("Bonjour", options={"spoiler_text": "Soldes", "sensitive": True})
    assert adapter.build_payload("Bonjour", (), 0, 1, content) == {
        "status": "Bonjour",
        "visibility": "unlisted",
        "language": "fr",
        "spoiler_text": "Soldes",
        "sensitive": True,
    }
    plain = post("x", language="de")
    assert adapter.build_payload("Vitrine !", (image, image), 0, 2, plain) == {
        "status": "Vitrine !",
        "media_ids": ["<media:0>", "<media:1>"],
        "visibility": "unlisted",
        "language": "de",
    }
    assert adapter.build_payload("suite", (), 1, 2, plain) == {
        "status": "suite",
        "in_reply_to_id": "<part:0>",
        "visibility": "unlisted",
        "language": "de",
    }
    # Media only: no empty "status".
    assert adapter.build_payload("", (image,), 0, 1, plain) == {
        "media_ids": ["<media:0>"],
        "visibility": "unlisted",
        "language": "de",
    }


def test_rendered_payloads_conform_to_the_document(make: Callable[..., MastodonAdapter]) -> None:
    adapter = make(Address("https://masto.example"), language="fr")
    image = MediaItem(MediaRef.beside(Path("soldes.jpg")), "Vitrine", "image/jpeg", 1000)
    rendered = adapter.render(
        post("Mot " * 300, media=(image,), options={"spoiler_text": "CW", "sensitive": False})
    )
    assert not rendered.errors and len(rendered.parts) > 1
    body_schema = spec()["paths"]["/api/v1/statuses"]["post"]["requestBody"]["content"][
        "application/json"
    ]["schema"]
    allowed = known_properties(body_schema)
    assert allowed is not None
    for part in rendered.parts:
        body = json.loads(
            json.dumps(part.payload).replace("<media:0>", "1").replace("<part:0>", "2")
            .replace("<part:1>", "3").replace("<part:2>", "4")
        )
        assert set(body) <= allowed
        assert schema_errors(body_schema, body) == []


# ---------------------------------------------------------------------------- publish


async def test_publish_text(
    server: MastodonServer, make: Callable[..., MastodonAdapter], clock: FakeClock
) -> None:
    adapter = make(server, language="fr")
    content = post("Les soldes d'hiver commencent ! ❄️ #soldes https://example.com/soldes")
    rendered = adapter.render(content)
    assert not rendered.errors and len(rendered.parts) == 1
    ref = ref_for(content, clock)

    published = await adapter.publish(rendered, ref)

    assert len(server.statuses) == 1
    status = server.statuses[0]
    assert published.remote_id == status.id
    assert published.url == f"https://masto.example/@brand/{status.id}"
    assert status.text == content.text and status.language == "fr"
    assert status.visibility == "public"
    accepted = server.accepted_for("POST", "/api/v1/statuses")[0]
    assert accepted.json == dict(rendered.parts[0].payload)
    assert accepted.headers["Idempotency-Key"] == ref.part_key(0)
    assert accepted.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_length_comes_from_the_instance(
    servers: MakeServer, make: Callable[..., MastodonAdapter], clock: FakeClock
) -> None:
    server = await servers(max_characters=1000)
    adapter = make(server)
    content = post("a" * 699 + ".")

    before = adapter.render(content)  # the settings' 500 until the instance is asked
    assert before.limit == 500 and len(before.parts) == 2

    await adapter.prepare()
    caps = adapter.capabilities()
    assert caps.length.limit == 1000
    sample = "@alice@mastodon.social, see https://example.com/" + "p" * 100
    assert caps.length.count(sample) == mastodon_length(sample) == len("@alice, see ") + 23
    after = adapter.render(content)
    assert after.limit == 1000 and len(after.parts) == 1

    await adapter.publish(after, ref_for(content, clock))
    assert [s.text for s in server.statuses] == [content.text]


async def test_instance_with_a_lower_limit_refuses_with_its_own_words(
    servers: MakeServer, make: Callable[..., MastodonAdapter], clock: FakeClock
) -> None:
    server = await servers(max_characters=400)
    adapter = make(server)  # not prepared: renders for 500
    content = post("b" * 450)
    with pytest.raises(PermanentError) as info:
        await adapter.publish(adapter.render(content), ref_for(content, clock))
    assert info.value.attention is Attention.CONTENT and info.value.status == 422
    assert "character limit of 400 exceeded" in info.value.reason
    assert server.statuses == []
    await adapter.prepare()
    assert len(adapter.render(content).parts) == 2


async def test_urls_and_remote_mentions_count_as_mastodon_counts_them(
    servers: MakeServer, make: Callable[..., MastodonAdapter], clock: FakeClock
) -> None:
    server = await servers(characters_reserved_per_url=50)
    adapter = make(server)
    await adapter.prepare()
    assert adapter.capabilities().length.count("https://example.com/" + "p" * 100) == 50

    url = "https://example.com/" + "p" * 100  # 120 characters, counted as 50
    with_url = post("c" * 449 + " " + url)  # 570 written, 500 counted
    rendered = adapter.render(with_url)
    assert [p.length for p in rendered.parts] == [500]
    await adapter.publish(rendered, ref_for(with_url, clock))

    mention = "@alice@a-very-long-instance-name.example"  # counted as "@alice"
    with_mention = post(mention + " " + "d" * 493, post_id="mention")
    rendered = adapter.render(with_mention)
    assert len(with_mention.text) > 500
    assert [p.length for p in rendered.parts] == [500]
    await adapter.publish(rendered, ref_for(with_mention, clock))
    assert len(server.statuses) == 2


async def test_content_warning_takes_from_the_limit(
    server: MastodonServer, make: Callable[..., MastodonAdapter], clock: FakeClock
) -> None:
    adapter = make(server)
    content = post("e" * 495, options={"spoiler_text": "Spoilers !"})
    rendered = adapter.render(content)
    assert len(rendered.parts) == 2  # 495 + 10 > 500: Mastodon would refuse one status
    assert any("content warning" in w for w in rendered.warnings)
    await adapter.publish(rendered, ref_for(content, clock))
    assert [s.spoiler_text for s in server.statuses] == ["Spoilers !", "Spoilers !"]
    assert all(s.sensitive for s in server.statuses)


async def test_item6_per_post_visibility_reaches_the_instance(
    server: MastodonServer, make: Callable[..., MastodonAdapter], clock: FakeClock
) -> None:
    """A post's `visibility` option wins over the account's, for every part of a thread."""
    adapter = make(server, visibility="public")
    content = post("Mot " * 200, options={"visibility": "unlisted"})
    rendered = adapter.render(content)
    assert not rendered.errors and len(rendered.parts) == 2
    await adapter.publish(rendered, ref_for(content, clock))
    assert [s.visibility for s in server.statuses] == ["unlisted", "unlisted"]
    # Without the option, the account's setting.
    other = post("Bonjour", post_id="other")
    await make(server, visibility="private").publish(
        make(server, visibility="private").render(other), ref_for(other, clock)
    )
    assert server.statuses[-1].visibility == "private"


def test_item6_render_refuses_an_option_value_mastodon_does_not_take(
    make: Callable[..., MastodonAdapter],
) -> None:
    """The queue parser reports these at their line; content that came another way (a
    database written before) is refused, never published with the account's default."""
    adapter = make(Address("https://masto.example"))
    rendered = adapter.render(post("Bonjour", options={"visibility": "friends", "sensitive": 1}))
    assert rendered.errors == (
        "option visibility: 'friends' is not one of: public, unlisted, private, direct",
        "option sensitive: expected true or false, got the number 1",
    )
    assert adapter.render(post("Bonjour", options={"poll": "other networks'"})).errors == ()


async def test_image_with_alt_text_end_to_end(
    server: MastodonServer,
    make: Callable[..., MastodonAdapter],
    clock: FakeClock,
    tmp_path: Path,
    waited: list[timedelta],
) -> None:
    path = tmp_path / "soldes.png"
    path.write_bytes(PNG)
    image = MediaItem(MediaRef.beside(path), "Vitrine du magasin en hiver", "image/png", len(PNG))
    adapter = make(server)
    content = post("Vitrine", media=(image,))
    rendered = adapter.render(content)
    assert not rendered.errors
    assert rendered.parts[0].payload["media_ids"] == ["<media:0>"]

    published = await adapter.publish(rendered, ref_for(content, clock))

    upload = server.accepted_for("POST", "/api/v2/media")[0]
    assert upload.files["file"] == ("soldes.png", "image/png", PNG)
    assert upload.form == {"description": "Vitrine du magasin en hiver"}
    (media,) = server.media.values()
    assert media.description == "Vitrine du magasin en hiver"
    (status,) = server.statuses
    assert status.media_ids == (media.id,) and published.remote_id == status.id
    assert status_posts(server)[0]["media_ids"] == [media.id]
    assert waited == []  # images are processed synchronously (200)


async def test_video_processing_is_polled_through_the_clock_seam(
    server: MastodonServer,
    make: Callable[..., MastodonAdapter],
    clock: FakeClock,
    tmp_path: Path,
    waited: list[timedelta],
) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(MP4)
    video = MediaItem(MediaRef.beside(path), "Le clip", "video/mp4", len(MP4))
    adapter = make(server)
    content = post("Le clip", media=(video,))

    await adapter.publish(adapter.render(content), ref_for(content, clock))

    # 202, then 206, 206, 200: three waits, doubling, none of them a real sleep.
    assert waited == [timedelta(seconds=1), timedelta(seconds=2), timedelta(seconds=4)]
    assert [h for h in server.hits if h[0] == "GET"] == [
        ("GET", f"/api/v1/media/{next(iter(server.media))}")
    ] * 3
    (status,) = server.statuses
    assert len(status.media_ids) == 1


async def test_media_that_never_finishes_processing_is_bounded(
    servers: MakeServer,
    make: Callable[..., MastodonAdapter],
    clock: FakeClock,
    tmp_path: Path,
    waited: list[timedelta],
) -> None:
    server = await servers(processing_polls=10_000)
    path = tmp_path / "clip.mp4"
    path.write_bytes(MP4)
    adapter = make(server)
    content = post("Le clip", media=(MediaItem(MediaRef.beside(path), "", "video/mp4", len(MP4)),))
    with pytest.raises(TransientError, match="still processing"):
        await adapter.publish(adapter.render(content), ref_for(content, clock))
    assert len(waited) == MEDIA_POLLS
    assert max(waited) == timedelta(seconds=10)
    assert server.statuses == []


async def test_unprocessed_media_is_refused_by_the_server(server: MastodonServer) -> None:
    """The strict server refuses what Mastodon refuses: why the adapter must poll."""
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        form = aiohttp.FormData()
        form.add_field("file", MP4, filename="clip.mp4", content_type="video/mp4")
        async with http.post(server.url + "/api/v2/media", data=form) as resp:
            assert resp.status == 202
            media_id = (await resp.json())["id"]
        body = {"status": "x", "media_ids": [media_id]}
        async with http.post(server.url + "/api/v1/statuses", json=body) as resp:
            assert resp.status == 422
            assert (await resp.json()) == {"error": NOT_PROCESSED}


# ---------------------------------------------------------------------------- threads


async def test_thread_is_a_reply_chain(
    server: MastodonServer, make: Callable[..., MastodonAdapter], clock: FakeClock
) -> None:
    adapter = make(server)
    content = post(" ".join(f"mot{i}" for i in range(250)))  # ~1,500 characters
    rendered = adapter.render(content)
    assert len(rendered.parts) >= 3
    ref = ref_for(content, clock)

    published = await adapter.publish(rendered, ref)

    ids = [s.id for s in server.statuses]
    assert [p.remote_id for p in published.parts] == ids
    assert [s.in_reply_to_id for s in server.statuses] == [None, *ids[:-1]]
    keys = [a.headers["Idempotency-Key"] for a in server.accepted_for("POST", "/api/v1/statuses")]
    assert keys == [ref.part_key(i) for i in range(len(rendered.parts))]


async def test_thread_resumes_after_a_failed_second_part(
    server: MastodonServer, make: Callable[..., MastodonAdapter], clock: FakeClock
) -> None:
    adapter = make(server)
    content = post(" ".join(f"mot{i}" for i in range(250)))
    rendered = adapter.render(content)
    total = len(rendered.parts)
    ref = ref_for(content, clock)
    server.fail("POST", "/api/v1/statuses", status=503, body={"error": "busy"}, skip=1)

    with pytest.raises(TransientError) as info:
        await adapter.publish(rendered, ref)
    first = server.statuses[0]
    assert [p.remote_id for p in info.value.partial] == [first.id]
    assert len(server.statuses) == 1

    published = await adapter.publish(rendered, ref, done=info.value.partial)

    assert len(server.statuses) == total  # part 1 was not sent again
    ids = [s.id for s in server.statuses]
    assert [p.remote_id for p in published.parts] == ids
    assert [s.in_reply_to_id for s in server.statuses] == [None, *ids[:-1]]


async def test_reply_target_gone_is_permanent_with_partial(
    server: MastodonServer, make: Callable[..., MastodonAdapter], clock: FakeClock
) -> None:
    adapter = make(server)
    content = post(" ".join(f"mot{i}" for i in range(150)))
    rendered = adapter.render(content)
    assert len(rendered.parts) == 2
    done = (RemotePart(0, "999", None),)  # deleted by someone since
    with pytest.raises(PermanentError) as info:
        await adapter.publish(rendered, ref_for(content, clock), done=done)
    assert info.value.status == 404 and info.value.attention is Attention.CONTENT
    assert "does not appear to exist" in info.value.reason
    assert info.value.partial == done


# ---------------------------------------------------------------------------- idempotency


async def test_resend_after_an_ambiguous_timeout_creates_one_status(
    server: MastodonServer, make: Callable[..., MastodonAdapter], clock: FakeClock
) -> None:
    adapter = make(server)
    content = post("Une seule fois, s'il vous plaît.")
    rendered = adapter.render(content)
    ref = ref_for(content, clock)
    # Mastodon saves the status, then the answer never comes back.
    server.fail("POST", "/api/v1/statuses", after=True, mode="hang")

    with pytest.raises(AmbiguousError) as info:
        await adapter.publish(rendered, ref)
    no_secret(info.value)
    assert len(server.statuses) == 1

    await clock.advance(timedelta(minutes=20))  # the engine resends within the hour
    published = await adapter.publish(rendered, ref)

    assert len(server.statuses) == 1
    assert published.remote_id == server.statuses[0].id
    assert len(status_posts(server)) == 2  # two requests, one status


async def test_reset_after_the_body_then_resend_creates_one_status(
    server: MastodonServer, make: Callable[..., MastodonAdapter], clock: FakeClock
) -> None:
    adapter = make(server)
    content = post("Toujours une seule fois.")
    rendered = adapter.render(content)
    ref = ref_for(content, clock)
    server.fail("POST", "/api/v1/statuses", after=True, mode="reset")
    with pytest.raises(AmbiguousError):
        await adapter.publish(rendered, ref)
    published = await adapter.publish(rendered, ref)
    assert [s.id for s in server.statuses] == [published.remote_id]


async def test_the_key_lasts_an_hour_which_is_why_timeouts_stay_ambiguous(
    server: MastodonServer, make: Callable[..., MastodonAdapter], clock: FakeClock
) -> None:
    adapter = make(server)
    content = post("Après une heure, la clé est oubliée.")
    rendered = adapter.render(content)
    ref = ref_for(content, clock)
    server.fail("POST", "/api/v1/statuses", after=True, mode="hang")
    with pytest.raises(AmbiguousError):
        await adapter.publish(rendered, ref)
    await clock.advance(timedelta(minutes=61))
    await adapter.publish(rendered, ref)
    assert len(server.statuses) == 2  # a blind resend after the window duplicates


async def test_a_5xx_after_saving_is_ambiguous_and_the_resend_returns_it(
    server: MastodonServer, make: Callable[..., MastodonAdapter], clock: FakeClock
) -> None:
    adapter = make(server)
    content = post("Erreur 500 après l'enregistrement.")
    rendered = adapter.render(content)
    ref = ref_for(content, clock)
    server.fail("POST", "/api/v1/statuses", after=True, status=500)
    with pytest.raises(AmbiguousError):
        await adapter.publish(rendered, ref)
    published = await adapter.publish(rendered, ref)
    assert [s.id for s in server.statuses] == [published.remote_id]


# ---------------------------------------------------------------------------- errors


async def test_rate_limit_headers_give_reset_at(
    server: MastodonServer, make: Callable[..., MastodonAdapter], clock: FakeClock
) -> None:
    adapter = make(server)
    content = post("Trop vite")
    reset = NOW + timedelta(minutes=4, seconds=30, microseconds=123456)
    server.throttle("POST", "/api/v1/statuses", reset_at=reset)
    with pytest.raises(RateLimitedError) as info:
        await adapter.publish(adapter.render(content), ref_for(content, clock))
    assert info.value.reset_at == reset and info.value.status == 429
    assert server.statuses == []


async def test_the_servers_own_window_is_read_too(
    servers: MakeServer, make: Callable[..., MastodonAdapter], clock: FakeClock
) -> None:
    server = await servers(rate_limit=1)
    adapter = make(server)
    await adapter.prepare()  # the one request this window allows
    content = post("Deuxième requête")
    with pytest.raises(RateLimitedError) as info:
        await adapter.publish(adapter.render(content), ref_for(content, clock))
    assert info.value.reset_at == NOW + timedelta(minutes=5)


async def test_bad_token_is_a_credentials_problem_and_never_leaks(
    server: MastodonServer, make: Callable[..., MastodonAdapter], clock: FakeClock
) -> None:
    wrong = "masto-SECRET-wrong-token-77aa"
    adapter = make(server, token=wrong)
    content = post("Bonjour")
    with pytest.raises(PermanentError) as info:
        await adapter.publish(adapter.render(content), ref_for(content, clock))
    assert info.value.attention is Attention.CREDENTIALS and info.value.status == 401
    assert INVALID_TOKEN in info.value.reason
    text = "".join(traceback.format_exception(info.value))
    assert wrong not in text and TOKEN not in text


async def test_missing_scope_is_a_permission_problem(
    servers: MakeServer, make: Callable[..., MastodonAdapter], clock: FakeClock
) -> None:
    server = await servers(scopes=frozenset({"read"}))
    adapter = make(server)
    content = post("Bonjour")
    with pytest.raises(PermanentError) as info:
        await adapter.publish(adapter.render(content), ref_for(content, clock))
    assert info.value.attention is Attention.PERMISSION and info.value.status == 403


async def test_unreachable_instance_is_transient(
    make: Callable[..., MastodonAdapter], clock: FakeClock
) -> None:
    adapter = make(Address("http://127.0.0.1:9"))  # the discard port: nothing listens
    content = post("Bonjour")
    with pytest.raises(TransientError):
        await adapter.publish(adapter.render(content), ref_for(content, clock))


async def test_upload_failure_is_transient_and_posts_nothing(
    server: MastodonServer,
    make: Callable[..., MastodonAdapter],
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(PNG)
    server.fail("POST", "/api/v2/media", status=500, after=True)
    adapter = make(server)
    content = post("Image", media=(MediaItem(MediaRef.beside(path), "alt", "image/png", len(PNG)),))
    with pytest.raises(TransientError):
        await adapter.publish(adapter.render(content), ref_for(content, clock))
    assert server.statuses == []


async def test_render_errors_are_never_sent(
    server: MastodonServer, make: Callable[..., MastodonAdapter], clock: FakeClock
) -> None:
    adapter = make(server)
    content = post("f" * 600, thread=ThreadMode.OFF)
    rendered = adapter.render(content)
    assert rendered.errors
    with pytest.raises(PermanentError):
        await adapter.publish(rendered, ref_for(content, clock))
    assert server.hits == []


# ---------------------------------------------------------------------------- lookup


async def test_lookup_finds_a_published_post_by_its_text(
    server: MastodonServer, make: Callable[..., MastodonAdapter], clock: FakeClock
) -> None:
    text = (
        "Soldes <d'hiver> & surprises ! ❄️ #soldes\n"
        "https://example.com/soldes/une-adresse-vraiment-tres-longue\n\n"
        "Merci @alice@other.example"
    )
    content = post(text)
    rendered = make(server).render(content)
    ref = ref_for(content, clock)
    since = clock.now()
    server.add_status("Un autre message", created_at=NOW - timedelta(hours=2))
    await clock.advance(timedelta(minutes=1))
    published = await make(server).publish(rendered, ref)
    for i in range(5):
        server.add_status(f"Plus tard {i}", created_at=clock.now() + timedelta(minutes=i + 1))

    result = await make(server).lookup(ref, rendered, since)

    assert result == Found(published)
    assert html_to_text(server.format_html("a\nb\n\nc & d")) == "a\nb\n\nc & d"


async def test_lookup_finds_every_part_of_a_thread(
    server: MastodonServer, make: Callable[..., MastodonAdapter], clock: FakeClock
) -> None:
    content = post(" ".join(f"mot{i}" for i in range(250)))
    adapter = make(server)
    rendered = adapter.render(content)
    ref = ref_for(content, clock)
    published = await adapter.publish(rendered, ref)
    result = await make(server).lookup(ref, rendered, NOW)
    assert result == Found(published)


async def test_lookup_returns_the_parts_that_are_out(
    server: MastodonServer, make: Callable[..., MastodonAdapter], clock: FakeClock
) -> None:
    content = post(" ".join(f"mot{i}" for i in range(250)))
    adapter = make(server)
    rendered = adapter.render(content)
    ref = ref_for(content, clock)
    server.fail("POST", "/api/v1/statuses", status=503, skip=1)
    with pytest.raises(TransientError):
        await adapter.publish(rendered, ref)
    result = await make(server).lookup(ref, rendered, NOW)
    assert isinstance(result, Found)
    assert [p.remote_id for p in result.published.parts] == [server.statuses[0].id]


async def test_lookup_pages_back_to_since(
    server: MastodonServer, make: Callable[..., MastodonAdapter], clock: FakeClock
) -> None:
    content = post("Le message recherché")
    adapter = make(server)
    rendered = adapter.render(content)
    ref = ref_for(content, clock)
    published = await adapter.publish(rendered, ref)
    for i in range(100):  # buried under two and a half pages
        server.add_status(f"Bruit {i}", created_at=NOW + timedelta(minutes=1, seconds=i))
    result = await make(server).lookup(ref, rendered, NOW)
    assert result == Found(published)
    pages = server.accepted_for("GET", "/api/v1/accounts/{id}/statuses")
    assert len(pages) == 3 and "max_id" in pages[1].query
    # verify_credentials once per adapter: the account id is cached.
    adapter2 = make(server)
    await adapter2.lookup(ref, rendered, NOW)
    await adapter2.lookup(ref, rendered, NOW)
    assert len(server.accepted_for("GET", "/api/v1/accounts/verify_credentials")) == 2


async def test_lookup_absent(
    server: MastodonServer, make: Callable[..., MastodonAdapter], clock: FakeClock
) -> None:
    content = post("Jamais envoyé")
    rendered = make(server).render(content)
    server.add_status("Jamais envoyé", created_at=NOW - timedelta(days=2))  # before since
    server.add_status("Autre chose", created_at=NOW + timedelta(minutes=1))
    result = await make(server).lookup(ref_for(content, clock), rendered, NOW)
    assert result == Absent()


async def test_lookup_unknowable_when_the_timeline_is_too_deep(
    server: MastodonServer, make: Callable[..., MastodonAdapter], clock: FakeClock
) -> None:
    content = post("Introuvable")
    rendered = make(server).render(content)
    for i in range(420):
        server.add_status(f"Bruit {i}", created_at=NOW + timedelta(seconds=i + 1))
    result = await make(server).lookup(ref_for(content, clock), rendered, NOW)
    assert isinstance(result, Unknowable)


async def test_lookup_unknowable_when_the_token_is_refused(
    server: MastodonServer, make: Callable[..., MastodonAdapter], clock: FakeClock
) -> None:
    content = post("Bonjour")
    adapter = make(server, token="masto-SECRET-nope-0000")
    result = await adapter.lookup(ref_for(content, clock), adapter.render(content), NOW)
    assert isinstance(result, Unknowable) and "401" in result.reason


# ---------------------------------------------------------------------------- check, prepare


async def test_check(server: MastodonServer, make: Callable[..., MastodonAdapter]) -> None:
    ok = await make(server).check()
    assert ok.status is CheckStatus.OK and ok.identity == "@brand"
    bad = await make(server, token="masto-SECRET-revoked-1111").check()
    assert bad.status is CheckStatus.ATTENTION and "401" in bad.detail
    assert "masto-SECRET-revoked-1111" not in bad.detail


async def test_prepare_falls_back_to_the_v1_instance(
    servers: MakeServer, make: Callable[..., MastodonAdapter]
) -> None:
    server = await servers(instance_v2=False, max_characters=5000)
    adapter = make(server)
    await adapter.prepare()
    assert adapter.capabilities().length.limit == 5000


async def test_prepare_reads_media_limits(
    servers: MakeServer, make: Callable[..., MastodonAdapter], tmp_path: Path
) -> None:
    server = await servers(
        image_size_limit=1000, description_limit=20, supported_mime_types=("image/png",)
    )
    adapter = make(server)
    await adapter.prepare()
    media = adapter.capabilities().media
    assert media.max_image_bytes == 1000 and media.alt_text_max == 20
    assert media.image_types == frozenset({"image/png"})
    big = MediaItem(MediaRef.beside(tmp_path / "big.jpg"), "x" * 30, "image/jpeg", 5000)
    errors = adapter.render(post("Photo", media=(big,))).errors
    assert len(errors) == 3  # type, size, alt text


# ---------------------------------------------------------------------------- the server itself


async def test_server_is_strict(server: MastodonServer) -> None:
    url = server.url + "/api/v1/statuses"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json={"status": "x"}) as resp:
            assert resp.status == 401 and await resp.json() == {"error": INVALID_TOKEN}
        auth = {"Authorization": f"Bearer {TOKEN}"}
        async with http.post(url, json={"status": "x", "colour": "red"}, headers=auth) as resp:
            assert resp.status == 422 and "colour" in (await resp.json())["error"]
        async with http.post(url, json={"status": "x", "visibility": "friends"},
                             headers=auth) as resp:
            assert resp.status == 422
        async with http.post(url, data={"status": "x"}, headers=auth) as resp:
            assert resp.status == 415
        async with http.get(server.url + "/api/v1/accounts/verify_credentials",
                            params={"colour": "red"}, headers=auth) as resp:
            assert resp.status == 422
        async with http.get(server.url + "/api/v2/instance") as resp:
            assert resp.status == 200  # public, as on Mastodon
    assert server.statuses == []


def test_errors_are_adapter_errors() -> None:
    for cls in (TransientError, RateLimitedError, PermanentError, AmbiguousError):
        assert issubclass(cls, AdapterError)
    assert isinstance(Rendered("mastodon", "a", 500, ()), Rendered)
