"""Extended grapheme clusters: what a reader sees as one character (Bluesky counts these)."""

from __future__ import annotations

import re

import regex

from publisher.text.unicode_tables import JOINING, char_class

_GRAPHEME_RE = regex.compile(r"\X")

# Code points that may join a cluster with a neighbour: the BMP ones by their
# Grapheme_Cluster_Break, and every astral one (emoji mostly; checking those exactly would
# cost more than it saves). Two neighbours outside this set always have a cluster boundary
# between them, so only short zones around these need the (slow) full segmentation.
_BMP_JOINING = tuple((lo, min(hi, 0xFFFF)) for lo, hi in JOINING if lo <= 0xFFFF)
_JOINING_RE = re.compile(f"[{char_class(_BMP_JOINING)}\\U00010000-\\U0010ffff]")


def grapheme_length(text: str) -> int:
    """Number of extended grapheme clusters."""
    if text.isascii():
        return len(text) - text.count("\r\n")
    length = len(text)
    zone_start = zone_end = 0
    for m in _JOINING_RE.finditer(text):
        lo, hi = max(m.start() - 1, 0), m.end() + 1
        if lo < zone_end:
            zone_end = hi
            continue
        if zone_end:
            zone = text[zone_start:zone_end]
            length -= len(zone) - len(_GRAPHEME_RE.findall(zone))
        zone_start, zone_end = lo, hi
    if zone_end:
        zone = text[zone_start:zone_end]
        length -= len(zone) - len(_GRAPHEME_RE.findall(zone))
    return length


def grapheme_boundaries(text: str) -> list[int]:
    """Every index where a cut does not split a cluster, 0 and ``len(text)`` included."""
    bounds = [0]
    bounds.extend(m.end() for m in _GRAPHEME_RE.finditer(text))
    return bounds
