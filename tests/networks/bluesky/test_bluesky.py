"""The Bluesky adapter against the real reference PDS (``@atproto/pds``), plus its pure parts.

Every record the adapter writes is read back from the PDS (``getRecord``/``listRecords``), so
these tests prove what the network stores, not what we think we sent. Faults the PDS will not
produce on demand (a lost answer, a 503 mid-thread, an expired token) come from a thin proxy
in front of it or from a token minted with the PDS's own signing secret.
"""

from __future__ import annotations

import asyncio
import re
import struct
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp import web

from publisher.adapters.base import (
    Absent,
    AdapterContext,
    Attention,
    CheckStatus,
    DeliveryRef,
    Found,
    LinkCard,
    MediaItem,
    PermanentError,
    PostContent,
    TransientError,
    Unknowable,
)
from publisher.adapters.bluesky import (
    BlueskyAdapter,
    BlueskySettings,
    created_at,
    facets_for,
    image_size,
    record_key,
    tid,
)
from publisher.clock import FakeClock
from publisher.media import MediaRef
from publisher.secrets import Secret
from publisher.testing.servers import LocalServer
from tests.networks.bluesky.pds import Account, Pds, unique_handle

NOW = datetime(2026, 12, 1, 9, 0, 0, 123456, tzinfo=UTC)
TID_RE = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")
needs_pds = pytest.mark.pds


# ---------------------------------------------------------------------------
# Helpers.


