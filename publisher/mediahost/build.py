"""The host ``[media]`` asks for, open for as long as the daemon (or ``accounts check``) runs.

Only a command that sends builds one: ``validate`` and ``dry-run`` have no HTTP session and
never load this package's S3 half (aiobotocore).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from publisher.adapters.hosting import MediaHost

if TYPE_CHECKING:
    import aiohttp

    from publisher.adapters.base import AccountCheck
    from publisher.config import Config


class ServingHost(MediaHost, Protocol):
    """A media host as the commands hold it: besides URLs, a write-free check and a close."""

    @property
    def where(self) -> str: ...

    async def check(self) -> AccountCheck: ...

    async def close(self) -> None: ...


def public_dir(config: Config) -> Path:
    """``[media] public_dir``, relative to the config file like every other path."""
    return (config.base_dir / config.media.public_dir).resolve()


@contextlib.asynccontextmanager
async def open_host(
    config: Config, session: aiohttp.ClientSession | None
) -> AsyncIterator[ServingHost | None]:
    """The configured host (None: no ``[media]`` host, or no session: nothing is sent); an
    S3 client is closed when the block ends."""
    media = config.media
    host: ServingHost
    if session is None:
        yield None
        return
    if media.s3 is not None:
        from publisher.mediahost.s3 import S3Host

        s3 = S3Host(media.s3, session)
        await s3.start()
        host = s3
    elif media.public_dir:
        from publisher.mediahost.directory import DirectoryHost

        host = DirectoryHost(public_dir(config), media.public_base_url, session)
    else:
        yield None
        return
    try:
        yield host
    finally:
        await host.close()
