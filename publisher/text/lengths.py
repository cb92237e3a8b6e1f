"""Length rules: how a network counts a post, and the most one post may count.

A rule is a counting function and a limit. The counts more than one network uses live in this
layer (``code_points`` and ``utf16_units`` here, ``grapheme_length`` and ``x_weighted_length``
beside their tables); a count only one network uses lives beside that network (Mastodon's, in
its adapter). A new way of counting is a new function: nothing here names the networks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class LengthRule:
    """``count(text)`` may be at most ``limit``.

    A count need not grow with the text: X counts every URL 23 and Mastodon ``@user@domain``
    as ``@user``, so a text cut inside one can count more than the whole. Thread splitting
    allows for it (``publisher.text.split``).
    """

    count: Callable[[str], int]
    limit: int


def code_points(text: str) -> int:
    """Plain code points, as Python's ``len`` (Facebook, LinkedIn)."""
    return len(text)


def utf16_units(text: str) -> int:
    """UTF-16 code units: a character beyond the Basic Multilingual Plane (most emoji) counts
    two. How X measures its ranges and Telegram its message limits."""
    return len(text) if text.isascii() else len(text.encode("utf-16-le", "surrogatepass")) // 2