def png(width: int, height: int) -> bytes:
    """A valid (grey) PNG of the given size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def content(post_id: str, text: str, **kw: Any) -> PostContent:
    return PostContent(post_id=post_id, account="brand-bsky", network="bluesky", text=text, **kw)


def ref_for(post_id: str, when: datetime = NOW) -> DeliveryRef:
    return DeliveryRef(1, post_id, "brand-bsky", when)


def rkey_of(uri: str) -> str:
    return uri.rsplit("/", 1)[-1]


@dataclass
class Proxy:
    """A pass-through in front of the PDS that records every call and injects planned faults.

    ``plan[nsid]`` is a list of actions for the next calls to that method: ``"503"`` and
    ``"slur"`` answer without forwarding; ``"drop"`` forwards, lets the PDS act, then drops
    the connection.
    """

    upstream: str
    session: aiohttp.ClientSession
    hits: list[tuple[str, int]] = field(default_factory=list)
    plan: dict[str, list[str]] = field(default_factory=dict)
    url: str = ""
    _hang: asyncio.Event = field(default_factory=asyncio.Event)

    def count(self, nsid: str) -> int:
        return sum(1 for name, _ in self.hits if name == nsid)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        nsid = request.path.removeprefix("/xrpc/")
        body = await request.read()
        actions = self.plan.get(nsid) or []
        action = actions.pop(0) if actions else "forward"
        if action == "503":
            self.hits.append((nsid, 503))
            return web.json_response(
                {"error": "NotEnoughResources", "message": "try later"}, status=503
            )
        if action == "slur":  # what the PDS says when an rkey happens to spell a slur
            self.hits.append((nsid, 400))
            return web.json_response(
                {"error": "InvalidRequest", "message": "Unacceptable slur in record key"},
                status=400,
            )
        keep = ("authorization", "content-type")
        headers = {k: v for k, v in request.headers.items() if k.lower() in keep}
        async with self.session.request(
            request.method, self.upstream + request.path_qs, data=body or None, headers=headers
        ) as up:
            data = await up.read()
            status, ctype = up.status, up.headers.get("Content-Type", "application/json")
        self.hits.append((nsid, status))
        if action == "drop":
            assert request.transport is not None
            request.transport.abort()
            await self._hang.wait()
        return web.Response(body=data, status=status, headers={"Content-Type": ctype})


@dataclass
class Env:
    pds: Pds
    account: Account
    http: aiohttp.ClientSession
    proxy: Proxy
    clock: FakeClock

    def adapter(
        self, *, password: str | None = None, direct: bool = False, url: str | None = None
    ) -> BlueskyAdapter:
        settings = BlueskySettings(
            pds=url or (self.pds.url if direct else self.proxy.url),
            handle=self.account.handle,
            app_password=Secret("BSKY_APP_PASSWORD", password or self.account.app_password),
        )
        context = AdapterContext(session=self.http, clock=self.clock)
        return BlueskyAdapter("brand-bsky", settings, context)


@pytest.fixture
async def env(pds: Pds, pds_account: Account) -> AsyncIterator[Env]:
    async with aiohttp.ClientSession() as http:
        proxy = Proxy(pds.url, http)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", proxy.handle)
        server = LocalServer(app)
        proxy.url = await server.start()
        try:
            yield Env(pds, pds_account, http, proxy, FakeClock(NOW))
        finally:
            proxy._hang.set()
            await server.stop()


def posts_with_text(account: Account, text: str) -> list[Any]:
    return [r for r in account.posts() if r["value"]["text"] == text]


# ---------------------------------------------------------------------------
# Pure: record keys, timestamps, facets, payloads, image sizes.


def test_tid_is_the_spec_encoding() -> None:
    assert tid(0, 0) == "2222222222222"
    assert tid(0, 1) == "2222222222223"
    # 2^53 - 1 microseconds and the largest clock id: 63 bits, the top bits stay 0.
    assert tid(2**53 - 1, 1023) == "bzzzzzzzzzzzz"
    assert TID_RE.match(tid(1_795_410_219_000_000, 5))
    with pytest.raises(ValueError):
        tid(2**53, 0)


def test_record_keys_are_deterministic_distinct_and_ordered() -> None:
    ref = ref_for("winter-sale")
    keys = [record_key(ref, i) for i in range(5)]
    assert keys == [record_key(ref_for("winter-sale"), i) for i in range(5)]
    assert all(TID_RE.match(k) for k in keys)
    assert keys == sorted(keys) and len(set(keys)) == 5  # thread parts sort in order
    other = [record_key(ref_for("other-post"), i) for i in range(5)]
    assert not set(keys) & set(other)  # same second, another post: other keys
    assert record_key(ref, 0, 1) != keys[0]  # the fallback candidate differs
    # The key's time is the scheduled second (plus under a second of spread).
    value = 0
    for ch in keys[0]:
        value = value * 32 + "234567abcdefghijklmnopqrstuvwxyz".index(ch)
    micros = value >> 10
    assert int(NOW.timestamp()) * 1_000_000 <= micros < (int(NOW.timestamp()) + 1) * 1_000_000


def test_created_at_has_milliseconds_and_z() -> None:
    assert created_at(NOW) == "2026-12-01T09:00:00.123Z"
    paris = NOW.astimezone(ZoneInfo("Europe/Paris"))
    assert created_at(paris) == "2026-12-01T09:00:00.123Z"


def test_facets_use_utf8_byte_offsets() -> None:
    text = "Été ☕️ 👩‍👩‍👧 café #soldes à @bob.test: https://example.com/a?b=1 et @solo"
    facets = facets_for(text)
    raw = text.encode()
    spans = {
        raw[f["index"]["byteStart"] : f["index"]["byteEnd"]].decode(): f["features"][0]
        for f in facets
    }
    assert spans == {
        "#soldes": {"$type": "app.bsky.richtext.facet#tag", "tag": "soldes"},
        "@bob.test": {"$type": "app.bsky.richtext.facet#mention", "did": "<did:bob.test>"},
        "https://example.com/a?b=1": {
            "$type": "app.bsky.richtext.facet#link",
            "uri": "https://example.com/a?b=1",
        },
    }  # "@solo" is no Bluesky handle: no facet


def test_facets_link_a_bare_domain_with_https() -> None:
    (facet,) = facets_for("voir example.com")
    assert facet["features"][0]["uri"] == "https://example.com"
    assert facet["index"] == {"byteStart": 5, "byteEnd": 16}


def _render_only(handle: str = "brand.bsky.social") -> BlueskyAdapter:
    settings = BlueskySettings(handle=handle, app_password=Secret("X", "pw-123456"))
    return BlueskyAdapter("brand-bsky", settings, AdapterContext(None, FakeClock(NOW)))


def test_build_payload_is_the_create_record_body(tmp_path: Path) -> None:
    photo = MediaItem(MediaRef.beside(tmp_path / "a.png"), "Vitrine", "image/png", 10)
    rendered = _render_only().render(
        content("p1", "Les soldes #soldes", media=(photo,), language="fr")
    )
    assert not rendered.errors
    assert rendered.parts[0].payload == {
        "repo": "<did>",
        "collection": "app.bsky.feed.post",
        "rkey": "<rkey>",
        "record": {
            "$type": "app.bsky.feed.post",
            "text": "Les soldes #soldes",
            "createdAt": "<now>",
            "langs": ["fr"],
            "facets": [
                {
                    "index": {"byteStart": 11, "byteEnd": 18},
                    "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "soldes"}],
                }
            ],
            "embed": {
                "$type": "app.bsky.embed.images",
                "images": [{"image": "<media:0>", "alt": "Vitrine", "aspectRatio": "<aspect:0>"}],
            },
        },
    }


def test_build_payload_threads_and_link_card(tmp_path: Path) -> None:
    thumb = MediaItem(MediaRef.beside(tmp_path / "t.png"), "", "image/png", 10)
    card = LinkCard("https://example.com/soldes", "Soldes", "Tout à -50 %", thumb)
    rendered = _render_only().render(content("p2", "un", extra_parts=("deux", "trois"), link=card))
    first, second, third = (p.payload["record"] for p in rendered.parts)
    assert first["embed"] == {
        "$type": "app.bsky.embed.external",
        "external": {
            "uri": "https://example.com/soldes",
            "title": "Soldes",
            "description": "Tout à -50 %",
            "thumb": "<thumb:t.png>",  # the editor's path, never a server path
        },
    }
    assert "reply" not in first and "embed" not in second
    assert second["reply"] == {"root": "<part:0>", "parent": "<part:0>"}
    assert third["reply"] == {"root": "<part:0>", "parent": "<part:1>"}


def test_render_limits() -> None:
    adapter = _render_only()
    caps = adapter.capabilities()
    assert caps.length.limit == 300 and caps.threads and caps.link_cards
    assert caps.media.max_images == 4 and caps.media.max_image_bytes == 1_000_000
    long = adapter.render(content("p3", "mot " * 100))
    assert len(long.parts) == 2 and not long.errors


def test_image_size_reads_headers() -> None:
    assert image_size(png(3, 2)) == (3, 2)
    assert image_size(b"GIF89a" + struct.pack("<HH", 640, 480) + b"\x00" * 8) == (640, 480)
    jpeg = (
        b"\xff\xd8"
        + b"\xff\xe0"
        + struct.pack(">H", 16)
        + b"JFIF\x00" + b"\x00" * 9
        + b"\xff\xc0"
        + struct.pack(">HBHH", 17, 8, 1080, 1920)
        + b"\x00" * 12
    )
    assert image_size(jpeg) == (1920, 1080)
    vp8x = b"RIFF\x00\x00\x00\x00WEBPVP8X" + b"\x0a\x00\x00\x00" + b"\x00" * 4
    vp8x += (799).to_bytes(3, "little") + (599).to_bytes(3, "little")
    assert image_size(vp8x) == (800, 600)
    assert image_size(b"not an image at all") is None


def test_image_size_follows_exif_orientation() -> None:
    """A phone photo stored sideways (orientation 6) is shown upright: swap the sides."""
    entry = struct.pack(">HHIH2x", 0x0112, 3, 1, 6)
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + struct.pack(">H", 1) + entry + b"\x00" * 4
    app1 = b"\xff\xe1" + struct.pack(">H", 2 + 6 + len(tiff)) + b"Exif\x00\x00" + tiff
    sof = b"\xff\xc0" + struct.pack(">HBHH", 17, 8, 3000, 4000) + b"\x00" * 12
    assert image_size(b"\xff\xd8" + app1 + sof) == (3000, 4000)


def test_one_gif_alone_is_an_image_but_not_beside_others(tmp_path: Path) -> None:
    gif = MediaItem(MediaRef.beside(tmp_path / "a.gif"), "Neige", "image/gif", 100)
    photo = MediaItem(MediaRef.beside(tmp_path / "a.png"), "Vitrine", "image/png", 100)
    adapter = _render_only()
    alone = adapter.render(content("gif", "Il neige", media=(gif,)))
    assert not alone.errors
    assert alone.parts[0].payload["record"]["embed"]["$type"] == "app.bsky.embed.images"
    assert adapter.render(content("gif2", "Il neige", media=(gif, photo))).errors


# ---------------------------------------------------------------------------
# Against the real PDS.


@needs_pds
async def test_text_post_is_stored_as_rendered(env: Env) -> None:
    adapter = env.adapter()
    text = "Les soldes d'hiver commencent ! ❄️"
    rendered = adapter.render(content("text-post", text, language="fr"))
    ref = ref_for("text-post")
    published = await adapter.publish(rendered, ref)

    (part,) = published.parts
    rkey = record_key(ref, 0)
    assert part.remote_id == f"at://{env.account.did}/app.bsky.feed.post/{rkey}"
    assert published.url == f"https://bsky.app/profile/{env.account.handle}/post/{rkey}"
    stored = env.pds.get_record(env.account.did, rkey)
    assert stored["cid"] == part.extra["cid"]
    assert stored["value"] == {
        "$type": "app.bsky.feed.post",
        "text": text,
        "createdAt": "2026-12-01T09:00:00.123Z",
        "langs": ["fr"],
    }
    assert env.proxy.count("com.atproto.server.createSession") == 1


@needs_pds
async def test_facets_offsets_and_mentions_resolved(env: Env) -> None:
    bob = env.pds.create_account(unique_handle("bob"))
    nobody = unique_handle("nobody")  # never created: does not resolve
    text = (
        f"Été ☕️ 👩‍👩‍👧 déjà vu — voir https://example.com/soldes?x=1 #soldes "
        f"avec @{bob.handle} et @{nobody} !"
    )
    adapter = env.adapter()
    ref = ref_for("facets")
    published = await adapter.publish(adapter.render(content("facets", text)), ref)

    stored = env.pds.get_record(env.account.did, rkey_of(published.remote_id))["value"]
    assert stored["text"] == text
    raw = text.encode("utf-8")
    spans = {
        raw[f["index"]["byteStart"] : f["index"]["byteEnd"]].decode("utf-8"): f["features"]
        for f in stored["facets"]
    }
    assert spans == {
        "https://example.com/soldes?x=1": [
            {"$type": "app.bsky.richtext.facet#link", "uri": "https://example.com/soldes?x=1"}
        ],
        "#soldes": [{"$type": "app.bsky.richtext.facet#tag", "tag": "soldes"}],
        f"@{bob.handle}": [{"$type": "app.bsky.richtext.facet#mention", "did": bob.did}],
    }  # the unresolvable mention stays as text, without a facet
    # The offsets are bytes, not characters: the multi-byte prefix moved them.
    link = next(f for f in stored["facets"] if "uri" in f["features"][0])
    assert link["index"]["byteStart"] == len(text[: text.index("https")].encode())
    assert link["index"]["byteStart"] > text.index("https")


@needs_pds
async def test_images_with_alt_text(env: Env, tmp_path: Path) -> None:
    wide, tall = tmp_path / "wide.png", tmp_path / "tall.png"
    wide.write_bytes(png(30, 20))
    tall.write_bytes(png(10, 40))
    media = (
        MediaItem(
            MediaRef.beside(wide), "Vitrine du magasin en hiver", "image/png", wide.stat().st_size
        ),
        MediaItem(MediaRef.beside(tall), "Affiche « Soldes »", "image/png", tall.stat().st_size),
    )
    adapter = env.adapter()
    rendered = adapter.render(content("images", "En vitrine", media=media))
    published = await adapter.publish(rendered, ref_for("images"))

    stored = env.pds.get_record(env.account.did, rkey_of(published.remote_id))["value"]
    embed = stored["embed"]
    assert embed["$type"] == "app.bsky.embed.images"
    assert [i["alt"] for i in embed["images"]] == [m.alt for m in media]
    assert [i["aspectRatio"] for i in embed["images"]] == [
        {"width": 30, "height": 20},
        {"width": 10, "height": 40},
    ]
    for image, item in zip(embed["images"], media, strict=True):
        assert image["image"]["$type"] == "blob"
        assert image["image"]["mimeType"] == "image/png"
        assert image["image"]["size"] == item.size
    assert env.proxy.count("com.atproto.repo.uploadBlob") == 2


GIF_1X1 = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00"
    b"\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)


@needs_pds
async def test_a_gif_goes_out_as_an_image(env: Env, tmp_path: Path) -> None:
    path = tmp_path / "snow.gif"
    path.write_bytes(GIF_1X1)
    item = MediaItem(MediaRef.beside(path), "Flocons", "image/gif", len(GIF_1X1))
    adapter = env.adapter()
    published = await adapter.publish(
        adapter.render(content("gif", "Il neige", media=(item,))), ref_for("gif")
    )
    stored = env.pds.get_record(env.account.did, rkey_of(published.remote_id))["value"]
    (image,) = stored["embed"]["images"]
    assert image["image"]["mimeType"] == "image/gif"
    assert image["aspectRatio"] == {"width": 1, "height": 1}
    assert image["alt"] == "Flocons"


@needs_pds
async def test_link_card_with_thumb(env: Env, tmp_path: Path) -> None:
    thumb = tmp_path / "thumb.png"
    thumb.write_bytes(png(12, 6))
    item = MediaItem(MediaRef.beside(thumb), "", "image/png", thumb.stat().st_size)
    card = LinkCard("https://example.com/soldes", "Les soldes", "Jusqu'à -50 %", item)
    adapter = env.adapter()
    text = "Les soldes sont là https://example.com/soldes"
    published = await adapter.publish(
        adapter.render(content("card", text, link=card)), ref_for("card")
    )
    stored = env.pds.get_record(env.account.did, rkey_of(published.remote_id))["value"]
    external = stored["embed"]["external"]
    assert stored["embed"]["$type"] == "app.bsky.embed.external"
    assert (external["uri"], external["title"], external["description"]) == (
        card.url,
        card.title,
        card.description,
    )
    assert external["thumb"]["mimeType"] == "image/png"
    assert external["thumb"]["size"] == thumb.stat().st_size


@needs_pds
async def test_thread_of_three_replies_root_and_parent(env: Env) -> None:
    adapter = env.adapter()
    texts = ["Un fil (1/3)", "Deuxième partie (2/3)", "Fin du fil (3/3)"]
    rendered = adapter.render(content("thread", texts[0], extra_parts=tuple(texts[1:])))
    assert len(rendered.parts) == 3
    published = await adapter.publish(rendered, ref_for("thread"))

    by_uri = {r["uri"]: r for r in env.account.posts()}
    stored = [by_uri[p.remote_id] for p in published.parts]
    assert [r["value"]["text"] for r in stored] == texts
    root = {"uri": stored[0]["uri"], "cid": stored[0]["cid"]}
    assert "reply" not in stored[0]["value"]
    assert stored[1]["value"]["reply"] == {"root": root, "parent": root}
    assert stored[2]["value"]["reply"] == {
        "root": root,
        "parent": {"uri": stored[1]["uri"], "cid": stored[1]["cid"]},
    }


@needs_pds
async def test_thread_resumes_after_a_failed_part(env: Env) -> None:
    adapter = env.adapter()
    texts = ["Reprise 1", "Reprise 2", "Reprise 3"]
    rendered = adapter.render(content("resume", texts[0], extra_parts=tuple(texts[1:])))
    ref = ref_for("resume")
    # The second createRecord meets a 503: part 0 is out, the rest is not.
    env.proxy.plan["com.atproto.repo.createRecord"] = ["forward", "503"]
    with pytest.raises(TransientError) as info:
        await adapter.publish(rendered, ref)
    (first,) = info.value.partial
    # Resume from a part as the store keeps it (no extra): the adapter reads its cid back.
    resumed_from = type(first)(first.index, first.remote_id, first.url)
    published = await env.adapter().publish(rendered, ref, done=[resumed_from])

    assert published.parts[0].remote_id == first.remote_id
    stored = {r["value"]["text"]: r for r in env.account.posts() if r["value"]["text"] in texts}
    assert len(stored) == 3
    root = {"uri": stored["Reprise 1"]["uri"], "cid": stored["Reprise 1"]["cid"]}
    assert stored["Reprise 2"]["value"]["reply"] == {"root": root, "parent": root}
    assert stored["Reprise 3"]["value"]["reply"]["parent"]["uri"] == stored["Reprise 2"]["uri"]


@needs_pds
async def test_a_retried_delivery_makes_one_record(env: Env) -> None:
    adapter = env.adapter()
    text = "Une seule fois, même réessayé"
    rendered = adapter.render(content("once", text))
    ref = ref_for("once")
    first = await adapter.publish(rendered, ref)
    await env.clock.advance(timedelta(minutes=5))  # a later retry: another createdAt
    second = await adapter.publish(rendered, ref)
    assert second.parts == first.parts
    # The PDS refused the duplicate key (500) and getRecord confirmed the original.
    assert ("com.atproto.repo.createRecord", 500) in env.proxy.hits
    # A process that crashed before persisting the outcome starts over with a new adapter.
    third = await env.adapter().publish(rendered, ref)
    assert third.parts == first.parts
    assert len(posts_with_text(env.account, text)) == 1


@needs_pds
async def test_answer_lost_after_create_is_confirmed_not_resent(env: Env) -> None:
    adapter = env.adapter()
    text = "La réponse s'est perdue"
    rendered = adapter.render(content("lost", text))
    ref = ref_for("lost")
    # The PDS creates the record, then the connection drops before the answer arrives.
    env.proxy.plan["com.atproto.repo.createRecord"] = ["drop"]
    published = await adapter.publish(rendered, ref)
    assert env.proxy.count("com.atproto.repo.getRecord") == 1
    assert published.remote_id.endswith(record_key(ref, 0))
    again = await env.adapter().publish(rendered, ref)
    assert again.parts == published.parts
    assert len(posts_with_text(env.account, text)) == 1


@needs_pds
async def test_a_refused_record_key_falls_back_to_the_next_candidate(env: Env) -> None:
    adapter = env.adapter()
    rendered = adapter.render(content("slur", "Clé refusée"))
    ref = ref_for("slur")
    env.proxy.plan["com.atproto.repo.createRecord"] = ["slur"]
    published = await adapter.publish(rendered, ref)
    assert rkey_of(published.remote_id) == record_key(ref, 0, 1)
    # The choice is deterministic: a retry lands on the same key, and lookup finds it.
    env.proxy.plan["com.atproto.repo.createRecord"] = ["slur"]
    again = await env.adapter().publish(rendered, ref)
    assert again.parts == published.parts
    found = await env.adapter().lookup(ref, rendered, NOW)
    assert isinstance(found, Found) and found.published.parts == published.parts
    assert len(posts_with_text(env.account, "Clé refusée")) == 1


@needs_pds
async def test_expired_token_is_refreshed_not_recreated(env: Env) -> None:
    adapter = env.adapter()
    await adapter.publish(adapter.render(content("before", "Avant")), ref_for("before"))
    assert adapter._session is not None
    adapter._session.access = env.pds.mint_access_token(env.account.did)

    published = await adapter.publish(adapter.render(content("after", "Après")), ref_for("after"))

    assert published.remote_id
    assert ("com.atproto.repo.createRecord", 400) in env.proxy.hits  # ExpiredToken, really
    assert env.proxy.count("com.atproto.server.refreshSession") == 1
    assert env.proxy.count("com.atproto.server.createSession") == 1  # only the first login
    assert len(posts_with_text(env.account, "Après")) == 1


@needs_pds
async def test_concurrent_publishes_refresh_once(env: Env) -> None:
    adapter = env.adapter()
    await adapter.check()
    assert adapter._session is not None
    adapter._session.access = env.pds.mint_access_token(env.account.did)
    results = await asyncio.gather(
        *(
            adapter.publish(adapter.render(content(f"c{i}", f"Ensemble {i}")), ref_for(f"c{i}"))
            for i in range(4)
        )
    )
    assert len({r.remote_id for r in results}) == 4
    assert env.proxy.count("com.atproto.server.refreshSession") == 1
    assert env.proxy.count("com.atproto.server.createSession") == 1


@needs_pds
async def test_dead_refresh_token_logs_in_again(env: Env) -> None:
    adapter = env.adapter()
    await adapter.check()
    assert adapter._session is not None
    adapter._session.access = env.pds.mint_access_token(env.account.did)
    adapter._session.refresh = "not-a-refresh-token"
    published = await adapter.publish(adapter.render(content("relog", "Relog")), ref_for("relog"))
    assert published.remote_id
    assert env.proxy.count("com.atproto.server.createSession") == 2


@needs_pds
async def test_wrong_app_password_needs_a_human(env: Env) -> None:
    adapter = env.adapter(password="wrong-password-1234")
    rendered = adapter.render(content("badpw", "Jamais publié"))
    with pytest.raises(PermanentError) as info:
        await adapter.publish(rendered, ref_for("badpw"))
    assert info.value.attention is Attention.CREDENTIALS
    assert "wrong-password-1234" not in str(info.value)
    check = await env.adapter(password="wrong-password-1234").check()
    assert check.status is CheckStatus.ATTENTION


@needs_pds
async def test_record_the_pds_refuses_is_a_content_error(env: Env) -> None:
    # 300 graphemes fit Bluesky's count, but not its 3000-byte limit on the text.
    family = "👨‍👩‍👧‍👦" * 300
    adapter = env.adapter()
    rendered = adapter.render(content("too-heavy", family))
    assert not rendered.errors
    with pytest.raises(PermanentError) as info:
        await adapter.publish(rendered, ref_for("too-heavy"))
    assert info.value.attention is Attention.CONTENT
    assert info.value.status == 400


@needs_pds
async def test_lookup_found_absent_unknowable(env: Env) -> None:
    adapter = env.adapter()
    rendered = adapter.render(content("lookup", "Retrouvé", extra_parts=("Et la suite",)))
    ref = ref_for("lookup")
    published = await adapter.publish(rendered, ref)

    fresh = env.adapter()  # a restarted daemon: no session yet
    found = await fresh.lookup(ref, rendered, NOW)
    assert isinstance(found, Found)
    assert [p.remote_id for p in found.published.parts] == [
        p.remote_id for p in published.parts
    ]
    assert found.published.parts[1].extra["cid"] == published.parts[1].extra["cid"]
    assert isinstance(await fresh.lookup(ref_for("never-sent"), rendered, NOW), Absent)
    down = env.adapter(url="http://127.0.0.1:9")  # nothing listens there
    assert isinstance(await down.lookup(ref, rendered, NOW), Unknowable)


@needs_pds
async def test_check_reports_the_handle(env: Env) -> None:
    adapter = env.adapter()
    check = await adapter.check()
    assert check.status is CheckStatus.OK
    assert check.identity == f"@{env.account.handle}"
    assert env.account.did in check.detail
    again = await adapter.check()  # the kept session, through getSession
    assert again.status is CheckStatus.OK
    assert env.proxy.count("com.atproto.server.createSession") == 1
    assert env.proxy.count("com.atproto.server.getSession") == 1


@needs_pds
async def test_no_secret_in_errors(env: Env) -> None:
    adapter = env.adapter()
    await adapter.check()
    assert adapter._session is not None
    session_repr = repr(adapter._session)
    assert adapter._session.access not in session_repr
    assert adapter._session.refresh not in session_repr
    env.proxy.plan["com.atproto.repo.createRecord"] = ["503"]
    env.proxy.plan["com.atproto.repo.getRecord"] = ["503"]
    with pytest.raises(TransientError) as info:
        await adapter.publish(adapter.render(content("secret", "Chut")), ref_for("secret"))
    for value in (adapter._session.access, adapter._session.refresh, env.account.app_password):
        assert value not in str(info.value) and value not in repr(info.value)
