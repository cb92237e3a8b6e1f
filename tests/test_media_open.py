"""The media opener (item 1 of issue 19) on its own: the roots in force, the store, a race.

What each network receives, and the item's before/after tests, are in
tests/networks/test_media_confinement.py and tests/test_media.py.
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher.adapters.base import AdapterContext, PermanentError, PostContent
from publisher.adapters.log import LogAdapter, LogSettings
from publisher.clock import FakeClock
from publisher.config import SecretPolicy, load_config
from publisher.engine.runtime import LIVE, build_adapters
from publisher.media import MediaError, MediaRef, MediaRoots, open_media
from publisher.queuefile import load_queue
from publisher.store.codec import content_from_json, content_to_json
from tests.media_site import PNG, Site, make_site

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return make_site(tmp_path)


def load(site: Site) -> tuple[PostContent, AdapterContext]:
    config = load_config(site.config, secrets=SecretPolicy.WARN)
    queue = load_queue(config.queue_path, config)
    content = queue.posts[0].content_for(config.accounts["brand"])
    adapter = build_adapters(config, AdapterContext(None, FakeClock(NOW)), LIVE)
    return content, adapter["brand"].context


async def test_media_items_survive_the_store_and_a_narrowed_root_is_refused(site: Site) -> None:
    site.write_queue(["media/real.png"], thumb="media/real.png")
    content, context = load(site)
    back = content_from_json(content_to_json(content))
    assert back == content and back.link is not None and back.link.thumb is not None
    adapter = LogAdapter("brand", LogSettings(), context)
    assert (await adapter.read_media(back.media[0])).data == PNG
    # The operator moved the queue elsewhere: the stored root is no longer a root.
    other = AdapterContext(None, context.clock, media=MediaRoots.around(site.outside))
    with pytest.raises(PermanentError, match="media must be inside"):
        await LogAdapter("brand", LogSettings(), other).read_media(back.media[0])


def test_open_media_never_reads_outside_while_a_link_is_flipped(site: Site) -> None:
    """A link flipped between an image inside and a secret outside, as fast as it goes, while
    the file is opened over and over: every open gives the image or a refusal, never the
    secret. (No interleaving can leak: every component is opened with O_NOFOLLOW from a
    directory already inside the root.)"""
    media = site.root / "media"
    link = media / "a.png"
    os.symlink("real.png", link)
    site.write_queue(["media/a.png"])
    content, _ = load(site)
    ref = content.media[0].file
    stop = threading.Event()

    def flip() -> None:
        targets = [str(site.outside / "token.png"), "real.png"]
        i = 0
        while not stop.is_set():
            tmp = media / f".flip{i % 2}"
            os.symlink(targets[i % 2], tmp)
            os.replace(tmp, link)
            i += 1

    flipper = threading.Thread(target=flip)
    flipper.start()
    seen: set[str] = set()
    try:
        for _ in range(2000):
            try:
                found = open_media(ref)
            except MediaError as err:  # a refusal is fine, a leak is not
                seen.add(str(err))
                continue
            assert found.data == PNG
            seen.add("ok")
    finally:
        stop.set()
        flipper.join()
    assert seen <= {"ok", "media/a.png is a link that leads out of its media root"}


def test_open_media_reads_the_file_once_beneath_its_root(site: Site) -> None:
    ref = MediaRef(site.root, "media/real.png", "media/real.png")
    found = open_media(ref)
    assert (found.mime_type, found.size, found.data) == ("image/png", len(PNG), PNG)
    head = open_media(ref, whole=False)
    assert head.size == len(PNG) and head.data == PNG[:16]
    with pytest.raises(MediaError, match=r"is \d+ bytes, more than 10"):
        open_media(ref, limit=10)


async def test_a_thumb_stored_before_media_roots_is_placed_under_them(site: Site) -> None:
    """Old rows kept a thumb as a bare absolute path, with no type: any image inside a root."""
    site.write_queue([])
    _, context = load(site)
    old = (
        '{"account": "brand", "extra_parts": [], "language": null, "media": [], '
        '"network": "log", "options": {}, "post_id": "p1", "text": "x", "thread": "auto", '
        f'"link": {{"url": "https://example.com", "thumb": "{site.root}/media/real.png"}}}}'
    )
    link = content_from_json(old).link
    assert link is not None and link.thumb is not None
    assert link.thumb.name == "real.png"  # the editor's path is not known: the file's name
    adapter = LogAdapter("brand", LogSettings(), context)
    assert (await adapter.read_media(link.thumb)).data == PNG
