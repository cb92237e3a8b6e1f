"""A real S3-compatible server for tests: moto in server mode, in its own process.

``moto[server]`` (the ``test`` extra) speaks the S3 and IAM HTTP APIs on 127.0.0.1: the media
host's tests, and the Instagram and Threads tests that fetch from a bucket, run the real
client (aiobotocore) against it, never a mock of our code. ``LocalS3`` starts it once (a
session-scoped fixture: it takes a couple of seconds), ``provision`` makes a fresh bucket and
an IAM user allowed to use it, and ``authenticated`` has moto check every request's
signature against its IAM users while a block runs (moto checks none by default; with the
check on it serves neither anonymous nor presigned GETs, so it is on only where a test needs
credentials refused).
"""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from publisher.secrets import Secret
from publisher.testing.servers import HOST

if TYPE_CHECKING:
    import aiohttp
    from aiobotocore.session import AioSession, ClientCreatorContext
    from types_aiobotocore_iam import IAMClient
    from types_aiobotocore_s3 import S3Client

    from publisher.config import S3Settings
    from publisher.mediahost.s3 import S3Host

READY_WITHIN = 60.0  # seconds: moto imports every AWS service's models at its start
REGION = "us-east-1"
# Credentials moto takes while it checks none (provisioning): never a real account's.
SETUP_KEY = ("AKIAPUBLISHERSETUP00", "publisher-setup-secret-not-used-anywhere")


@dataclass(frozen=True)
class S3Account:
    """A bucket and the keys of an IAM user allowed to read and write it."""

    endpoint_url: str
    bucket: str
    access_key_id: str
    secret_access_key: str

    def settings(self, **overrides: Any) -> S3Settings:
        """``[media.s3]`` for this bucket (presigned URLs for an hour unless overridden)."""
        from publisher.config import S3Settings

        values: dict[str, Any] = {
            "bucket": self.bucket,
            "endpoint_url": self.endpoint_url,
            "region": REGION,
            "access_key_id": Secret("S3_ACCESS_KEY_ID", self.access_key_id),
            "secret_access_key": Secret("S3_SECRET_ACCESS_KEY", self.secret_access_key),
            "presign": "1h",
        }
        values.update(overrides)
        return S3Settings.model_validate(values)

    @contextlib.asynccontextmanager
    async def host(self, session: aiohttp.ClientSession, **overrides: Any) -> AsyncIterator[S3Host]:
        """An ``S3Host`` on this bucket (``settings(**overrides)``), its client open for the
        block: ``AdapterContext(session=session, clock=clock, host=host)``."""
        from publisher.mediahost.s3 import S3Host

        host = S3Host(self.settings(**overrides), session)
        await host.start()
        try:
            yield host
        finally:
            await host.close()

    @property
    def public_base_url(self) -> str:
        """Where moto serves the bucket's objects to anyone (path style)."""
        return f"{self.endpoint_url}/{self.bucket}/"


class LocalS3:
    """``python -m moto.server`` on a free port of 127.0.0.1, until ``stop``."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._session: AioSession | None = None
        self.url = ""

    def start(self) -> str:
        port = _free_port()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"http://{HOST}:{port}"
        deadline = time.monotonic() + READY_WITHIN
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"moto's server exited ({self._process.returncode})")
            try:
                with urllib.request.urlopen(self.url + "/moto-api/", timeout=2):
                    return self.url
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("moto's server did not answer in time") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def _config(self) -> dict[str, Any]:
        from aiobotocore.config import AioConfig

        return {
            "region_name": REGION,
            "endpoint_url": self.url,
            "aws_access_key_id": SETUP_KEY[0],
            "aws_secret_access_key": SETUP_KEY[1],
            "config": AioConfig(s3={"addressing_style": "path"}),
        }

    def _botocore(self) -> AioSession:
        """One session: it loads each service's model once."""
        if self._session is None:
            from aiobotocore.session import get_session

            self._session = get_session()
        return self._session

    def _s3(self) -> ClientCreatorContext[S3Client]:
        return self._botocore().create_client("s3", **self._config())

    def _iam(self) -> ClientCreatorContext[IAMClient]:
        return self._botocore().create_client("iam", **self._config())

    async def provision(self, *, versioned: bool = True, public: bool = False) -> S3Account:
        """A new bucket (versioned: each PUT leaves a version, so PUTs can be counted) and a
        new IAM user whose keys may do anything to it; ``public``: anyone may GET its objects
        (the bucket policy docs/media-host.md shows)."""
        name = "publisher-" + secrets.token_hex(6)
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
        }
        async with self._iam() as iam:
            await iam.create_user(UserName=name)
            await iam.put_user_policy(
                UserName=name, PolicyName="media", PolicyDocument=json.dumps(policy)
            )
            key = (await iam.create_access_key(UserName=name))["AccessKey"]
        async with self._s3() as s3:
            await s3.create_bucket(Bucket=name)
            if public:
                await s3.put_bucket_policy(Bucket=name, Policy=json.dumps(public_read(name)))
            if versioned:
                await s3.put_bucket_versioning(
                    Bucket=name, VersioningConfiguration={"Status": "Enabled"}
                )
        return S3Account(self.url, name, key["AccessKeyId"], key["SecretAccessKey"])

    async def puts(self, account: S3Account, key: str) -> int:
        """How many times ``key`` was PUT (its versions, in a versioned bucket)."""
        async with self._s3() as s3:
            listed = await s3.list_object_versions(Bucket=account.bucket, Prefix=key)
        return sum(1 for v in listed.get("Versions", []) if v["Key"] == key)

    async def get(self, account: S3Account, key: str) -> tuple[bytes, str]:
        """An object's bytes and its Content-Type."""
        async with self._s3() as s3:
            got = await s3.get_object(Bucket=account.bucket, Key=key)
            async with got["Body"] as body:
                return await body.read(), got["ContentType"]

    @contextlib.asynccontextmanager
    async def authenticated(self) -> AsyncIterator[None]:
        """Every request's signature checked against moto's IAM users while the block runs."""
        import aiohttp

        async with aiohttp.ClientSession() as http:
            async with http.post(self.url + "/moto-api/reset-auth", data=b"0") as resp:
                resp.raise_for_status()
            try:
                yield
            finally:
                async with http.post(self.url + "/moto-api/reset-auth", data=b"inf") as resp:
                    resp.raise_for_status()


def public_read(bucket: str, prefix: str = "") -> dict[str, Any]:
    """The bucket policy that lets anyone GET the objects under ``prefix``."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PublicRead",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/{prefix}*",
            }
        ],
    }


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])
