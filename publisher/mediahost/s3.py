"""``S3Host``: media uploaded to an S3-compatible bucket, served publicly or by presigned URL.

aiobotocore (botocore's requests on aiohttp) is imported when the host is built, never by
``validate`` or ``dry-run``. Each object is named ``prefix`` + the SHA-256 of its bytes +
the suffix: a HEAD asks whether it is there, and only an absent object is PUT (with its
``ContentType``), so a retry uploads nothing twice. The URL handed out is ``public_base_url``
+ the key (a public bucket, or a CDN in front of it) or a presigned GET valid for
``presign``; either way it is fetched back and its bytes checked (``verify_served``).

Every botocore or aiohttp failure is translated once, here (``_translate``), into the
adapters' error classes; the credentials are ``Secret``s, registered with the redactor, and an
error whose text carried one is raised from a scrubbed stand-in.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from publisher.adapters.base import (
    AccountCheck,
    AdapterError,
    Attention,
    CheckStatus,
    PermanentError,
    TransientError,
    safe_cause,
)
from publisher.mediahost.served import content_name, sha256_hex, verify_served
from publisher.secrets import REDACTOR

if TYPE_CHECKING:
    import aiohttp
    from types_aiobotocore_s3 import S3Client

    from publisher.config import S3Settings
    from publisher.media import MediaFile

# Error codes S3 (and its clones) answer when trying again later may succeed.
_TRANSIENT_CODES = frozenset(
    {"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "Throttling"}
)
# A HEAD has no body, so its error code is the status: 404 for a key (or a bucket) that is
# not there; 403 too when the credentials lack s3:ListBucket (S3 then hides whether the key
# exists). Either way the PUT that follows says what is really wrong, if anything.
_ABSENT = frozenset({"404", "NoSuchKey", "NotFound", "403", "AccessDenied"})


class S3Host:
    """Uploads media to ``settings.bucket`` and answers a public or presigned URL."""

    def __init__(self, settings: S3Settings, session: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.session = session  # the engine's: the URL is fetched back through it
        self._client: S3Client | None = None
        self._stack = contextlib.AsyncExitStack()
        # One HEAD-then-PUT at a time per key: two accounts publishing the same picture at
        # once (Instagram and Threads) upload it once.
        self._uploading: dict[str, asyncio.Lock] = {}

    @property
    def where(self) -> str:
        endpoint = self.settings.endpoint_url or f"AWS {self.settings.region}"
        return f"bucket {self.settings.bucket} at {endpoint}"

    async def start(self) -> None:
        """Open the S3 client; it lives until ``close`` (the daemon's lifetime)."""
        from aiobotocore.config import AioConfig
        from aiobotocore.session import get_session

        s = self.settings
        timeout = self.session.timeout
        config = AioConfig(
            signature_version="s3v4",
            # S3-compatible servers (MinIO, moto, a bucket name with dots) want path-style.
            s3={"addressing_style": "path" if s.endpoint_url else "auto"},
            # The engine retries with its own backoff; botocore's own would hide a failure.
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=timeout.sock_connect or 10,
            read_timeout=timeout.sock_read or 30,
        )
        try:
            self._client = await self._stack.enter_async_context(
                get_session().create_client(
                    "s3",
                    region_name=s.region,
                    endpoint_url=s.endpoint_url or None,
                    aws_access_key_id=s.access_key_id.reveal(),
                    aws_secret_access_key=s.secret_access_key.reveal(),
                    config=config,
                )
            )
        except _third_party() as err:
            raise self._translate(err, "open the S3 client") from safe_cause(err, REDACTOR.scrub)

    async def close(self) -> None:
        self._client = None
        await self._stack.aclose()

    def _s3(self) -> S3Client:
        if self._client is None:
            raise RuntimeError("S3Host.start() was not awaited")
        return self._client

    async def public_url(self, media: MediaFile, *, suffix: str) -> str:
        """Upload ``media`` unless the bucket has it, and return its checked URL.

        Raises ``TransientError`` when the endpoint or the URL is unreachable, times out, or
        answers 5xx or "slow down"; ``PermanentError`` (``Attention.MEDIA_HOST``) when the
        credentials are refused (403, an unknown key id, a bad signature), the bucket does
        not exist, or the URL does not serve the object (a bucket that is not public, a
        ``public_base_url`` that points elsewhere).
        """
        digest = await sha256_hex(media.data)
        key = self.settings.prefix + content_name(digest, suffix)
        s3 = self._s3()
        bucket = self.settings.bucket
        action = "HeadObject"
        lock = self._uploading.setdefault(key, asyncio.Lock())
        try:
            try:
                async with lock:
                    if not await self._present(key):
                        action = "PutObject"
                        await s3.put_object(
                            Bucket=bucket, Key=key, Body=media.data, ContentType=media.mime_type
                        )
            finally:
                # Callers still waiting keep this lock; any later one HEADs first anyway.
                if not lock.locked() and self._uploading.get(key) is lock:
                    del self._uploading[key]
            if self.settings.presign is not None:
                action = "presign"
                url = await s3.generate_presigned_url(
                    "get_object",
                    Params={"Bucket": bucket, "Key": key},
                    ExpiresIn=int(self.settings.presign.total_seconds()),
                )
            else:
                url = self.settings.public_base_url + quote(key, safe="/")
        except _third_party() as err:
            raise self._translate(err, action) from safe_cause(err, REDACTOR.scrub)
        await verify_served(self.session, url, digest, len(media.data))
        return url

    async def _present(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            await self._s3().head_object(Bucket=self.settings.bucket, Key=key)
        except ClientError as err:
            if _code(err) in _ABSENT:
                return False
            raise
        return True

    async def check(self) -> AccountCheck:
        """Write-free: HEAD the bucket with the configured credentials."""
        try:
            await self._s3().head_bucket(Bucket=self.settings.bucket)
        except _third_party() as err:
            translated = self._translate(err, "HeadBucket")
            return AccountCheck(
                CheckStatus.ATTENTION, identity=self.where, detail=REDACTOR.scrub(translated.reason)
            )
        return AccountCheck(CheckStatus.OK, identity=self.where)

    def _translate(self, err: BaseException, action: str) -> AdapterError:
        """One of our error classes for a botocore or aiohttp failure (the one boundary)."""
        import aiohttp
        from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

        if isinstance(err, ClientError):
            code = _code(err)
            status = _status(err)
            message = REDACTOR.scrub(str(err.response.get("Error", {}).get("Message", "")))
            said = code + (f": {message}" if message and message != code else "")
            if status >= 500 or status == 429 or code in _TRANSIENT_CODES:
                return TransientError(
                    f"the S3 {self.where} failed {action} ({said})", status=status
                )
            if code in ("NoSuchBucket", "404"):
                return PermanentError(
                    f"the {self.where} does not exist: create it, or fix [media.s3] bucket "
                    "and endpoint_url",
                    attention=Attention.MEDIA_HOST,
                    status=status,
                )
            if status in (401, 403):
                return PermanentError(
                    f"the {self.where} refused {action} ({said}): check [media.s3] "
                    "access_key_id and secret_access_key, and that the key may "
                    "s3:GetObject, s3:PutObject and s3:ListBucket there",
                    attention=Attention.MEDIA_HOST,
                    status=status,
                )
            return PermanentError(
                f"the {self.where} refused {action} (HTTP {status}, {said})",
                attention=Attention.MEDIA_HOST,
                status=status,
            )
        if isinstance(err, ConnectionError | HTTPClientError | aiohttp.ClientError | TimeoutError):
            return TransientError(
                f"cannot reach the {self.where} for {action} ({type(err).__name__})"
            )
        # The rest of botocore's own errors (no credentials, a parameter refused, an unknown
        # region): the configuration's.
        return PermanentError(
            f"the S3 client refused {action} for the {self.where} ({type(err).__name__}: "
            f"{REDACTOR.scrub(str(err))[:300]})",
            attention=Attention.MEDIA_HOST,
        )


def _third_party() -> tuple[type[BaseException], ...]:
    """What the S3 client may raise: botocore's errors, and aiohttp's under them."""
    import aiohttp
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError, aiohttp.ClientError, TimeoutError)


def _code(err: Any) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def _status(err: Any) -> int:
    return int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
