"""The S3 host against a real S3-compatible server (moto in server mode, ``LocalS3``).

The real client (aiobotocore) uploads, the URLs it hands out are fetched back over HTTP, and
what the server holds is read from it: one PUT for the same bytes however often asked
(counted as the versions of a versioned bucket), the content type set, presigned and public
URLs served, credentials refused and a missing bucket as the operator's to fix, an endpoint
down as transient; and the secret key nowhere in an error, a traceback or a log line.
"""

from __future__ import annotations

import asyncio
import hashlib
import traceback
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from publisher.adapters.base import (
    AdapterError,
    Attention,
    CheckStatus,
    PermanentError,
    TransientError,
)
from publisher.config import load_config
from publisher.media import MediaFile
from publisher.mediahost.build import open_host
from publisher.mediahost.s3 import S3Host
from publisher.secrets import Secret, SecretSource
from publisher.testing.leaks import captured_logs, leaks
from publisher.testing.s3server import LocalS3, S3Account
from publisher.testing.servers import Blackhole, LocalServer, Refusing
from tests.paths import ROOT

JPEG = (ROOT / "tests/fixtures/pixel.jpg").read_bytes()
MP4 = (ROOT / "tests/fixtures/clip.mp4").read_bytes()
DIGEST = hashlib.sha256(JPEG).hexdigest()
SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)


def media(data: bytes = JPEG, mime: str = "image/jpeg") -> MediaFile:
    return MediaFile(mime, len(data), (len(data), 0, 0, 0), data)


async def test_uploads_once_with_its_type_and_serves_a_presigned_url(
    local_s3: LocalS3, s3_account: S3Account, session: aiohttp.ClientSession
) -> None:
    async with s3_account.host(session) as host:
        url = await host.public_url(media(), suffix=".jpg")
        again = await host.public_url(media(), suffix=".jpg")
        video = await host.public_url(media(MP4, "video/mp4"), suffix=".mp4")
    key = f"{DIGEST}.jpg"
    assert url.startswith(f"{s3_account.public_base_url}{key}?")
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=3600" in url
    assert again.split("?")[0] == url.split("?")[0]
    assert await local_s3.puts(s3_account, key) == 1  # the second call only HEADed
    assert await local_s3.get(s3_account, key) == (JPEG, "image/jpeg")
    mp4_key = hashlib.sha256(MP4).hexdigest() + ".mp4"
    assert await local_s3.get(s3_account, mp4_key) == (MP4, "video/mp4")
    async with session.get(video) as resp:
        assert resp.status == 200
        assert await resp.read() == MP4


async def test_the_same_bytes_asked_at_once_are_uploaded_once(
    local_s3: LocalS3, s3_account: S3Account, session: aiohttp.ClientSession
) -> None:
    async with s3_account.host(session) as host:
        urls = await asyncio.gather(*(host.public_url(media(), suffix=".jpg") for _ in range(4)))
    assert len({u.split("?")[0] for u in urls}) == 1
    assert await local_s3.puts(s3_account, f"{DIGEST}.jpg") == 1
    assert host._uploading == {}


async def test_a_public_base_url_and_a_prefix(
    local_s3: LocalS3, session: aiohttp.ClientSession
) -> None:
    s3_account = await local_s3.provision(public=True)
    async with s3_account.host(
        session,
        presign=None,
        public_base_url=s3_account.public_base_url,
        prefix="social/media/",
    ) as host:
        url = await host.public_url(media(), suffix=".jpg")
    assert url == f"{s3_account.public_base_url}social/media/{DIGEST}.jpg"
    assert await local_s3.puts(s3_account, f"social/media/{DIGEST}.jpg") == 1


async def test_a_bucket_that_is_not_public_is_refused(
    s3_account: S3Account, session: aiohttp.ClientSession
) -> None:
    async with s3_account.host(
        session, presign=None, public_base_url=s3_account.public_base_url
    ) as host:
        with pytest.raises(PermanentError) as info:
            await host.public_url(media(), suffix=".jpg")
    assert info.value.status == 403
    assert info.value.attention is Attention.MEDIA_HOST
    assert "publicly readable" in info.value.reason


async def test_a_public_base_url_serving_other_bytes_is_refused(
    s3_account: S3Account, session: aiohttp.ClientSession
) -> None:
    async def stale(_: web.Request) -> web.Response:
        return web.Response(body=b"\xff\xd8\xff an old copy", content_type="image/jpeg")

    app = web.Application()
    app.router.add_get("/{key:.*}", stale)
    async with (
        LocalServer(app) as cdn,
        s3_account.host(session, presign=None, public_base_url=cdn.url + "/") as host,
    ):
        with pytest.raises(PermanentError) as info:
            await host.public_url(media(), suffix=".jpg")
    assert info.value.attention is Attention.MEDIA_HOST
    assert "does not serve the bytes stored" in info.value.reason


