"""Placeholders: what a payload cannot hold at render time, filled in while publishing.

``render`` is pure, so ``build_payload`` cannot know the ids the network will give a part's
uploads or the thread parts before it. It writes a placeholder instead, always a whole string
value (never inside a longer text), and ``publish_part`` fills them with ``fill``:

=================  ================================================  =====================
written by         stands for                                        filled from
=================  ================================================  =====================
``media(n)``       the n-th media item of the part, once uploaded    ``media=[...]``
``part(n)``        thread part n (0-based), once out                 ``parts={n: ...}``
``thumb(name)``    the link card's thumbnail, once uploaded          ``thumb=...``
=================  ================================================  =====================

What fills them is whatever the network wants there: an id string, or an object (Bluesky's
``{"uri", "cid"}`` strong reference, a blob). ``Progress.remote_ids()`` gives ``parts`` for
networks that reply by id.

Keys named in ``text`` hold the editor's words (a status's text, a caption): they are left as
written, so a post whose whole text reads ``<media:0>`` is published as it reads. A
placeholder that names something missing is a bug of the adapter's, not of the post, and
raises ``PermanentError``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from publisher.adapters.base import PermanentError

_MEDIA = re.compile(r"<media:(\d+)>")
_PART = re.compile(r"<part:(\d+)>")
_THUMB = re.compile(r"<thumb:(.+)>", re.DOTALL)


def media(index: int) -> str:
    """The placeholder of the part's ``index``-th media item."""
    return f"<media:{index}>"


def part(index: int) -> str:
    """The placeholder of thread part ``index`` (a reply names the part before it)."""
    return f"<part:{index}>"


def thumb(name: str) -> str:
    """The placeholder of the link card's thumbnail; ``name`` (the editor's path) only shows
    a dry run which file it is."""
    return f"<thumb:{name}>"


def media_index(value: Any) -> int | None:
    """The media index ``value`` stands for, if it is a media placeholder."""
    match = _MEDIA.fullmatch(value) if isinstance(value, str) else None
    return int(match.group(1)) if match is not None else None


def is_thumb(value: Any) -> bool:
    """Whether ``value`` is a thumbnail placeholder (the card's thumbnail is to be uploaded)."""
    return isinstance(value, str) and _THUMB.fullmatch(value) is not None


def fill(
    payload: Any,
    *,
    media: Sequence[Any] = (),
    parts: Mapping[int, Any] | None = None,
    thumb: Any = None,
    text: Collection[str] = (),
) -> Any:
    """A copy of ``payload`` with every placeholder replaced; see the module's docstring."""
    known = parts if parts is not None else {}

    def walk(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: v if k in text else walk(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [walk(v) for v in value]
        if not isinstance(value, str):
            return value
        if m := _MEDIA.fullmatch(value):
            n = int(m.group(1))
            if n >= len(media):
                raise PermanentError(f"the payload names media {n}, only {len(media)} uploaded")
            return media[n]
        if m := _PART.fullmatch(value):
            n = int(m.group(1))
            if n not in known:
                raise PermanentError(f"the payload replies to part {n + 1}, which is not out")
            return known[n]
        if _THUMB.fullmatch(value):
            if thumb is None:
                raise PermanentError("the payload names a card thumbnail that was not uploaded")
            return thumb
        return value

    return walk(payload)
