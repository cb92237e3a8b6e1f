"""X's length rule: twitter-text v3 ``parseTweet`` (config-v3: weights, emoji 2, URLs 23).

X refuses a post its own counter finds too long, so this is a port, checked against X's
conformance suite (``validate.yml``), not an approximation. Ranges in ``XParseResult`` are in
UTF-16 code units, as twitter-text reports them; the weighted length is what matters here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import regex

from publisher.text.lengths import utf16_units
from publisher.text.normalize import nfc
from publisher.text.urls import UrlMatch, extract_urls

# config-v3.json
MAX_WEIGHTED_LENGTH = 280
SCALE = 100
DEFAULT_WEIGHT = 200
TRANSFORMED_URL_LENGTH = 23
RANGES: tuple[tuple[int, int, int], ...] = (
    (0, 4351, 100),
    (8192, 8205, 100),
    (8208, 8223, 100),
    (8242, 8247, 100),
)

_LIGHT = "".join(f"{re.escape(chr(lo))}-{re.escape(chr(hi))}" for lo, hi, _ in RANGES)
# Code points outside every light range weigh 2; counting them is enough (one regex pass).
_HEAVY_RE = re.compile(f"[^{_LIGHT}]")
_INVALID_RE = re.compile("[\ufffe\ufeff\uffff]")

# What twemoji-parser (used by twitter-text) takes for one emoji, in Unicode-property terms:
# keycaps, subdivision flags, regional-indicator pairs, and ZWJ chains of pictographs, each
# with an optional skin tone or VS16. (C) and (R) are emoji only with VS16, as in twemoji.
_PICTO = r"(?:[\u00a9\u00ae]\ufe0f|(?![\u00a9\u00ae])\p{Extended_Pictographic}(?:\p{EMod}|\ufe0f)?)"
_EMOJI_RE = regex.compile(
    r"[#*0-9]\ufe0f?\u20e3"
    r"|\U0001f3f4[\U000e0020-\U000e007e]+\U000e007f"
    r"|\p{Regional_Indicator}\p{Regional_Indicator}"
    f"|{_PICTO}(?:\u200d{_PICTO})*"
    r"|\p{Emoji_Presentation}\p{EMod}?",
)

_URL_WEIGHT = TRANSFORMED_URL_LENGTH * SCALE


@dataclass(frozen=True, slots=True)
class XParseResult:
    """The fields of twitter-text's ``parseTweet`` result."""

    weighted_length: int
    permillage: int
    valid: bool
    display_range_start: int
    display_range_end: int
    valid_range_start: int
    valid_range_end: int


def _plain_weight(segment: str) -> int:
    """Scaled weight of text with no URL or emoji in it."""
    if segment.isascii():
        return len(segment) * SCALE
    return (len(segment) + len(_HEAVY_RE.findall(segment))) * SCALE


def _char_weight(cp: int) -> int:
    for lo, hi, weight in RANGES:
        if lo <= cp <= hi:
            return weight
    return DEFAULT_WEIGHT


def _entities(normalized: str, urls: list[UrlMatch]) -> list[tuple[int, int, int]]:
    """(start, end, scaled weight) of each URL and emoji, in order, none overlapping."""
    spans = [(u.start, u.end, _URL_WEIGHT, 0) for u in urls]
    if not normalized.isascii():  # ASCII text has no emoji (keycaps need U+20E3)
        spans += [(m.start(), m.end(), DEFAULT_WEIGHT, 1) for m in _EMOJI_RE.finditer(normalized)]
        spans.sort()
    out: list[tuple[int, int, int]] = []
    end = 0
    for start, stop, weight, _ in spans:
        if start >= end:  # twitter-text skips an entity starting inside an earlier one
            out.append((start, stop, weight))
            end = stop
    return out


def _scaled_length(normalized: str, entities: list[tuple[int, int, int]]) -> int:
    total = 0
    pos = 0
    for start, end, weight in entities:
        total += _plain_weight(normalized[pos:start]) + weight
        pos = end
    return total + _plain_weight(normalized[pos:])


def x_weighted_length(text: str) -> int:
    """X's weighted length: most scripts 1, CJK and emoji 2, any URL 23."""
    normalized = nfc(text)
    urls = extract_urls(normalized)
    if urls or normalized.isascii():
        scaled = _scaled_length(normalized, _entities(normalized, urls))
    else:
        # No URL, so the emoji never overlap: every emoji weighs 2 in place of its code points,
        # counted in a few passes over the text rather than one Python step per emoji.
        emoji = _EMOJI_RE.findall(normalized)
        scaled = (
            _plain_weight(normalized) + DEFAULT_WEIGHT * len(emoji) - _plain_weight("".join(emoji))
        )
    return scaled // SCALE


def x_parse(text: str) -> XParseResult:
    """twitter-text's ``parseTweet(text)`` with the v3 configuration."""
    normalized = nfc(text)
    entities = _entities(normalized, extract_urls(normalized))
    scaled = _scaled_length(normalized, entities)
    text_units = utf16_units(text)
    limit = MAX_WEIGHTED_LENGTH * SCALE
    if scaled <= limit and not _INVALID_RE.search(normalized):
        # Every prefix fits and every character is valid: the whole text is the valid range.
        valid_end = max(text_units - 1, 0)
    else:
        valid_end = _valid_display_index(normalized, entities, limit)
        valid_end += text_units - utf16_units(normalized)
    weighted = scaled // SCALE
    return XParseResult(
        weighted_length=weighted,
        permillage=scaled * 1000 // limit,
        valid=weighted > 0 and scaled <= limit and not _INVALID_RE.search(normalized),
        display_range_start=0,
        display_range_end=text_units - 1 if text_units > 0 else 0,
        valid_range_start=0,
        valid_range_end=valid_end,
    )


def _valid_display_index(normalized: str, entities: list[tuple[int, int, int]], limit: int) -> int:
    """twitter-text's walk: the UTF-16 index of the last unit still valid and within the limit."""
    starts = {start: (end, weight) for start, end, weight in entities}
    scaled = 0
    valid = True
    valid_index = 0
    unit = 0  # UTF-16 index of normalized[i]
    i = 0
    n = len(normalized)
    while i < n:
        if i in starts:
            end, weight = starts[i]
            scaled += weight
        else:
            end = i + 1
            scaled += _char_weight(ord(normalized[i]))
        segment = normalized[i:end]
        last_unit = unit + utf16_units(segment) - 1
        if valid:
            valid = normalized[end - 1] not in "\ufffe\ufeff\uffff"
        if valid and scaled <= limit:
            valid_index = last_unit
        unit = last_unit + 1
        i = end
    return valid_index
