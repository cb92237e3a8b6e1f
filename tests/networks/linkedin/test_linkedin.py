"""The LinkedIn adapter against the strict local LinkedIn server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

import publisher.adapters.linkedin as linkedin_module
from publisher.adapters.base import (
    Absent,
    AdapterContext,
    AmbiguousError,
    Attention,
    CheckStatus,
    DeliveryRef,
    Found,
    LinkCard,
    MediaItem,
    PermanentError,
    PostContent,
    RateLimitedError,
    RemotePart,
    TransientError,
    Unknowable,
)
from publisher.adapters.linkedin import (
    DEFAULT_VERSION,
    LinkedInAdapter,
    LinkedInSettings,
    escape_little,
    retry_after,
    unescape_little,
)
from publisher.clock import FakeClock
from publisher.media import MediaRef
from publisher.secrets import Secret
from tests.networks.linkedin.server import INVALID_TOKEN, LinkedInServer, error_body, parse_little

ORG = "urn:li:organization:5515715"
MEMBER_ID = "yrZCpj2Z12"
PERSON = f"urn:li:person:{MEMBER_ID}"
TOKEN = "AQV-SECRET-linkedin-token-51c0de"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64 + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
SOLDES = "Les soldes d'hiver commencent (enfin) ! ❄️ #soldes\nhttps://example.com/soldes"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def server(clock: FakeClock) -> AsyncIterator[LinkedInServer]:
    async with LinkedInServer(author=ORG, token=TOKEN, member_id=MEMBER_ID, now=clock.now) as li:
        yield li


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    timeout = aiohttp.ClientTimeout(total=5, sock_connect=1, sock_read=3)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        yield http


def make_adapter(
    base: str,
    session: aiohttp.ClientSession | None,
    clock: FakeClock,
    **settings: Any,
) -> LinkedInAdapter:
    values: dict[str, Any] = {
        "author": ORG,
        "token": Secret("LINKEDIN_TOKEN", TOKEN),
        "api_base": base,
    }
    values.update(settings)
    return LinkedInAdapter(
        "brand-li", LinkedInSettings(**values), AdapterContext(session=session, clock=clock)
    )


@pytest.fixture
def adapter(
    server: LinkedInServer, session: aiohttp.ClientSession, clock: FakeClock
) -> LinkedInAdapter:
    return make_adapter(server.url, session, clock)


@pytest.fixture
def offline(clock: FakeClock) -> LinkedInAdapter:
    """For pure rendering: no session, no server."""
    return make_adapter("https://api.linkedin.com", None, clock)


@pytest.fixture
def images(tmp_path: Path) -> list[MediaItem]:
    items = []
    for i in range(4):
        data = JPEG if i % 2 == 0 else PNG
        ext, mime = ("jpg", "image/jpeg") if i % 2 == 0 else ("png", "image/png")
        path = tmp_path / f"photo{i}.{ext}"
        path.write_bytes(data)
        alt = f"Vitrine {i} (hiver)" if i != 1 else ""
        items.append(MediaItem(MediaRef.beside(path), alt, mime, len(data)))
    return items


def content(text: str = SOLDES, **kw: Any) -> PostContent:
    return PostContent(
        post_id="winter-sale", account="brand-li", network="linkedin", text=text, **kw
    )


def ref(clock: FakeClock, post_id: str = "winter-sale") -> DeliveryRef:
    return DeliveryRef(42, post_id, "brand-li", clock.now())


def assert_no_token(*texts: object) -> None:
    for text in texts:
        assert TOKEN not in str(text), f"token leaked in {text!r}"


def assert_token_only_in_headers(server: LinkedInServer) -> None:
    for req in server.requests:
        assert TOKEN not in req.raw_path
        assert TOKEN.encode() not in req.body


# ---------------------------------------------------------------------------
# The little text format.


@pytest.mark.parametrize(
    ("char", "escaped"),
    [
        ("\\", "\\\\"),
        ("|", "\\|"),
        ("{", "\\{"),
        ("}", "\\}"),
        ("@", "\\@"),
        ("[", "\\["),
        ("]", "\\]"),
        ("(", "\\("),
        (")", "\\)"),
        ("<", "\\<"),
        (">", "\\>"),
        ("#", "\\#"),
        ("*", "\\*"),
        ("_", "\\_"),
        ("~", "\\~"),
    ],
)
def test_every_reserved_character_is_escaped(char: str, escaped: str) -> None:
    text = f"a {char} b"
    assert escape_little(text) == f"a {escaped} b"
    assert unescape_little(escape_little(text)) == text
    # LinkedIn would keep the escaped form whole, and cut the raw one at the character.
    assert parse_little(escape_little(text)).visible == text
    assert not parse_little(escape_little(text)).truncated
    if char != "#":  # "a # b": a lone "#" is no hashtag, LinkedIn cuts there too
        assert parse_little(text).visible == "a "


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain text, nothing to do: 10% off!", "plain text, nothing to do: 10% off!"),
        ("#soldes", "{hashtag|\\#|soldes}"),
        ("Go #soldes #hiver2026!", "Go {hashtag|\\#|soldes} {hashtag|\\#|hiver2026}!"),
        ("accents: #été", "accents: {hashtag|\\#|été}"),
        ("full-width ＃タグ", "full-width {hashtag|＃|タグ}"),
        # A tag with "_" stays plain (escaped) text: no template for reserved characters.
        ("#my_tag", "\\#my\\_tag"),
        # Not hashtags: in a word, all digits, in a URL.
        ("C# and F#", "C\\# and F\\#"),
        ("#2026", "\\#2026"),
        ("https://example.com/a_b#top", "https://example.com/a\\_b\\#top"),
        ("(#soldes)", "\\({hashtag|\\#|soldes}\\)"),
        ("mail me@example.com", "mail me\\@example.com"),
        ("@alice not a mention", "\\@alice not a mention"),
        ("*bold* _it_ ~s~", "\\*bold\\* \\_it\\_ \\~s\\~"),
        ("<b>[x]{y}|z", "\\<b\\>\\[x\\]\\{y\\}\\|z"),
        ("a\\nb", "a\\\\nb"),
        ("ligne 1\nligne 2", "ligne 1\nligne 2"),
        ("", ""),
    ],
)
def test_escape_little_table(text: str, expected: str) -> None:
    assert escape_little(text) == expected
    assert unescape_little(expected) == text


def test_unescape_reads_linkedin_forms() -> None:
    # What GET /rest/posts returns: templates with or without the escaped sign, mentions.
    assert unescape_little("Go {hashtag|\\#|soldes} {hashtag|#|hiver}") == "Go #soldes #hiver"
    assert unescape_little("Hi @[Acme \\(FR\\)](urn:li:organization:1)") == "Hi Acme (FR)"
    assert unescape_little("10\\% \\(off\\)") == "10% (off)"


@given(st.text(alphabet=st.sampled_from("ab #_\\|{}@[]()<>*~＃é1\n/:."), max_size=40))
def test_escape_round_trips_and_is_never_cut(text: str) -> None:
    escaped = escape_little(text)
    assert unescape_little(escaped) == text
    little = parse_little(escaped)
    assert not little.truncated
    assert little.visible == text


async def test_unescaped_commentary_is_silently_cut(
    adapter: LinkedInAdapter,
    server: LinkedInServer,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Why escaping matters: LinkedIn answers 201 and keeps the text up to "(" only."""
    monkeypatch.setattr(linkedin_module, "escape_little", lambda text: text)
    naive = await adapter.publish(adapter.render(content()), ref(clock))
    cut = server.post(naive.remote_id)
    assert cut is not None and cut.truncated
    assert cut.text == "Les soldes d'hiver commencent "

    monkeypatch.undo()
    escaped = await adapter.publish(adapter.render(content()), ref(clock, "other"))
    whole = server.post(escaped.remote_id)
    assert whole is not None and not whole.truncated
    assert whole.text == SOLDES
    assert whole.commentary == (
        "Les soldes d'hiver commencent \\(enfin\\) ! ❄️ {hashtag|\\#|soldes}\n"
        "https://example.com/soldes"
    )


