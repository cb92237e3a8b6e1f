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
_JOINING = f"[{char_class(_BMP_JOINING)}\\U00010000-\\U0010ffff]"
# A zone: joining code points at most one other code point apart. One character either side
# of a zone is enough context; two zones further apart never share a cluster.
_ZONE_RE = re.compile(f"{_JOINING}(?:(?:(?!{_JOINING}).)?{_JOINING})*", re.DOTALL)


def grapheme_length(text: str) -> int:
    """Number of extended grapheme clusters.

    Linear: each zone is found by one scan and segmented once (a text of emoji is one zone,
    not one Python step per code point).
    """
    if text.isascii():
        return len(text) - text.count("\r\n")
    length = len(text)
    for m in _ZONE_RE.finditer(text):
        zone = text[max(m.start() - 1, 0) : m.end() + 1]
        length -= len(zone) - len(_GRAPHEME_RE.findall(zone))
    return length


def grapheme_boundaries(text: str) -> list[int]:
    """Every index where a cut does not split a cluster, 0 and ``len(text)`` included."""
    bounds = [0]
    bounds.extend(m.end() for m in _GRAPHEME_RE.finditer(text))
    return bounds
