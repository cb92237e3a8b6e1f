"""NFC in time linear in the text, whatever combining marks it holds.

CPython's ``unicodedata.normalize`` puts combining marks in canonical order by insertion, so a
run of k marks out of order costs k² steps: 16,000 marks took seconds. A run is in canonical
order once its marks are stably sorted by combining class, and normalizing an equivalent text
gives the same NFC, so long runs are decomposed and sorted here (k log k) before CPython
composes the result, which is then linear.
"""

from __future__ import annotations

import re
import unicodedata

from publisher.text.unicode_tables import NON_STARTERS, char_class

# Shorter runs cost CPython at most _LONG_RUN² / 2 steps each: small, and the common case.
_LONG_RUN = 32
_LONG_RUN_RE = re.compile(f"[{char_class(NON_STARTERS)}]{{{_LONG_RUN},}}")


def nfc(text: str) -> str:
    """``unicodedata.normalize("NFC", text)``."""
    if text.isascii() or _LONG_RUN_RE.search(text) is None:
        return unicodedata.normalize("NFC", text)
    pieces: list[str] = []
    pos = 0
    for m in _LONG_RUN_RE.finditer(text):
        start, end = m.span()
        # The run follows a starter (or the text's start): its marks join that starter's.
        head = start - 1 if start > pos else start
        pieces.append(text[pos:head])
        pieces.append(_canonical_decomposition(text[head:start], text[start:end]))
        pos = end
    pieces.append(text[pos:])
    return unicodedata.normalize("NFC", "".join(pieces))


def _canonical_decomposition(starter: str, run: str) -> str:
    """NFD of ``starter + run``: every character decomposed, then the trailing non-starters
    stably sorted by combining class, which is what canonical ordering does."""
    head = unicodedata.normalize("NFD", starter)
    cut = len(head)
    while cut and unicodedata.combining(head[cut - 1]):
        cut -= 1
    marks = list(head[cut:])
    for ch in run:  # each decomposes to non-starters only (that is what NON_STARTERS holds)
        marks.extend(unicodedata.normalize("NFD", ch))
    marks.sort(key=unicodedata.combining)
    return head[:cut] + "".join(marks)