# ---------------------------------------------------------------------------
# Payloads (pure).


DISTRIBUTION = {
    "feedDistribution": "MAIN_FEED",
    "targetEntities": [],
    "thirdPartyDistributionChannels": [],
}


def test_payload_text_only(offline: LinkedInAdapter) -> None:
    rendered = offline.render(content("Bonjour (tout le monde) #hello"))
    assert not rendered.errors and not rendered.warnings
    assert [dict(p.payload) for p in rendered.parts] == [
        {
            "author": ORG,
            "commentary": "Bonjour \\(tout le monde\\) {hashtag|\\#|hello}",
            "visibility": "PUBLIC",
            "distribution": DISTRIBUTION,
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": False,
        }
    ]
    assert rendered.parts[0].length == len("Bonjour (tout le monde) #hello")
    assert rendered.limit == 3000


def test_payload_single_image(offline: LinkedInAdapter, images: list[MediaItem]) -> None:
    rendered = offline.render(content("Photo", media=(images[0],)))
    assert not rendered.errors
    assert rendered.parts[0].payload["content"] == {
        "media": {"id": "<media:0>", "altText": "Vitrine 0 (hiver)"}
    }


def test_payload_multi_image(offline: LinkedInAdapter, images: list[MediaItem]) -> None:
    rendered = offline.render(content("Photos", media=tuple(images[:3])))
    assert not rendered.errors
    assert rendered.parts[0].payload["content"] == {
        "multiImage": {
            "images": [
                {"id": "<media:0>", "altText": "Vitrine 0 (hiver)"},
                {"id": "<media:1>"},  # no alt text: the field is left out
                {"id": "<media:2>", "altText": "Vitrine 2 (hiver)"},
            ]
        }
    }
    assert any("no alt text" in w for w in rendered.warnings)


