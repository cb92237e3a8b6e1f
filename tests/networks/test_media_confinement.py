"""Item 1 of issue 19, network by network: a media file re-pointed after the sync is not sent.

The post is validated the way the daemon does it (``load_queue``) while ``media/a.*`` is a link
to a real image inside the queue file's directory. The link is then re-pointed at a secret
outside it, shaped like an image of the same type so that only the confinement can stop it,
and the adapter publishes against the strict local server of its network. Every byte the
adapter sends goes through a recording TCP relay in front of the server: the secret must not
be among them, nor in what the server stored, and the delivery fails permanently, naming
only the editor's path.

Each network folder lists its entries in its ``confinement.py``, found by glob.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from publisher.adapters.base import (
    Adapter,
    AdapterContext,
    Attention,
    DeliveryRef,
    PermanentError,
    PostContent,
)
from publisher.clock import FakeClock
from publisher.config import SecretPolicy, load_config
from publisher.engine.runtime import LIVE, build_adapters
from publisher.queuefile import load_queue
from publisher.store.codec import content_from_json
from tests.broken_cases import FIXTURES
from tests.media_site import Site, make_site
from tests.networks.confinement import Network, networks
from tests.networks.mastodon.confinement import MASTODON_TOKEN

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
# The networks.


NETWORKS = networks()


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
