"""The directory host against a real HTTP server serving that directory (``ServedDirectory``).

What it writes (the content-hash name, once, mode 0644), and what it refuses after fetching
the URL back: other bytes or a 404 (the operator's configuration: permanent), a server down
or answering 5xx (transient).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from publisher.adapters.base import Attention, CheckStatus, PermanentError, TransientError
from publisher.media import MediaFile
from publisher.mediahost.directory import DirectoryHost
from publisher.testing.hosting import ServedDirectory
from publisher.testing.servers import LocalServer, Refusing
from tests.paths import ROOT

JPEG = (ROOT / "tests/fixtures/pixel.jpg").read_bytes()
DIGEST = hashlib.sha256(JPEG).hexdigest()


def media(data: bytes = JPEG) -> MediaFile:
    return MediaFile("image/jpeg", len(data), (len(data), 0, 0, 0), data)


@pytest.fixture
async def served(tmp_path: Path, session: aiohttp.ClientSession) -> AsyncIterator[ServedDirectory]:
    async with ServedDirectory(tmp_path / "public", session) as s:
        yield s


async def test_stores_under_the_content_hash_and_serves_the_same_bytes(
    served: ServedDirectory, session: aiohttp.ClientSession
) -> None:
    url = await served.host.public_url(media(), suffix=".jpg")
    assert url == f"{served.base_url}{DIGEST}.jpg"
    assert served.names() == [f"{DIGEST}.jpg"]
    path = served.directory / f"{DIGEST}.jpg"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert path.read_bytes() == JPEG
    assert served.fetched == [f"/media/{DIGEST}.jpg"]  # the host checked it
    async with session.get(url) as resp:
        assert await resp.read() == JPEG


async def test_the_same_bytes_are_written_once(served: ServedDirectory) -> None:
    first = await served.host.public_url(media(), suffix=".jpg")
    path = served.directory / f"{DIGEST}.jpg"
    inode = path.stat().st_ino
    second = await served.host.public_url(media(), suffix=".JPG")
    assert second == first  # the suffix is lowercased: one name for one content
    assert path.stat().st_ino == inode  # not rewritten
    assert served.names() == [f"{DIGEST}.jpg"]
    other = await served.host.public_url(media(JPEG + b"\0"), suffix=".jpg")
    assert other != first
    assert len(served.names()) == 2


async def test_the_same_bytes_asked_at_once_are_stored_once(served: ServedDirectory) -> None:
    urls = await asyncio.gather(*(served.host.public_url(media(), suffix=".jpg") for _ in range(4)))
    assert set(urls) == {f"{served.base_url}{DIGEST}.jpg"}
    assert os.listdir(served.directory) == [f"{DIGEST}.jpg"]  # no temporary file left


async def test_a_file_serving_other_bytes_is_refused_as_misconfiguration(
    served: ServedDirectory,
) -> None:
    # Something else sits under the name (a stale copy): never overwritten, never handed out.
    (served.directory / f"{DIGEST}.jpg").write_bytes(b"\xff\xd8\xff other bytes")
    with pytest.raises(PermanentError) as info:
        await served.host.public_url(media(), suffix=".jpg")
    assert info.value.attention is Attention.MEDIA_HOST
    assert "does not serve the bytes stored" in info.value.reason
    assert (served.directory / f"{DIGEST}.jpg").read_bytes() == b"\xff\xd8\xff other bytes"


async def test_a_base_url_serving_another_directory_is_refused(
    tmp_path: Path, served: ServedDirectory, session: aiohttp.ClientSession
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    host = DirectoryHost(elsewhere, served.base_url, session)
    with pytest.raises(PermanentError) as info:
        await host.public_url(media(), suffix=".jpg")
    assert info.value.status == 404
    assert info.value.attention is Attention.MEDIA_HOST
    assert served.base_url in info.value.reason


async def test_a_server_down_is_transient(tmp_path: Path, session: aiohttp.ClientSession) -> None:
    with Refusing() as down:
        host = DirectoryHost(tmp_path, down.url + "/media/", session)
        with pytest.raises(TransientError) as info:
            await host.public_url(media(), suffix=".jpg")
    assert "cannot fetch" in info.value.reason
    assert (tmp_path / f"{DIGEST}.jpg").read_bytes() == JPEG  # stored: a retry only checks


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_a_server_error_is_transient(
    tmp_path: Path, session: aiohttp.ClientSession, status: int
) -> None:
    async def fail(_: web.Request) -> web.Response:
        return web.Response(status=status)

    app = web.Application()
    app.router.add_get("/{name}", fail)
    async with LocalServer(app) as server:
        host = DirectoryHost(tmp_path, server.url, session)
        with pytest.raises(TransientError) as info:
            await host.public_url(media(), suffix=".jpg")
    assert info.value.status == status


async def test_a_truncated_or_longer_answer_is_refused(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    for body in (JPEG[:-1], JPEG + b"more"):

        async def answer(_: web.Request, body: bytes = body) -> web.Response:
            return web.Response(body=body)

        app = web.Application()
        app.router.add_get("/{name}", answer)
        async with LocalServer(app) as server:
            host = DirectoryHost(tmp_path, server.url, session)
            with pytest.raises(PermanentError, match="does not serve the bytes"):
                await host.public_url(media(), suffix=".jpg")


async def test_an_unwritable_directory_is_the_operators_to_fix(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    missing = DirectoryHost(tmp_path / "missing", "http://127.0.0.1:9/", session)
    with pytest.raises(PermanentError) as info:
        await missing.public_url(media(), suffix=".jpg")
    assert info.value.attention is Attention.MEDIA_HOST
    assert "public_dir" in info.value.reason
    assert (await missing.check()).status is CheckStatus.ATTENTION


async def test_check_is_write_free(served: ServedDirectory) -> None:
    result = await served.host.check()
    assert result.status is CheckStatus.OK
    assert str(served.directory) in result.identity
    assert os.listdir(served.directory) == []


async def test_a_suffix_that_is_not_an_extension_is_a_bug(served: ServedDirectory) -> None:
    for bad in ("jpg", "/../x.jpg", ".j/g", ""):
        with pytest.raises(ValueError, match="not a file extension"):
            await served.host.public_url(media(), suffix=bad)
    assert served.names() == []