def test_payload_article(offline: LinkedInAdapter, tmp_path: Path) -> None:
    thumb = tmp_path / "card.png"
    thumb.write_bytes(PNG)
    link = LinkCard(
        "https://example.com/soldes",
        "Les soldes (hiver)",
        "Jusqu'à -50 %",
        thumb=MediaItem(MediaRef.beside(thumb), "", "image/png", len(PNG)),
    )
    rendered = offline.render(content("Lisez ça", link=link))
    assert not rendered.errors and not rendered.warnings
    assert rendered.parts[0].payload["content"] == {
        "article": {
            "source": "https://example.com/soldes",
            "title": "Les soldes (hiver)",  # not little text: not escaped
            "description": "Jusqu'à -50 %",
            "thumbnail": "<thumb:card.png>",  # the editor's path, never a server path
        }
    }


def test_payload_article_without_title_uses_the_url(offline: LinkedInAdapter) -> None:
    rendered = offline.render(content("Lisez ça", link=LinkCard("https://example.com/a")))
    assert rendered.parts[0].payload["content"] == {
        "article": {"source": "https://example.com/a", "title": "https://example.com/a"}
    }
    assert any("no title" in w for w in rendered.warnings)


def test_payload_member_connections(clock: FakeClock) -> None:
    adapter = make_adapter(
        "https://api.linkedin.com", None, clock, author=PERSON, visibility="connections"
    )
    payload = adapter.render(content("Hi")).parts[0].payload
    assert payload["author"] == PERSON
    assert payload["visibility"] == "CONNECTIONS"


def test_render_limits(offline: LinkedInAdapter, images: list[MediaItem], tmp_path: Path) -> None:
    assert not offline.render(content("x" * 3000)).errors
    too_long = offline.render(content("x" * 3001))
    assert too_long.errors and "3001" in too_long.errors[0]
    assert len(too_long.parts) == 1  # no threads on LinkedIn
    many = tuple(images[0] for _ in range(21))
    assert any("at most 20" in e for e in offline.render(content("x", media=many)).errors)
    gif = MediaItem(MediaRef.beside(tmp_path / "a.gif"), "alt", "image/gif", 10)
    assert offline.render(content("x", media=(gif,))).errors
    long_alt = MediaItem(images[0].file, "a" * 4087, "image/jpeg", images[0].size)
    assert any("4086" in e for e in offline.render(content("x", media=(long_alt,))).errors)
    assert offline.render(content("x", extra_parts=("second",))).errors


def test_render_link_with_images_drops_the_card(
    offline: LinkedInAdapter, images: list[MediaItem]
) -> None:
    rendered = offline.render(
        content("Photos", media=(images[0],), link=LinkCard("https://example.com/x", "T"))
    )
    assert "article" not in rendered.parts[0].payload["content"]
    assert any("link card dropped" in w for w in rendered.warnings)


def test_render_warns_when_escapes_pass_the_limit(offline: LinkedInAdapter) -> None:
    rendered = offline.render(content("(" * 1600))
    assert not rendered.errors
    assert any("escaped commentary is 3200 characters" in w for w in rendered.warnings)


def test_render_bad_thumbnail_type(offline: LinkedInAdapter, tmp_path: Path) -> None:
    webp = MediaItem(MediaRef.beside(tmp_path / "card.webp"), "", "image/webp", 10)
    link = LinkCard("https://example.com/x", "T", thumb=webp)
    assert any("JPEG or PNG" in e for e in offline.render(content("x", link=link)).errors)


def test_settings_validation() -> None:
    token = Secret("T", TOKEN)
    bad_authors = ("org:1", "urn:li:company:1", "urn:li:organization:abc", "urn:li:person:")
    for bad in bad_authors:
        with pytest.raises(ValidationError):
            LinkedInSettings(author=bad, token=token)
    for bad_version in ("2025-11", "202513", "v202511", "20251"):
        with pytest.raises(ValidationError):
            LinkedInSettings(author=ORG, token=token, version=bad_version)
    with pytest.raises(ValidationError):
        LinkedInSettings(author=ORG, token=token, visibility="CONNECTIONS")
    with pytest.raises(ValidationError):
        LinkedInSettings(author=ORG, token=token, visibility="FRIENDS")
    ok = LinkedInSettings(author=PERSON, token=token, token_expires=date(2027, 1, 30))
    assert ok.expires_at == datetime(2027, 1, 30, tzinfo=UTC)
    naive = LinkedInSettings(author=ORG, token=token, token_expires=datetime(2027, 1, 30, 12))
    assert naive.expires_at == datetime(2027, 1, 30, 12, tzinfo=UTC)
    # An unresolved ${NAME} (a dry run without credentials) still renders.
    assert LinkedInSettings(author="${LI_AUTHOR}", token=token).author == "${LI_AUTHOR}"
    assert "AQV" not in repr(ok)


