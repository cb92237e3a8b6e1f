"""``DirectoryHost``: media written into a directory the operator's web server serves.

Each file is written once, atomically, under its content-hash name with mode 0644 (readable
by the web server's user): written to a temporary name in the same directory, then linked
into place, which never replaces a file already there. A file already present under its name
is not written again.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from publisher.adapters.base import (
    AccountCheck,
    Attention,
    CheckStatus,
    PermanentError,
    TransientError,
)
from publisher.mediahost.served import content_name, sha256_hex, verify_served

if TYPE_CHECKING:
    import aiohttp

    from publisher.media import MediaFile

MODE = 0o644
# A full or failing disk may recover by itself; anything else (missing directory, no
# permission, read-only file system) is the operator's to fix.
_TRANSIENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EAGAIN, errno.EINTR})
_INCOMING = ".incoming-"


class DirectoryHost:
    """Writes media into ``directory`` and answers ``base_url`` + its content-hash name."""

    def __init__(
        self,
        directory: Path,
        base_url: str,
        session: aiohttp.ClientSession,
    ) -> None:
        self.directory = directory
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.session = session  # the engine's: the URL is fetched back through it

    async def public_url(self, media: MediaFile, *, suffix: str) -> str:
        """Store ``media`` (once) and return its URL, checked to serve the same bytes.

        Raises ``PermanentError`` (``Attention.MEDIA_HOST``) when the directory cannot be
        written (missing, no permission, read-only) or the URL serves something else;
        ``TransientError`` when the disk is full or failing, or the URL is unreachable or
        answers 5xx (see ``verify_served``).
        """
        digest = await sha256_hex(media.data)
        name = content_name(digest, suffix)
        await asyncio.to_thread(self._store, name, media.data)
        url = self.base_url + name
        await verify_served(self.session, url, digest, len(media.data))
        return url

    def _store(self, name: str, data: bytes) -> None:
        try:
            store_once(self.directory, name, data)
        except OSError as err:
            why = err.strerror or type(err).__name__
            reason = f"cannot write into [media] public_dir {self.directory}: {why}"
            if err.errno in _TRANSIENT_ERRNOS:
                raise TransientError(reason) from err
            raise PermanentError(reason, attention=Attention.MEDIA_HOST) from err

    @property
    def where(self) -> str:
        return f"directory {self.directory} served at {self.base_url}"

    async def check(self) -> AccountCheck:
        """Write-free: the directory exists and this process may write into it."""
        ok = await asyncio.to_thread(
            lambda: self.directory.is_dir() and os.access(self.directory, os.W_OK | os.X_OK)
        )
        identity = self.where
        if not ok:
            return AccountCheck(
                CheckStatus.ATTENTION,
                identity=identity,
                detail="[media] public_dir is not a directory this process can write into",
            )
        return AccountCheck(CheckStatus.OK, identity=identity)

    async def close(self) -> None:
        """Nothing to release: the HTTP session is the engine's."""


def store_once(directory: Path, name: str, data: bytes) -> None:
    """Write ``data`` to ``directory/name`` unless a file is there; atomic, mode 0644."""
    target = directory / name
    if os.path.lexists(target):
        return
    fd, tmp = tempfile.mkstemp(prefix=_INCOMING, dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, MODE)  # mkstemp makes it 0600: the web server could not read it
        try:
            os.link(tmp, target)  # never replaces: a concurrent writer's copy stays
        except FileExistsError:
            pass
        except OSError as err:
            if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                raise
            os.replace(tmp, target)  # no hard links here: the same bytes, atomically
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    _sync_directory(directory)


def _sync_directory(directory: Path) -> None:
    """The new name survives a crash (the file's data was synced before)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
