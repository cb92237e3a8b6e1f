"""A network's rules as data: what ``render`` must satisfy, and the per-post options it takes.

Adapters declare them (``Adapter.capabilities``, ``Adapter.post_options``); the shared layer
(``publisher.adapters.shared``) and the queue parser enforce them, once for every network.
"""

from __future__ import annotations

from dataclasses import dataclass

from publisher.diagnostics import kind_of, quoted
from publisher.limits import MAX_TEXT_CHARS
from publisher.text import LengthRule

# The smallest ``max_length`` an operator may configure: below about 14 some texts cannot be
# split at all (a part's numbering alone takes that much); 50 leaves a margin and is far
# under any network's real limit.
MIN_LENGTH_LIMIT = 50


@dataclass(frozen=True)
class MediaLimits:
    max_images: int = 0
    max_videos: int = 0  # videos and GIFs
    max_image_bytes: int = 0
    max_video_bytes: int = 0
    image_types: frozenset[str] = frozenset()
    video_types: frozenset[str] = frozenset()
    alt_text_max: int = 0  # 0: the network takes no alt text
    mix_images_and_video: bool = False
    max_items: int = 0  # images and videos together (Telegram's album, Discord's files); 0: no cap


@dataclass(frozen=True)
class Comments:
    """How a network takes a post's first comment (``first_comment:``): its length rule.

    A comment is text only and never split: longer than ``length.limit`` is an error."""

    length: LengthRule


@dataclass(frozen=True)
class Capabilities:
    network: str
    length: LengthRule
    media: MediaLimits
    threads: bool  # can a long post become a reply chain?
    link_cards: bool = False
    # None: the network takes no first comment (one in the queue is a validation error).
    comments: Comments | None = None


@dataclass(frozen=True)
class OptionSpec:
    """One per-post option a network takes (``options:`` in queue.yaml), as data.

    The queue parser reports an unknown key or a value ``problem`` refuses at its line in the
    file; render refuses a bad value that reached it anyway. Values are scalars: true/false,
    a whole number, or text (one of ``choices`` when there are any).
    """

    kind: type[bool] | type[int] | type[str]
    choices: tuple[str, ...] = ()
    description: str = ""

    def problem(self, value: object) -> str | None:
        """Why ``value`` is not one this option takes; None when it is."""
        if self.kind is bool:
            if isinstance(value, bool):
                return None
            return f"expected true or false, got {kind_of(value)}"
        if self.kind is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return None
            return f"expected a whole number, got {kind_of(value)}"
        if not isinstance(value, str):
            hint = f" (one of: {', '.join(self.choices)})" if self.choices else ""
            return f"expected text{hint}, got {kind_of(value)}"
        if self.choices and value not in self.choices:
            return f"{quoted(value)} is not one of: {', '.join(self.choices)}"
        if len(value) > MAX_TEXT_CHARS:
            return f"{len(value):,} characters, more than the limit of {MAX_TEXT_CHARS:,}"
        return None