# ---------------------------------------------------------------------------
# Publishing end to end.


async def test_text_post(
    adapter: LinkedInAdapter, server: LinkedInServer, clock: FakeClock
) -> None:
    published = await adapter.publish(adapter.render(content()), ref(clock))
    assert len(server.posts) == 1
    post = server.posts[0]
    assert published.remote_id == post.urn
    assert published.url == f"https://www.linkedin.com/feed/update/{post.urn}/"
    assert post.text == SOLDES and not post.truncated
    assert post.author == ORG and post.visibility == "PUBLIC"
    (req,) = server.requests_to("POST", "/rest/posts")
    assert req.headers["Authorization"] == f"Bearer {TOKEN}"
    assert req.headers["LinkedIn-Version"] == DEFAULT_VERSION
    assert req.headers["X-Restli-Protocol-Version"] == "2.0.0"
    assert req.headers["Content-Type"] == "application/json"
    assert json.loads(req.body) == dict(adapter.render(content()).parts[0].payload)
    assert_token_only_in_headers(server)


async def test_done_part_is_not_sent_again(
    adapter: LinkedInAdapter, server: LinkedInServer, clock: FakeClock
) -> None:
    done = (RemotePart(0, "urn:li:share:1", "https://www.linkedin.com/feed/update/urn:li:share:1/"),)
    published = await adapter.publish(adapter.render(content()), ref(clock), done)
    assert published.parts == done
    assert server.requests == []


async def test_single_image_post(
    adapter: LinkedInAdapter, server: LinkedInServer, clock: FakeClock, images: list[MediaItem]
) -> None:
    published = await adapter.publish(
        adapter.render(content("Vitrine", media=(images[0],))), ref(clock)
    )
    assert [r.method + " " + r.raw_path.split("?")[0] for r in server.requests] == [
        "POST /rest/images",
        "PUT /dms-uploads/upload-00000001",
        "POST /rest/posts",
    ]
    (image,) = server.images.values()
    assert image.data == JPEG and image.content_type == "image/jpeg" and image.owner == ORG
    post = server.post(published.remote_id)
    assert post is not None
    assert post.content == {"media": {"id": image.urn, "altText": "Vitrine 0 (hiver)"}}
    init = server.requests[0]
    assert init.raw_path == "/rest/images?action=initializeUpload"
    assert json.loads(init.body) == {"initializeUploadRequest": {"owner": ORG}}
    assert_token_only_in_headers(server)


async def test_multi_image_post_with_alt_text(
    adapter: LinkedInAdapter, server: LinkedInServer, clock: FakeClock, images: list[MediaItem]
) -> None:
    published = await adapter.publish(
        adapter.render(content("Vitrines", media=tuple(images))), ref(clock)
    )
    assert len(server.requests_to("POST", "/rest/images")) == 4
    assert len(server.requests_to("PUT", "/dms-uploads/")) == 4
    urns = list(server.images)
    assert [server.images[u].data for u in urns] == [JPEG, PNG, JPEG, PNG]
    post = server.post(published.remote_id)
    assert post is not None
    assert post.content == {
        "multiImage": {
            "images": [
                {"id": urns[0], "altText": "Vitrine 0 (hiver)"},
                {"id": urns[1]},
                {"id": urns[2], "altText": "Vitrine 2 (hiver)"},
                {"id": urns[3], "altText": "Vitrine 3 (hiver)"},
            ]
        }
    }


async def test_article_post_with_thumbnail(
    adapter: LinkedInAdapter, server: LinkedInServer, clock: FakeClock, tmp_path: Path
) -> None:
    thumb = tmp_path / "card.png"
    thumb.write_bytes(PNG)
    item = MediaItem(MediaRef.beside(thumb), "", "image/png", len(PNG))
    link = LinkCard("https://example.com/soldes", "Les soldes", "Jusqu'à -50 %", thumb=item)
    published = await adapter.publish(adapter.render(content(link=link)), ref(clock))
    post = server.post(published.remote_id)
    assert post is not None
    (image,) = server.images.values()
    assert image.data == PNG
    assert post.content == {
        "article": {
            "source": "https://example.com/soldes",
            "title": "Les soldes",
            "description": "Jusqu'à -50 %",
            "thumbnail": image.urn,
        }
    }


async def test_article_post_without_thumbnail(
    adapter: LinkedInAdapter, server: LinkedInServer, clock: FakeClock
) -> None:
    link = LinkCard("https://example.com/soldes", "Les soldes")
    published = await adapter.publish(adapter.render(content(link=link)), ref(clock))
    post = server.post(published.remote_id)
    assert post is not None and server.images == {}
    article = {"source": "https://example.com/soldes", "title": "Les soldes"}
    assert post.content == {"article": article}


# ---------------------------------------------------------------------------
# Errors.


