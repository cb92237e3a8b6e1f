"""Extended grapheme clusters: what a reader sees as one character (Bluesky counts these)."""

from __future__ import annotations

import regex

_GRAPHEME_RE = regex.compile(r"\X")
# Characters that can join a cluster with a neighbour. A code point outside this set next to
# another one outside it is always a cluster boundary, so only the zones around these need
# the (slow) full segmentation; most posts have one cluster per code point elsewhere.
_JOINING = (
    r"[\r\p{GCB=Extend}\p{GCB=ZWJ}\p{GCB=SpacingMark}\p{GCB=Prepend}"
    r"\p{GCB=Regional_Indicator}\p{GCB=L}\p{GCB=V}\p{GCB=T}\p{GCB=LV}\p{GCB=LVT}]"
)
_ZONE_RE = regex.compile(f"(?:.?{_JOINING}+)+.?", regex.DOTALL)


def grapheme_length(text: str) -> int:
    """Number of extended grapheme clusters."""
    if text.isascii():
        return len(text) - text.count("\r\n")
    length = len(text)
    for zone in _ZONE_RE.findall(text):
        length -= len(zone) - len(_GRAPHEME_RE.findall(zone))
    return length


def grapheme_boundaries(text: str) -> list[int]:
    """Every index where a cut does not split a cluster, 0 and ``len(text)`` included."""
    bounds = [0]
    bounds.extend(m.end() for m in _GRAPHEME_RE.finditer(text))
    return bounds
