"""Public media: for networks that fetch a post's media from a URL instead of taking uploads.

Instagram and Threads create a post from a ``image_url``/``video_url`` the network downloads
at the time of the request. The operator configures where such files are served (``[media]``
in publisher.toml: a directory served under a base URL, or an S3-compatible bucket), the
engine builds the ``MediaHost`` (``publisher.mediahost``) and lends it to adapters through
``AdapterContext.host``. An adapter asks for a URL and never learns how the file got there.
"""

from __future__ import annotations

from typing import Protocol

from publisher.media import MediaFile


class MediaHost(Protocol):
    """Where files are put so that a network can fetch them."""

    async def public_url(self, media: MediaFile, *, suffix: str) -> str:
        """A public URL that serves exactly ``media.data``.

        Objects are named by the hash of their bytes (``suffix`` is the extension, ".jpg"),
        so a retry stores nothing twice; before answering, the host fetches the URL and
        checks the bytes it serves hash the same. Failures are raised as the adapters' error
        classes: ``TransientError`` when the store or the URL is unreachable for now,
        ``PermanentError`` (``Attention.PERMISSION``) when the configuration is wrong.
        """
        ...
