"""Instagram and Threads fetching media from the S3 media host: a real S3-compatible server
(moto, ``LocalS3``) holds the files, and the networks' strict servers fetch the URLs the
host gives (presigned, or public) as the networks do."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from publisher.adapters.base import AdapterContext, DeliveryRef, MediaItem, PostContent
from publisher.adapters.instagram import InstagramAdapter, InstagramSettings
from publisher.adapters.threads import ThreadsAdapter, ThreadsSettings
from publisher.clock import FakeClock
from publisher.media import MediaRef
from publisher.secrets import Secret
from publisher.testing.s3server import LocalS3
from tests.networks.instagram.server import InstagramServer
from tests.networks.threads.server import ThreadsServer

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
JPEG = b"\xff\xd8\xff\xe0" + b"\x10" * 64 + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x20" * 64
MP4 = b"\x00\x00\x00\x18ftypisom" + b"\x30" * 64


@pytest.fixture(scope="module")
def local_s3() -> Iterator[LocalS3]:
    server = LocalS3()
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        yield http


def item(tmp_path: Path, name: str, data: bytes, mime: str, alt: str = "") -> MediaItem:
    path = tmp_path / name
    path.write_bytes(data)
    return MediaItem(MediaRef.beside(path), alt, mime, len(data))


async def test_instagram_photo_from_presigned_s3_urls(
    local_s3: LocalS3, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    account = await local_s3.provision()
    clock = FakeClock(NOW)
    post = PostContent(
        post_id="s3", account="brand-ig", network="instagram", text="Depuis le seau S3",
        media=(item(tmp_path, "vitrine.jpg", JPEG, "image/jpeg", "La vitrine"),),
    )
    async with (
        InstagramServer(now=clock.now, processing_polls=0) as server,
        account.host(session) as host,
    ):
        settings = InstagramSettings(
            user_id=server.user_id, token=Secret("IG_TOKEN", server.token), api_base=server.url
        )
        adapter = InstagramAdapter(
            "brand-ig", settings, AdapterContext(session=session, clock=clock, host=host)
        )
        rendered = adapter.render(post)
        published = await adapter.publish(rendered, DeliveryRef(1, "s3", "brand-ig", NOW))
        # Sent again (a retry after the lookup found nothing): nothing is uploaded twice.
        await adapter.publish(rendered, DeliveryRef(1, "s3", "brand-ig", NOW))
    first, second = server.posts
    assert published.remote_id == first.id
    assert first.container.fetched == second.container.fetched == [JPEG]
    url = first.container.body["image_url"]
    assert url.startswith(account.endpoint_url) and "Signature" in url  # presigned
    key = url.split("?", 1)[0].rsplit("/", 1)[1]
    assert await local_s3.puts(account, key) == 1  # the retry found it stored


async def test_threads_carousel_from_a_public_bucket(
    local_s3: LocalS3, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    account = await local_s3.provision(public=True)
    clock = FakeClock(NOW)
    post = PostContent(
        post_id="s3", account="brand-threads", network="threads", text="Deux vues",
        media=(
            item(tmp_path, "a.png", PNG, "image/png", "vue de face"),
            item(tmp_path, "b.mp4", MP4, "video/mp4", "la vidéo"),
        ),
    )
    async with (
        ThreadsServer(now=clock.now, processing_polls=0) as server,
        account.host(session, presign=None, public_base_url=account.public_base_url) as host,
    ):
        settings = ThreadsSettings(
            user_id=server.user_id, token=Secret("T", server.token), api_base=server.url
        )
        adapter = ThreadsAdapter(
            "brand-threads", settings, AdapterContext(session=session, clock=clock, host=host)
        )
        await adapter.publish(adapter.render(post), DeliveryRef(2, "s3", "brand-threads", NOW))
    [carousel] = server.posts
    assert [c.fetched for c in carousel.children] == [[PNG], [MP4]]
    urls = [c.body.get("image_url") or c.body.get("video_url") for c in carousel.children]
    assert all(u.startswith(account.public_base_url) and "?" not in u for u in urls)
