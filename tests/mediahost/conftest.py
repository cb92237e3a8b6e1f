from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from publisher.testing.s3server import LocalS3, S3Account


@pytest.fixture(scope="session")
def local_s3() -> Iterator[LocalS3]:
    """moto's S3 server, one process for the whole session."""
    server = LocalS3()
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def s3_account(local_s3: LocalS3) -> S3Account:
    return await local_s3.provision()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:
        yield s