async def test_duplicate_post_is_ambiguous_and_names_the_urn(
    adapter: LinkedInAdapter, server: LinkedInServer, clock: FakeClock
) -> None:
    first = await adapter.publish(adapter.render(content()), ref(clock))
    with pytest.raises(AmbiguousError) as info:
        await adapter.publish(adapter.render(content()), ref(clock, "same-text"))
    err = info.value
    assert err.remote_id == first.remote_id
    assert err.status == 422
    assert "DUPLICATE_POST" in err.reason and first.remote_id in err.reason
    assert len(server.posts) == 1
    found = await adapter.lookup_urn(err.remote_id)
    assert isinstance(found, Found)
    assert found.published.remote_id == first.remote_id
    assert found.published.url == first.url
    # The engine's own path (lookup by commentary) finds it too.
    by_text = await adapter.lookup(ref(clock), adapter.render(content()), NOW - timedelta(hours=1))
    assert isinstance(by_text, Found) and by_text.published.remote_id == first.remote_id


async def test_lookup_urn_absent_and_invalid(
    adapter: LinkedInAdapter, server: LinkedInServer
) -> None:
    assert isinstance(await adapter.lookup_urn("urn:li:share:123"), Absent)
    (req,) = server.requests
    assert req.raw_path == "/rest/posts/urn%3Ali%3Ashare%3A123"
    assert isinstance(await adapter.lookup_urn("not-a-urn"), Unknowable)
    server.inject("get_post", 500)
    assert isinstance(await adapter.lookup_urn("urn:li:share:123"), Unknowable)


@pytest.mark.parametrize(
    ("headers", "reset_at", "after"),
    [
        ({"Retry-After": "120"}, None, timedelta(seconds=120)),
        (
            {"Retry-After": "Tue, 01 Dec 2026 09:30:00 GMT"},
            datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
            None,
        ),
        ({}, None, None),
    ],
)
async def test_rate_limited(
    adapter: LinkedInAdapter,
    server: LinkedInServer,
    clock: FakeClock,
    headers: dict[str, str],
    reset_at: datetime | None,
    after: timedelta | None,
) -> None:
    body = error_body(429, "Resource level throttle APPLICATION DAY limit", "TOO_MANY_REQUESTS")
    server.inject("posts", 429, body, headers=headers)
    with pytest.raises(RateLimitedError) as info:
        await adapter.publish(adapter.render(content()), ref(clock))
    assert info.value.reset_at == reset_at
    assert info.value.retry_after == after
    assert "throttle" in info.value.reason
    assert server.posts == []


def test_retry_after_table() -> None:
    assert retry_after({"retry-after": "60"}, NOW) == (None, timedelta(seconds=60))
    assert retry_after({"Retry-After": "0"}, NOW) == (None, None)
    assert retry_after({"Retry-After": "soon"}, NOW) == (None, None)
    past = "Tue, 01 Dec 2026 08:00:00 GMT"
    assert retry_after({"Retry-After": past}, NOW) == (None, None)


async def test_unauthorized(
    adapter: LinkedInAdapter, server: LinkedInServer, clock: FakeClock
) -> None:
    server.token_revoked = True
    with pytest.raises(PermanentError) as info:
        await adapter.publish(adapter.render(content()), ref(clock))
    err = info.value
    assert err.attention is Attention.CREDENTIALS and err.status == 401
    assert "INVALID_ACCESS_TOKEN" in err.reason and "token expired or revoked" in err.reason
    assert_no_token(err, repr(err), err.reason)


