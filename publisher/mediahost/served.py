"""Content-hash names, and the check that a URL serves exactly the bytes stored.

Shared by both hosts. The check is what makes a misconfigured host (a base URL that points
elsewhere, a bucket that is not public, a CDN that serves a stale copy) an error the operator
sees at the first post, instead of a network's vague "media could not be fetched".
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from typing import TYPE_CHECKING

from publisher.adapters.base import Attention, PermanentError, TransientError, safe_cause
from publisher.secrets import REDACTOR

if TYPE_CHECKING:
    import aiohttp

SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,10}$")
# Above this, the hash is computed off the event loop (a video of hundreds of megabytes).
_HASH_INLINE = 1 << 20
_CHUNK = 1 << 16
# Statuses that say "not now" rather than "not there".
_TRANSIENT = frozenset({408, 425, 429})


async def sha256_hex(data: bytes) -> str:
    if len(data) <= _HASH_INLINE:
        return hashlib.sha256(data).hexdigest()
    return await asyncio.to_thread(lambda: hashlib.sha256(data).hexdigest())


def content_name(digest: str, suffix: str) -> str:
    """``<sha256 hex><suffix>``: the same bytes always get the same name.

    ``suffix`` (".jpg") comes from the adapter; anything but a short extension is a bug
    there, refused before it can make a path or a key.
    """
    if not SUFFIX.match(suffix):
        raise ValueError(f"not a file extension: {suffix!r}")
    return digest + suffix.lower()


def shown(url: str) -> str:
    """A URL as errors name it: without its query (a presigned URL's signature)."""
    return url.split("?", 1)[0]


async def verify_served(
    session: aiohttp.ClientSession,
    url: str,
    digest: str,
    size: int,
) -> None:
    """Fetch ``url`` (within the session's timeout: the engine's request timeout) and check
    it serves ``size`` bytes hashing to ``digest``.

    Raises ``TransientError`` when the URL cannot be reached, times out or answers 5xx (or
    408/425/429): the server may be back later, and nothing was published. Raises
    ``PermanentError`` with ``Attention.MEDIA_HOST`` for any other status (403: not public;
    404: the base URL does not serve the directory or bucket) and for other bytes than were
    stored: the operator's configuration is wrong, and retrying will not mend it.
    """
    import aiohttp

    where = shown(url)
    hasher = hashlib.sha256()
    got = 0
    try:
        async with session.get(url) as resp:
            if resp.status >= 500 or resp.status in _TRANSIENT:
                raise TransientError(
                    f"the media host answered HTTP {resp.status} for {where}", status=resp.status
                )
            if resp.status != 200:
                raise PermanentError(
                    f"the media host answered HTTP {resp.status} for {where}: check [media] "
                    "public_base_url and that the files are publicly readable there",
                    attention=Attention.MEDIA_HOST,
                    status=resp.status,
                )
            async for chunk in resp.content.iter_chunked(_CHUNK):
                got += len(chunk)
                if got > size:
                    break
                hasher.update(chunk)
    except (aiohttp.ClientError, TimeoutError) as err:
        raise TransientError(
            f"cannot fetch {where} from the media host ({type(err).__name__})"
        ) from safe_cause(err, REDACTOR.scrub)
    if got != size or hasher.hexdigest() != digest:
        raise PermanentError(
            f"{where} does not serve the bytes stored there (sha256 {digest[:12]}…, "
            f"{size:,} bytes): check that [media] public_base_url serves the directory or "
            "bucket written to, and that no cache serves an old copy",
            attention=Attention.MEDIA_HOST,
        )