async def test_wrong_credentials_are_the_operators_to_fix(
    local_s3: LocalS3, s3_account: S3Account, session: aiohttp.ClientSession
) -> None:
    wrong = "wrong-secret-canary-" + s3_account.secret_access_key[:12]
    errors: list[AdapterError] = []
    with captured_logs() as logs:  # every logger at DEBUG, botocore's own included
        async with local_s3.authenticated():
            for secret in (wrong, s3_account.secret_access_key):
                async with s3_account.host(
                    session, secret_access_key=Secret("S3_SECRET", secret)
                ) as host:
                    if secret == wrong:
                        with pytest.raises(PermanentError) as info:
                            await host.public_url(media(), suffix=".jpg")
                        errors.append(info.value)
                        assert (await host.check()).status is CheckStatus.ATTENTION
                    else:  # the right key passes moto's check: the refusal was the key's
                        assert (await host.check()).status is CheckStatus.OK
    (err,) = errors
    assert err.attention is Attention.MEDIA_HOST
    assert err.status == 403
    assert "SignatureDoesNotMatch" in err.reason and "secret_access_key" in err.reason
    assert await local_s3.puts(s3_account, f"{DIGEST}.jpg") == 0
    # The canary: no key, right or wrong, in any form, in the error, its causes' traceback
    # or what reached the log.
    shown = "".join(traceback.format_exception(err)) + repr(err) + logs.text()
    assert logs.records  # botocore did log
    assert leaks(shown, wrong, s3_account.secret_access_key) == []


async def test_an_unknown_key_id_is_refused(
    local_s3: LocalS3, s3_account: S3Account, session: aiohttp.ClientSession
) -> None:
    async with (
        local_s3.authenticated(),
        s3_account.host(session, access_key_id=Secret("S3_KEY_ID", "AKIAUNKNOWNKEYID0001")) as host,
    ):
        with pytest.raises(PermanentError) as info:
            await host.public_url(media(), suffix=".jpg")
    assert "InvalidAccessKeyId" in info.value.reason
    assert "AKIAUNKNOWNKEYID0001" not in "".join(traceback.format_exception(info.value))


async def test_a_missing_bucket_says_so(
    s3_account: S3Account, session: aiohttp.ClientSession
) -> None:
    async with s3_account.host(session, bucket="no-such-bucket-here") as host:
        with pytest.raises(PermanentError) as info:
            await host.public_url(media(), suffix=".jpg")
        check = await host.check()
    assert info.value.attention is Attention.MEDIA_HOST
    assert "bucket no-such-bucket-here" in info.value.reason
    assert "does not exist" in info.value.reason
    assert check.status is CheckStatus.ATTENTION and "does not exist" in check.detail


async def test_an_endpoint_down_is_transient(
    s3_account: S3Account, session: aiohttp.ClientSession
) -> None:
    with Refusing() as down:
        async with s3_account.host(session, endpoint_url=down.url) as host:
            with pytest.raises(TransientError) as info:
                await host.public_url(media(), suffix=".jpg")
    assert "cannot reach the bucket" in info.value.reason


async def test_an_endpoint_that_says_slow_down_or_never_answers_is_transient(
    s3_account: S3Account,
) -> None:
    async def slow_down(request: web.Request) -> web.Response:
        if request.method == "HEAD":  # not there: the PUT that follows is asked to slow down
            return web.Response(status=404)
        return web.Response(status=503, body=SLOW_DOWN, content_type="application/xml")

    app = web.Application()
    app.router.add_route("*", "/{path:.*}", slow_down)
    short = aiohttp.ClientTimeout(total=5, sock_connect=0.5, sock_read=2)
    async with aiohttp.ClientSession(timeout=short) as session:
        async with (
            LocalServer(app) as busy,
            s3_account.host(session, endpoint_url=busy.url) as host,
        ):
            with pytest.raises(TransientError) as info:
                await host.public_url(media(), suffix=".jpg")
        assert info.value.status == 503
        assert "failed PutObject (SlowDown: Please reduce your request rate.)" in info.value.reason
        with Blackhole() as hole, pytest.raises(TransientError) as timed_out:
            async with s3_account.host(session, endpoint_url=hole.url) as host:
                await host.public_url(media(), suffix=".jpg")
    assert "cannot reach the bucket" in timed_out.value.reason


async def test_check_heads_the_bucket_only(
    local_s3: LocalS3, s3_account: S3Account, session: aiohttp.ClientSession
) -> None:
    async with s3_account.host(session) as host:
        result = await host.check()
    assert result.status is CheckStatus.OK
    assert s3_account.bucket in result.identity
    assert await local_s3.puts(s3_account, "") == 0


async def test_the_config_builds_the_host_and_its_client_is_closed(
    tmp_path: Path, s3_account: S3Account, session: aiohttp.ClientSession
) -> None:
    path = tmp_path / "publisher.toml"
    path.write_text(
        f'[media.s3]\nbucket = "{s3_account.bucket}"\n'
        f'endpoint_url = "{s3_account.endpoint_url}"\n'
        'access_key_id = "${K}"\nsecret_access_key = "${S}"\npresign = "10m"\n\n'
        '[accounts.a]\nnetwork = "log"\n',
        encoding="utf-8",
    )
    source = SecretSource({"K": s3_account.access_key_id, "S": s3_account.secret_access_key}, None)
    config = load_config(path, source=source)
    async with open_host(config, session) as host:
        assert isinstance(host, S3Host)
        url = await host.public_url(media(), suffix=".jpg")
        assert "X-Amz-Expires=600" in url
    assert host._client is None
    async with open_host(config, None) as nothing:  # rendering only: no host, no client
        assert nothing is None
