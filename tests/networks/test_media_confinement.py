"""Item 1 of issue 19, network by network: a media file re-pointed after the sync is not sent.

The post is validated the way the daemon does it (``load_queue``) while ``media/a.*`` is a link
to a real image inside the queue file's directory. The link is then re-pointed at a secret
outside it, shaped like an image of the same type so that only the confinement can stop it,
and the adapter publishes against the strict local server of its network. Every byte the
adapter sends goes through a recording TCP relay in front of the server: the secret must not
be among them, nor in what the server stored, and the delivery fails permanently, naming
only the editor's path.

Bluesky's reference PDS needs Node (``pds`` tests); its upload path is driven here against a
small XRPC server of our own, which records every blob it is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web

from publisher.adapters.base import (
    Adapter,
    AdapterContext,
    Attention,
    DeliveryRef,
    PermanentError,
    PostContent,
)
from publisher.adapters.bluesky import BlueskyAdapter, BlueskySettings
from publisher.adapters.facebook import FacebookAdapter, FacebookSettings
from publisher.adapters.linkedin import LinkedInAdapter, LinkedInSettings
from publisher.adapters.mastodon import MastodonAdapter, MastodonSettings
from publisher.adapters.x import XAdapter, XSettings
from publisher.clock import FakeClock
from publisher.config import SecretPolicy, load_config
from publisher.engine.runtime import LIVE, build_adapters
from publisher.queuefile import load_queue
from publisher.secrets import Secret
from publisher.store.codec import content_from_json
from tests.broken_cases import FIXTURES
from tests.media_site import Site, make_site
from tests.networks.bluesky import harness as harness_bluesky
from tests.networks.facebook.server import GraphServer
from tests.networks.linkedin.server import LinkedInServer
from tests.networks.mastodon.server import MastodonServer
from tests.networks.x.server import XServer

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
MARK = b"SECRET-credential-4be0c1d7-never-uploaded"
# A secret that starts like the file it replaces: the type check alone would let it through.
MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "jpg": b"\xff\xd8\xff\xe0", "gif": b"GIF89a"}
FIXTURE = {"png": "pixel.png", "jpg": "pixel.jpg", "gif": "pixel.gif"}


class Relay:
    """A TCP relay in front of a server that keeps every byte the client sends through it."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.received = bytearray()
        self.url = ""
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def _pipe(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, keep: bool
    ) -> None:
        try:
            while data := await src.read(65536):
                if keep:
                    self.received += data
                dst.write(data)
                await dst.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            dst.close()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        for task in (
            asyncio.create_task(self._pipe(reader, up_writer, True)),
            asyncio.create_task(self._pipe(up_reader, writer, False)),
        ):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def __aenter__(self) -> Relay:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            self._server.close()


# ---------------------------------------------------------------------------
# A PDS that takes blobs: what the Bluesky adapter needs to get as far as an upload.


