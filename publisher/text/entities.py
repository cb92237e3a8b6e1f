"""URLs, hashtags, mentions and cashtags found the way the networks find them.

URL detection (``publisher.text.urls``) is a port of twitter-text's ``extractUrlsWithIndices``.

Mentions are wider than X's ``@name``: a mention is ``@name`` where ``name`` is letters, digits
and ``_`` optionally continued by ``.``/``-`` separated labels (so a Bluesky handle such as
``@alice.bsky.social`` is one mention), optionally followed by ``@domain`` (a fediverse account,
``@alice@mastodon.social``). A trailing ``.`` or ``-`` is never part of a mention.

All indexes are Python ``str`` indexes (code points).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import regex

from publisher.text.urls import _LATIN_ACCENTS, _PUNCT, _SPACES, UrlMatch, extract_urls

EntityKind = Literal["url", "hashtag", "mention", "cashtag"]

__all__ = [
    "Entity",
    "EntityKind",
    "UrlMatch",
    "extract_cashtags",
    "extract_hashtags",
    "extract_mentions",
    "extract_urls",
    "find_entities",
]


@dataclass(frozen=True, slots=True)
class Entity:
    """One entity; ``text`` is exactly ``source[start:end]`` (sigil included)."""

    kind: EntityKind
    start: int
    end: int
    text: str


# ---------------------------------------------------------------------------
# Hashtags, cashtags and mentions.

_HASHTAG_SPECIAL = (
    "_\u200c\u200d\ua67e\u05be\u05f3\u05f4\uff5e\u301c\u309b\u309c\u30a0\u30fb\u3003\u0f0b"
    "\u0f0c\u00b7"
)
_HASHTAG_ALNUM = f"[\\p{{L}}\\p{{M}}\\p{{Nd}}{_HASHTAG_SPECIAL}]"
_HASHTAG_RE = regex.compile(
    f"(?:(?<=[\ufe0e\ufe0f])|(?<![&\\p{{L}}\\p{{M}}\\p{{Nd}}{_HASHTAG_SPECIAL}]))"
    f"[#＃](?![\ufe0f\u20e3])"
    f"(?:{_HASHTAG_ALNUM}*[\\p{{L}}\\p{{M}}]{_HASHTAG_ALNUM}*)"
)
_HASHTAG_BAD_AFTER = regex.compile("[#＃]|://")

_CASHTAG_RE = re.compile(
    f"(?:(?<=^)|(?<=[{_SPACES}]))\\$[a-z]{{1,6}}(?:[._][a-z]{{1,2}})?(?=$|[{_SPACES}]|[{_PUNCT}])",
    re.IGNORECASE,
)

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
_WORD = "[A-Za-z0-9_]"
_MENTION_RE = regex.compile(
    # Not after a word character or an email-ish sign, except X's "RT@user" / "RT:@user".
    r"(?:(?<![=/A-Za-z0-9_@＠!#$%&*])|(?<=(?:^|[^A-Za-z0-9_+~.\-])[Rr][Tt]:?))"
    r"[@＠]"
    f"(?P<user>{_WORD}+(?:[.\\-]{_WORD}+)*)"
    f"(?P<domain>@{_LABEL}(?:\\.{_LABEL})+)?"
    f"(?![@＠A-Za-z0-9_{_LATIN_ACCENTS}]|://)",
)


def extract_hashtags(text: str) -> list[tuple[int, int]]:
    """Hashtag spans (``#`` included) by twitter-text's rule; an all-digit tag is no tag."""
    if "#" not in text and "＃" not in text:
        return []
    spans: list[tuple[int, int]] = []
    for m in _HASHTAG_RE.finditer(text):
        if _HASHTAG_BAD_AFTER.match(text, m.end()):
            continue
        spans.append((m.start(), m.end()))
    return spans


def extract_cashtags(text: str) -> list[tuple[int, int]]:
    if "$" not in text:
        return []
    return [(m.start(), m.end()) for m in _CASHTAG_RE.finditer(text)]


def extract_mentions(text: str) -> list[tuple[int, int, int]]:
    """Mention spans as (start, end, end of the local part): ``@a@b.c`` gives (0, 6, 2)."""
    if "@" not in text and "＠" not in text:
        return []
    return [(m.start(), m.end(), m.end("user")) for m in _MENTION_RE.finditer(text)]


def _remove_overlaps(found: list[Entity]) -> list[Entity]:
    """Earliest entity wins, as twitter-text's ``removeOverlappingEntities``; a URL wins a tie."""
    order: dict[str, int] = {"url": 0, "mention": 1, "hashtag": 2, "cashtag": 3}
    found.sort(key=lambda e: (e.start, order[e.kind]))
    kept: list[Entity] = []
    for entity in found:
        if kept and entity.start < kept[-1].end:
            continue
        kept.append(entity)
    return kept


def find_entities(text: str) -> list[Entity]:
    """Every URL, hashtag, mention and cashtag, in order, none overlapping."""
    found = [Entity("url", u.start, u.end, u.url) for u in extract_urls(text)]
    for start, end in extract_hashtags(text):
        found.append(Entity("hashtag", start, end, text[start:end]))
    for start, end, _ in extract_mentions(text):
        found.append(Entity("mention", start, end, text[start:end]))
    for start, end in extract_cashtags(text):
        found.append(Entity("cashtag", start, end, text[start:end]))
    return _remove_overlaps(found)