async def test_wrong_token_is_rejected_by_the_server(
    server: LinkedInServer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    adapter = make_adapter(server.url, session, clock, token=Secret("T", "AQV-wrong-token-0000"))
    with pytest.raises(PermanentError) as info:
        await adapter.publish(adapter.render(content()), ref(clock))
    assert info.value.attention is Attention.CREDENTIALS


async def test_forbidden(
    adapter: LinkedInAdapter, server: LinkedInServer, clock: FakeClock
) -> None:
    server.inject("posts", 403, error_body(
        403, "Not enough permissions to access: partnerApiPostsExternal.CREATE.20251101",
        "ACCESS_DENIED",
    ))
    with pytest.raises(PermanentError) as info:
        await adapter.publish(adapter.render(content()), ref(clock))
    assert info.value.attention is Attention.PERMISSION


async def test_content_refused(
    adapter: LinkedInAdapter, server: LinkedInServer, clock: FakeClock
) -> None:
    server.inject("posts", 422, {
        "message": "ERROR :: /commentary :: length of commentary exceeds 3000 characters\n",
        "status": 422,
    })
    with pytest.raises(PermanentError) as info:
        await adapter.publish(adapter.render(content()), ref(clock))
    assert info.value.attention is Attention.CONTENT
    assert "length of commentary exceeds 3000" in info.value.reason


async def test_inactive_version(
    server: LinkedInServer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    adapter = make_adapter(server.url, session, clock, version="202401")
    with pytest.raises(PermanentError) as info:
        await adapter.publish(adapter.render(content()), ref(clock))
    # A retired version is the operator's to fix: the account is held, nothing fails.
    assert info.value.status == 426 and info.value.attention is Attention.VERSION
    assert "set `version` of account" in info.value.reason


async def test_rendered_errors_are_not_sent(
    adapter: LinkedInAdapter, server: LinkedInServer, clock: FakeClock
) -> None:
    with pytest.raises(PermanentError) as info:
        await adapter.publish(adapter.render(content("x" * 3001)), ref(clock))
    assert info.value.attention is Attention.CONTENT
    assert server.requests == []


@pytest.mark.parametrize("endpoint", ["images", "upload"])
@pytest.mark.parametrize("status", [500, 503])
async def test_upload_failure_is_transient(
    adapter: LinkedInAdapter,
    server: LinkedInServer,
    clock: FakeClock,
    images: list[MediaItem],
    endpoint: Any,
    status: int,
) -> None:
    server.inject(endpoint, status)
    with pytest.raises(TransientError):
        await adapter.publish(adapter.render(content("x", media=(images[0],))), ref(clock))
    assert server.posts == []


async def test_upload_dropped_is_transient(
    adapter: LinkedInAdapter, server: LinkedInServer, clock: FakeClock, images: list[MediaItem]
) -> None:
    # aiohttp resends an idempotent PUT once when a pooled connection drops: drop both.
    server.inject("upload", 201, drop=True, times=2)
    with pytest.raises(TransientError):
        await adapter.publish(adapter.render(content("x", media=(images[0],))), ref(clock))
    assert server.posts == []


async def test_unreadable_media_is_a_content_error(
    adapter: LinkedInAdapter, server: LinkedInServer, clock: FakeClock, tmp_path: Path
) -> None:
    gone = MediaItem(MediaRef.beside(tmp_path / "gone.jpg"), "alt", "image/jpeg", 10)
    present = tmp_path / "here.jpg"
    present.write_bytes(JPEG)
    here = MediaItem(MediaRef.beside(present), "alt", "image/jpeg", len(JPEG))
    with pytest.raises(PermanentError) as info:
        await adapter.publish(adapter.render(content("x", media=(here, gone))), ref(clock))
    assert info.value.attention is Attention.CONTENT
    assert server.requests == []


async def test_post_landed_but_answer_lost_then_lookup_finds_it(
    adapter: LinkedInAdapter, server: LinkedInServer, clock: FakeClock
) -> None:
    server.inject("posts", 200, drop=True, commit=True)
    rendered = adapter.render(content())
    with pytest.raises(AmbiguousError) as info:
        await adapter.publish(rendered, ref(clock))
    assert info.value.remote_id is None
    assert_no_token(info.value, info.value.reason)
    (post,) = server.posts
    result = await adapter.lookup(ref(clock), rendered, NOW - timedelta(hours=1))
    assert isinstance(result, Found)
    assert result.published.remote_id == post.urn
    (finder,) = server.requests_to("GET", "/rest/posts?")
    assert "author=urn%3Ali%3Aorganization%3A5515715" in finder.raw_path
    assert "q=author" in finder.raw_path and "sortBy=LAST_MODIFIED" in finder.raw_path


async def test_500_after_the_body_left_is_ambiguous(
    adapter: LinkedInAdapter, server: LinkedInServer, clock: FakeClock
) -> None:
    server.inject("posts", 500, commit=False)
    with pytest.raises(AmbiguousError):
        await adapter.publish(adapter.render(content()), ref(clock))


async def test_201_without_urn_is_ambiguous(
    adapter: LinkedInAdapter, server: LinkedInServer, clock: FakeClock
) -> None:
    server.inject("posts", 201, "", commit=True)
    with pytest.raises(AmbiguousError) as info:
        await adapter.publish(adapter.render(content()), ref(clock))
    assert "without a post URN" in info.value.reason


# ---------------------------------------------------------------------------
# Lookup.


async def test_lookup_absent(
    adapter: LinkedInAdapter, server: LinkedInServer, clock: FakeClock
) -> None:
    server.add_post("something else entirely")
    result = await adapter.lookup(ref(clock), adapter.render(content()), NOW - timedelta(hours=1))
    assert isinstance(result, Absent)


async def test_lookup_matches_linkedin_canonical_commentary(
    adapter: LinkedInAdapter, server: LinkedInServer, clock: FakeClock
) -> None:
    # Posted elsewhere with a bare "#soldes": LinkedIn keeps a template, we still match.
    twin = server.add_post(
        "Les soldes d'hiver commencent \\(enfin\\) ! ❄️ #soldes\nhttps://example.com/soldes"
    )
    assert "{hashtag|\\#|soldes}" in twin.commentary
    result = await adapter.lookup(ref(clock), adapter.render(content()), NOW - timedelta(hours=1))
    assert isinstance(result, Found) and result.published.remote_id == twin.urn


async def test_lookup_older_identical_post_is_unknowable(
    adapter: LinkedInAdapter, server: LinkedInServer, clock: FakeClock
) -> None:
    old = server.add_post(escape_little(SOLDES), created_at=NOW - timedelta(days=3))
    result = await adapter.lookup(ref(clock), adapter.render(content()), NOW - timedelta(hours=1))
    assert isinstance(result, Unknowable) and old.urn in result.reason


async def test_lookup_reads_further_pages(
    adapter: LinkedInAdapter, server: LinkedInServer, clock: FakeClock
) -> None:
    target = server.add_post(escape_little(SOLDES), created_at=NOW - timedelta(minutes=30))
    for i in range(60):  # newer posts push it to the second page
        server.add_post(f"post {i}", created_at=NOW - timedelta(minutes=20 - i / 10))
    result = await adapter.lookup(ref(clock), adapter.render(content()), NOW - timedelta(hours=1))
    assert isinstance(result, Found) and result.published.remote_id == target.urn
    assert len(server.requests_to("GET", "/rest/posts?")) == 2


async def test_lookup_too_many_posts_is_unknowable(
    adapter: LinkedInAdapter, server: LinkedInServer, clock: FakeClock
) -> None:
    for i in range(201):
        server.add_post(f"post {i}", created_at=NOW - timedelta(seconds=i))
    result = await adapter.lookup(ref(clock), adapter.render(content()), NOW - timedelta(hours=1))
    assert isinstance(result, Unknowable)


async def test_lookup_forbidden_is_unknowable(
    adapter: LinkedInAdapter, server: LinkedInServer, clock: FakeClock
) -> None:
    server.finder_forbidden = True
    result = await adapter.lookup(ref(clock), adapter.render(content()), NOW - timedelta(hours=1))
    assert isinstance(result, Unknowable) and "ACCESS_DENIED" in result.reason
    assert_no_token(result.reason)


async def test_lookup_without_text_is_unknowable(
    adapter: LinkedInAdapter, images: list[MediaItem], clock: FakeClock
) -> None:
    rendered = adapter.render(content("", media=(images[0],)))
    assert isinstance(await adapter.lookup(ref(clock), rendered, NOW), Unknowable)


# ---------------------------------------------------------------------------
# Token expiry and check().


async def test_expired_token_is_refused_before_sending(
    server: LinkedInServer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    adapter = make_adapter(server.url, session, clock, token_expires=NOW - timedelta(minutes=1))
    with pytest.raises(PermanentError) as info:
        await adapter.publish(adapter.render(content()), ref(clock))
    assert info.value.attention is Attention.CREDENTIALS
    assert "expired" in info.value.reason
    assert server.requests == []


async def test_token_expiring_on_the_day_as_a_date(
    server: LinkedInServer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    adapter = make_adapter(server.url, session, clock, token_expires=date(2026, 12, 1))
    with pytest.raises(PermanentError):  # a date expires at its first instant (UTC)
        await adapter.publish(adapter.render(content()), ref(clock))
    assert server.requests == []


def test_expiry_warning(clock: FakeClock) -> None:
    def warning(expires: datetime | date | None, now: datetime = NOW) -> str | None:
        adapter = make_adapter("https://api.linkedin.com", None, clock, token_expires=expires)
        return adapter.expiry_warning(now)

    assert warning(None) is None
    assert warning(NOW + timedelta(days=30)) is None
    assert warning(NOW + timedelta(days=7, minutes=1)) is None
    soon = warning(NOW + timedelta(days=7))
    assert soon is not None and "expires in 7 days" in soon and "2026-12-08 09:00Z" in soon
    assert "in 1 day " in (warning(NOW + timedelta(days=1, hours=2)) or "")
    assert "within a day" in (warning(NOW + timedelta(hours=3)) or "")
    expired = warning(NOW - timedelta(seconds=1))
    assert expired is not None and "expired" in expired
    assert warning(date(2026, 12, 5)) is not None


async def test_check_organization_ok(
    server: LinkedInServer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    expires = NOW + timedelta(days=40)
    adapter = make_adapter(server.url, session, clock, token_expires=expires)
    result = await adapter.check()
    assert result.status is CheckStatus.OK
    assert result.identity == f"Brand Inc. ({ORG})"
    assert result.expires_at == expires
    (req,) = server.requests
    assert req.raw_path == "/rest/organizations/5515715"
    assert req.headers["LinkedIn-Version"] == DEFAULT_VERSION


async def test_check_warns_before_expiry(
    server: LinkedInServer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    expires = NOW + timedelta(days=5)
    adapter = make_adapter(server.url, session, clock, token_expires=expires)
    result = await adapter.check()
    assert result.status is CheckStatus.ATTENTION
    assert result.expires_at == expires
    assert "expires in 5 days" in result.detail
    assert result.identity == f"Brand Inc. ({ORG})"


async def test_check_expired(
    server: LinkedInServer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    adapter = make_adapter(server.url, session, clock, token_expires=NOW - timedelta(days=1))
    result = await adapter.check()
    assert result.status is CheckStatus.ATTENTION and "expired" in result.detail


async def test_check_member(
    server: LinkedInServer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    server.author = PERSON
    adapter = make_adapter(server.url, session, clock, author=PERSON)
    result = await adapter.check()
    assert result.status is CheckStatus.OK
    assert result.identity == f"Ada Lovelace ({PERSON})"
    (req,) = server.requests
    assert req.raw_path == "/v2/userinfo"


async def test_check_member_other_token(
    server: LinkedInServer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    adapter = make_adapter(server.url, session, clock, author="urn:li:person:someoneElse")
    result = await adapter.check()
    assert result.status is CheckStatus.ATTENTION
    assert f"urn:li:person:{MEMBER_ID}" in result.detail


async def test_check_revoked(
    adapter: LinkedInAdapter, server: LinkedInServer
) -> None:
    server.token_revoked = True
    result = await adapter.check()
    assert result.status is CheckStatus.ATTENTION
    assert "INVALID_ACCESS_TOKEN" in result.detail
    assert_no_token(result.detail)


async def test_check_other_organization(
    server: LinkedInServer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    adapter = make_adapter(server.url, session, clock, author="urn:li:organization:1")
    result = await adapter.check()
    assert result.status is CheckStatus.ATTENTION and "ACCESS_DENIED" in result.detail


async def test_missing_secret_is_a_credentials_error(
    server: LinkedInServer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    adapter = make_adapter(server.url, session, clock, token=Secret("LINKEDIN_TOKEN", None))
    with pytest.raises(PermanentError) as info:
        await adapter.publish(adapter.render(content()), ref(clock))
    assert info.value.attention is Attention.CREDENTIALS
    assert server.requests == []


def test_token_goes_only_to_linkedin_hosts(clock: FakeClock) -> None:
    adapter = make_adapter("https://api.linkedin.com", None, clock)
    assert adapter._may_carry_token("https://www.linkedin.com/dms-uploads/abc?x=1")
    assert adapter._may_carry_token("https://api.linkedin.com/mediaUpload/abc")
    assert not adapter._may_carry_token("https://linkedin.com.evil.example/upload")
    assert not adapter._may_carry_token("https://uploads.example.net/abc")


# ---------------------------------------------------------------------------
# The strict server itself refuses what LinkedIn would.


async def test_server_is_strict(server: LinkedInServer, session: aiohttp.ClientSession) -> None:
    url = f"{server.url}/rest/posts"
    good = {"Authorization": f"Bearer {TOKEN}", "LinkedIn-Version": DEFAULT_VERSION,
            "X-Restli-Protocol-Version": "2.0.0"}
    body = {"author": ORG, "commentary": "hi", "visibility": "PUBLIC",
            "distribution": {"feedDistribution": "MAIN_FEED"}, "lifecycleState": "PUBLISHED"}

    async def post(headers: dict[str, str], doc: Any = body) -> tuple[int, Any]:
        data = json.dumps(doc).encode()
        hdrs = {"Content-Type": "application/json", **headers}
        async with session.post(url, data=data, headers=hdrs) as resp:
            text = await resp.text()
            return resp.status, json.loads(text) if text else None

    assert await post({}) == (401, INVALID_TOKEN)
    status, doc = await post({"Authorization": f"Bearer {TOKEN}"})
    assert (status, doc["code"]) == (400, "VERSION_MISSING")
    status, doc = await post({**good, "LinkedIn-Version": "202001"})
    assert (status, doc["code"]) == (426, "NONEXISTENT_VERSION")
    status, _ = await post({k: v for k, v in good.items() if k != "X-Restli-Protocol-Version"})
    assert status == 400
    status, _ = await post({**good, "Content-Type": "text/plain"})
    assert status == 415
    status, doc = await post(good, {**body, "text": "hi"})
    assert status == 422 and "/text" in doc["message"]
    status, doc = await post(good, {k: v for k, v in body.items() if k != "lifecycleState"})
    assert status == 422 and "/lifecycleState" in doc["message"]
    status, doc = await post(good, {**body, "content": {"media": {"id": "urn:li:image:nope"}}})
    assert status == 422 and "does not exist" in doc["message"]
    status, _ = await post(good, {**body, "author": "urn:li:organization:1"})
    assert status == 403
    assert server.posts == []
    status, _ = await post(good)
    assert status == 201 and len(server.posts) == 1
    status, doc = await post(good)
    assert status == 422 and doc["errorDetails"]["inputErrors"][0]["code"] == "DUPLICATE_POST"
    async with session.get(f"{server.url}/rest/posts/{server.posts[0].urn}", headers=good) as resp:
        assert resp.status == 400  # an unencoded URN in the path