class BlobPds:
    def __init__(self) -> None:
        self.blobs: list[bytes] = []
        self.records: list[dict[str, Any]] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _upload_blob(self, request: web.Request) -> web.StreamResponse:
        data = await request.read()
        self.blobs.append(data)
        ref = {"$link": f"bafkreiblob{len(self.blobs):04d}"}
        return web.json_response(
            {"blob": {"$type": "blob", "ref": ref, "mimeType": request.content_type,
                      "size": len(data)}}
        )

    async def _create_record(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.records.append(body)
        uri = f"at://{harness_bluesky.DID}/app.bsky.feed.post/{body['rkey']}"
        return web.json_response({"uri": uri, "cid": "bafyreirecord0001"})

    async def __aenter__(self) -> BlobPds:
        app = web.Application()
        xrpc = "/xrpc/com.atproto."
        app.router.add_post(xrpc + "server.createSession", harness_bluesky._create_session)
        app.router.add_post(xrpc + "server.refreshSession", harness_bluesky._refresh_session)
        app.router.add_get(xrpc + "repo.getRecord", harness_bluesky._get_record)
        app.router.add_post(xrpc + "repo.uploadBlob", self._upload_blob)
        app.router.add_post(xrpc + "repo.createRecord", self._create_record)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


# ---------------------------------------------------------------------------
# The networks.


@dataclass(frozen=True)
class Network:
    name: str
    account: str
    ext: str  # the media file's type
    thumb: bool  # the file is a link card's thumb rather than an attached image
    server: Callable[[FakeClock], AbstractAsyncContextManager[Any]]
    make: Callable[[Any, str, AdapterContext], Adapter]
    stored: Callable[[Any], list[bytes]]  # every file the server kept
    posts: Callable[[Any], int]  # how many posts the server holds

    def __str__(self) -> str:
        return f"{self.name}-{'thumb' if self.thumb else self.ext}"


def _x(server: XServer, url: str, context: AdapterContext) -> Adapter:
    creds = {
        "api_key": server.consumer_key,
        "api_secret": server.consumer_secret,
        "access_token": server.access_token,
        "access_secret": server.access_secret,
    }
    secrets = {k: Secret(f"X_{k.upper()}", v) for k, v in creds.items()}
    return XAdapter("brand-x", XSettings(**secrets, api_base=url), context)


def _x_media(server: XServer) -> list[bytes]:
    return [m.content for m in server.media.values()] + [
        s for m in server.media.values() for s in m.segments.values()
    ]


MASTODON_TOKEN = "masto-SECRET-token-5c1e0b7d"
FB_TOKEN = "EAAG-SECRET-page-token-9b7e21"
LI_TOKEN = "AQV-SECRET-linkedin-token-51c0de"
LI_ORG = "urn:li:organization:5515715"


def _linkedin(server: LinkedInServer, url: str, context: AdapterContext) -> Adapter:
    settings = LinkedInSettings(author=LI_ORG, token=Secret("LI_TOKEN", LI_TOKEN), api_base=url)
    return LinkedInAdapter("brand-li", settings, context)


def _bluesky(server: BlobPds, url: str, context: AdapterContext) -> Adapter:
    settings = BlueskySettings(
        pds=url, handle=harness_bluesky.HANDLE, app_password=Secret("BSKY", "app-pw-1234")
    )
    return BlueskyAdapter("brand-bsky", settings, context)


NETWORKS = [
    Network(
        "x", "brand-x", "png", False,
        lambda clock: XServer(now=clock.now),
        _x, _x_media, lambda s: len(s.created),
    ),
    Network(  # GIFs go up in segments (INIT/APPEND/FINALIZE): another read path
        "x", "brand-x", "gif", False,
        lambda clock: XServer(now=clock.now, processing_polls=0),
        _x, _x_media, lambda s: len(s.created),
    ),
    Network(
        "mastodon", "brand-masto", "png", False,
        lambda clock: MastodonServer(clock=clock, token=MASTODON_TOKEN),
        lambda s, url, ctx: MastodonAdapter(
            "brand-masto",
            MastodonSettings(instance=url, token=Secret("MASTODON_TOKEN", MASTODON_TOKEN)),
            ctx,
        ),
        lambda s: [m.data for m in s.media.values()], lambda s: len(s.statuses),
    ),
    Network(
        "facebook", "brand-fb", "jpg", False,
        lambda clock: GraphServer(page_id="1234567890", token=FB_TOKEN, now=clock.now),
        lambda s, url, ctx: FacebookAdapter(
            "brand-fb",
            FacebookSettings(
                page_id="1234567890", page_token=Secret("FB_TOKEN", FB_TOKEN), api_base=url
            ),
            ctx,
        ),
        lambda s: [p.data for p in s.photos.values()], lambda s: len(s.posts),
    ),
    Network(
        "linkedin", "brand-li", "jpg", False,
        lambda clock: LinkedInServer(author=LI_ORG, token=LI_TOKEN, now=clock.now),
        _linkedin, lambda s: [i.data or b"" for i in s.images.values()], lambda s: len(s.posts),
    ),
    Network(
        "linkedin", "brand-li", "png", True,
        lambda clock: LinkedInServer(author=LI_ORG, token=LI_TOKEN, now=clock.now),
        _linkedin, lambda s: [i.data or b"" for i in s.images.values()], lambda s: len(s.posts),
    ),
    Network(
        "bluesky", "brand-bsky", "png", False,
        lambda clock: BlobPds(), _bluesky, lambda s: s.blobs, lambda s: len(s.records),
    ),
    Network(
        "bluesky", "brand-bsky", "png", True,
        lambda clock: BlobPds(), _bluesky, lambda s: s.blobs, lambda s: len(s.records),
    ),
]


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return make_site(tmp_path)


def validated(site: Site, net: Network, name: str) -> PostContent:
    """The post as the sync checks and stores it, for ``net``'s account."""
    if net.thumb:
        site.write_queue([], thumb=name)
    else:
        site.write_queue([name])
    config = load_config(site.config, secrets=SecretPolicy.WARN)
    queue = load_queue(config.queue_path, config)
    content = queue.posts[0].content_for(config.accounts["brand"])
    return replace(content, account=net.account, network=net.name)


def repoint(link: Path, target: Path | str) -> None:
    """Swap a link in one step (rename over it), as an editor's tool or an attacker would."""
    tmp = link.with_name(f".{link.name}.new")
    os.symlink(target, tmp)
    os.replace(tmp, link)


@contextlib.asynccontextmanager
async def net_server(net: Network, clock: FakeClock) -> AsyncIterator[tuple[Any, Relay]]:
    """``net``'s server behind a relay."""
    async with net.server(clock) as server, Relay(server.url) as relay:
        server.url = relay.url  # upload URLs the server hands out point at the relay too
        yield server, relay


@contextlib.asynccontextmanager
async def against(net: Network, clock: FakeClock) -> AsyncIterator[tuple[Any, Relay, Adapter]]:
    """``net``'s server behind a relay, and an adapter pointed at the relay."""
    timeout = aiohttp.ClientTimeout(total=5, sock_connect=1, sock_read=3)

    async def wait(delay: timedelta) -> None:
        await clock.advance(delay)  # processing polls: the clock seam, never a real sleep

    async with (
        net_server(net, clock) as (server, relay),
        aiohttp.ClientSession(timeout=timeout) as session,
    ):
        context = AdapterContext(session=session, clock=clock, timeout=timeout, wait=wait)
        yield server, relay, net.make(server, relay.url, context)


@pytest.mark.parametrize("net", NETWORKS, ids=str)
async def test_item1_media_repointed_after_sync_at_a_secret_is_not_uploaded(
    site: Site, net: Network
) -> None:
    media = site.root / "media"
    (media / f"real.{net.ext}").write_bytes((FIXTURES / FIXTURE[net.ext]).read_bytes())
    secret = site.outside / f"credential.{net.ext}"
    secret.write_bytes(MAGIC[net.ext] + MARK)
    link = media / f"a.{net.ext}"
    os.symlink(f"real.{net.ext}", link)
    content = validated(site, net, f"media/a.{net.ext}")
    clock = FakeClock(NOW)
    async with against(net, clock) as (server, relay, adapter):
        rendered = adapter.render(content)
        assert not rendered.errors, rendered.errors
        repoint(link, secret)  # after the sync, before the send; the queue file untouched
        with pytest.raises(PermanentError) as info:
            await adapter.publish(rendered, DeliveryRef(7, "p1", net.account, NOW))
        stored, posts = net.stored(server), net.posts(server)
    assert MARK not in relay.received, "the secret's bytes were sent"
    assert not any(MARK in blob for blob in stored)
    assert posts == 0
    err = info.value
    assert err.attention is Attention.CONTENT
    assert err.reason == f"media/a.{net.ext} is a link that leads out of its media root"
    assert str(site.outside) not in repr(err)


@pytest.mark.parametrize("net", [n for n in NETWORKS if n.name == "mastodon"], ids=str)
async def test_item1_link_flipped_during_sends_never_uploads_the_secret(
    site: Site, net: Network
) -> None:
    """The race: a link flipped between the image and a secret outside, as fast as it goes,
    while the same post is published again and again. Each send uploads the image or fails
    permanently; none uploads the secret, whichever way the flips fall."""
    media = site.root / "media"
    (media / "real.png").write_bytes((FIXTURES / "pixel.png").read_bytes())
    secret = site.outside / "credential.png"
    secret.write_bytes(MAGIC["png"] + MARK)
    link = media / "a.png"
    os.symlink("real.png", link)
    content = validated(site, net, "media/a.png")
    stop = threading.Event()

    def flip() -> None:
        targets: list[Path | str] = [secret, "real.png"]
        i = 0
        while not stop.is_set():
            repoint(link, targets[i % 2])
            i += 1

    clock = FakeClock(NOW)
    outcomes: set[str] = set()
    async with against(net, clock) as (server, relay, adapter):
        rendered = adapter.render(content)
        flipper = threading.Thread(target=flip)
        flipper.start()
        try:
            for n in range(60):
                try:
                    await adapter.publish(rendered, DeliveryRef(n, f"p{n}", net.account, NOW))
                    outcomes.add("published")
                except PermanentError as err:
                    outcomes.add(err.reason)
        finally:
            stop.set()
            flipper.join()
        stored = net.stored(server)
    assert MARK not in relay.received
    assert not any(MARK in blob for blob in stored)
    assert outcomes <= {"published", "media/a.png is a link that leads out of its media root"}


MASTODON = next(n for n in NETWORKS if n.name == "mastodon")


async def test_item1_media_whose_type_changed_after_sync_is_refused(site: Site) -> None:
    """Still inside the root, but no longer the PNG the sync checked: not sent."""
    media = site.root / "media"
    (media / "real.png").write_bytes((FIXTURES / "pixel.png").read_bytes())
    (media / "other.jpg").write_bytes((FIXTURES / "pixel.jpg").read_bytes())
    link = media / "a.png"
    os.symlink("real.png", link)
    content = validated(site, MASTODON, "media/a.png")
    async with against(MASTODON, FakeClock(NOW)) as (server, _, adapter):
        rendered = adapter.render(content)
        repoint(link, "other.jpg")
        with pytest.raises(PermanentError) as info:
            await adapter.publish(rendered, DeliveryRef(7, "p1", MASTODON.account, NOW))
        assert server.media == {} and server.statuses == []
    assert info.value.attention is Attention.CONTENT
    assert info.value.reason == (
        "media/a.png changed since it was checked: it is image/jpeg now, not image/png"
    )


async def test_item1_rows_stored_before_media_roots_are_read_only_under_the_roots(
    site: Site,
) -> None:
    """A delivery stored with an absolute path (before media roots) still goes out when that
    path lies inside a root of the config in force, and is refused when it does not."""
    media = site.root / "media"
    image = (FIXTURES / "pixel.png").read_bytes()
    (media / "real.png").write_bytes(image)
    secret = site.outside / "credential.png"
    secret.write_bytes(MAGIC["png"] + MARK)

    def old_row(path: Path) -> str:
        return json.dumps(
            {
                "post_id": "p1", "account": "brand-masto", "network": "mastodon",
                "text": "Vitrine", "thread": "auto", "extra_parts": [], "link": None,
                "language": None, "options": {},
                "media": [{"path": str(path), "alt": "", "mime_type": "image/png", "size": 9}],
            }
        )

    clock = FakeClock(NOW)
    timeout = aiohttp.ClientTimeout(total=5, sock_connect=1, sock_read=3)
    async with net_server(MASTODON, clock) as (server, relay):
        site.config.write_text(
            'timezone = "UTC"\nqueue = "queue.yaml"\n[accounts.brand-masto]\n'
            f'network = "mastodon"\ninstance = "{relay.url}"\ntoken = "{MASTODON_TOKEN}"\n',
            encoding="utf-8",
        )
        config = load_config(site.config, secrets=SecretPolicy.WARN)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            context = AdapterContext(session=session, clock=clock, timeout=timeout)
            adapter = build_adapters(config, context, LIVE)["brand-masto"]
            inside = content_from_json(old_row(media / "real.png"))
            await adapter.publish(adapter.render(inside), DeliveryRef(1, "p1", "brand-masto", NOW))
            outside = content_from_json(old_row(secret))
            with pytest.raises(PermanentError) as info:
                await adapter.publish(
                    adapter.render(outside), DeliveryRef(2, "p2", "brand-masto", NOW)
                )
        uploaded = [m.data for m in server.media.values()]
    assert uploaded == [image]
    assert MARK not in relay.received
    assert info.value.reason == "credential.png: media must be inside the queue file's directory"
    assert str(site.outside) not in repr(info.value)
