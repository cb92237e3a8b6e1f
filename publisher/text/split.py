"""Thread splitting: cut a long text into parts that each fit a network's length rule.

Cuts prefer, in order: paragraph breaks, sentence ends (and line breaks), clause punctuation,
word boundaries; a word is cut between grapheme clusters only when it alone exceeds the limit,
and a URL, hashtag, mention or cashtag only when it alone does. A higher preference is taken
only if the part it ends is at least half full, so a paragraph break near the start of a part
does not waste the rest of it. Every part is measured with the network's own counter (after
the " (i/n)" suffix when numbered), so no part can be refused for length.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable

import regex

from publisher.text.entities import find_entities
from publisher.text.graphemes import grapheme_boundaries
from publisher.text.lengths import LengthRule

# Preference of a cut, highest first.
PARAGRAPH = 5
SENTENCE = 4  # a sentence end or a line break
CLAUSE = 3
WORD = 2
GRAPHEME = 1  # inside a word: last resort
FORCED = 0  # inside an entity: only when the entity alone does not fit

_MIN_FILL = 0.5  # paragraph, sentence and clause cuts must fill half a part

# Whitespace where a line may break: no-break spaces (U+00A0, U+2007, U+202F) are not.
_SPACE_RUN_RE = regex.compile(r"[^\S\xa0\u2007\u202f]+")
_SENTENCE_END_RE = regex.compile(r"[.!?…‼⁉。！？][)\]\"'”’»」』）]*$")
_CLAUSE_END_RE = regex.compile(r"[,;:—–][)\]\"'”’»」』）]*$")
_CJK_SENTENCE_RE = regex.compile(r"[。！？][」』）]*")
_CJK_CLAUSE_RE = regex.compile(r"[、，；：]")
_CJK_RE = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}]")


def _suffix(index: int, total: int) -> str:
    return f" ({index}/{total})"


class _Text:
    """A text with its cut candidates: grapheme boundaries ranked by preference."""

    def __init__(self, text: str) -> None:
        self.text = text
        bounds = grapheme_boundaries(text)
        self.bounds = set(bounds)
        level = dict.fromkeys(bounds, GRAPHEME)
        # Entities come in order, none overlapping (a remote mention ``@user@domain`` is one).
        self.entity_starts: list[int] = []
        self.entity_ends: list[int] = []
        for entity in find_entities(text):
            self.entity_starts.append(entity.start)
            self.entity_ends.append(entity.end)
            i = bisect_right(bounds, entity.start)
            while bounds[i] < entity.end:  # the text's end is a boundary: the loop stops there
                level[bounds[i]] = FORCED
                i += 1
        for m in _CJK_RE.finditer(text):
            # Chinese and Japanese have no spaces: a cut next to a character is a word cut.
            # (The text's edges are no cuts: they are dropped below, whatever their level.)
            for b in (m.start(), m.end()):
                if level.get(b) == GRAPHEME:
                    level[b] = WORD
        for m in _CJK_CLAUSE_RE.finditer(text):
            self._raise(level, m.end(), CLAUSE)
        for m in _CJK_SENTENCE_RE.finditer(text):
            self._raise(level, m.end(), SENTENCE)
        for m in _SPACE_RUN_RE.finditer(text):
            # A run at the text's start ranks 0, dropped below; one at its end ranks a cut that
            # is never chosen (a piece up to it is the whole rest, then taken whole).
            start = m.start()
            run = m.group()
            before = text[max(0, start - 8) : start]
            if run.count("\n") >= 2:
                rank = PARAGRAPH
            elif "\n" in run or _SENTENCE_END_RE.search(before):
                rank = SENTENCE
            elif _CLAUSE_END_RE.search(before):
                rank = CLAUSE
            else:
                rank = WORD
            self._raise(level, start, rank)
        tail = len(text)
        level.pop(0, None)
        level.pop(tail, None)
        self.cuts = sorted(level)
        self.levels = [level[c] for c in self.cuts]
        # Where every rest of the text ends once trailing whitespace is trimmed: found once, so
        # taking the rest does not walk that whitespace again for every part.
        end = len(text.rstrip())
        while end not in self.bounds:
            end += 1
        self.end = end

    @staticmethod
    def _raise(level: dict[int, int], at: int, rank: int) -> None:
        current = level.get(at)
        if current is not None and current != FORCED and current < rank:
            level[at] = rank

    def part(self, start: int, end: int) -> str:
        """``text[start:end]`` without whitespace at its edges, never splitting a cluster."""
        text, bounds = self.text, self.bounds
        s, e = start, end
        while s < e and text[s].isspace():
            s += 1
        while s not in bounds:
            s -= 1
        while e > s and text[e - 1].isspace():
            e -= 1
        while e not in bounds:
            e += 1
        return text[s:e]

    def entity_end(self, at: int, start: int) -> int | None:
        """The end of the entity that ``at`` falls strictly inside, if that entity starts at or
        after ``start`` (None: no such entity)."""
        i = bisect_right(self.entity_starts, at) - 1
        if i < 0 or not start <= self.entity_starts[i] < at < self.entity_ends[i]:
            return None
        return self.entity_ends[i]

    def rest(self, start: int) -> str:
        """``part(start, len(text))``."""
        return self.part(start, max(start, self.end))

    def skip_space(self, start: int) -> int:
        text, bounds = self.text, self.bounds
        s = start
        while s < len(text) and text[s].isspace():
            s += 1
        while s not in bounds:
            s -= 1
        return s


def _greedy(
    source: _Text, fits: Callable[[str], bool], limit_fill: Callable[[str], float]
) -> list[str]:
    """Cut ``source`` into parts that each satisfy ``fits``, taking the best cut of each part.

    The work for one part is proportional to that part (a few pieces up to twice its length
    are measured), never to the rest of the text: the rest is measured whole only when every
    cut up to the end fits, or when it is at most twice the longest piece that fits (a word
    whose beginning is a URL, ``https://a.co`` in ``https://a.cox``, counts less than its
    beginning without the top-level domain on X, so the rest may fit when a shorter piece does
    not). A long text costs O(n log n), not a measure of the whole remaining text per part.
    """
    cuts = source.cuts
    parts: list[str] = []
    start = source.skip_space(0)
    first = 0  # index into cuts of the first cut after start
    while rest := source.rest(start):
        while first < len(cuts) and cuts[first] <= start:
            first += 1

        def ok(i: int, start: int = start) -> bool:
            piece = source.part(start, cuts[i])
            return bool(piece) and fits(piece)

        def reach(i: int, start: int = start) -> bool:
            # A cut inside an entity that fits whole counts as fitting, so the search goes on
            # past it: an entity's beginning may count more than the entity (a URL without its
            # domain yet, ``@user@`` of ``@user@domain``), and stopping there would cut an
            # entity that fits.
            end = source.entity_end(cuts[i], start)
            if end is not None and fits(source.part(start, end)):
                return True
            return ok(i)

        hi = _last_fitting(first, len(cuts), reach)
        allowance = 2 * (cuts[hi] - start) if hi >= first else 0
        if (hi < first or hi == len(cuts) - 1 or len(rest) <= allowance) and fits(rest):
            parts.append(rest)
            break
        if hi < first:
            raise ValueError(
                _too_small(source.part(start, cuts[first]) if first < len(cuts) else rest)
            )
        chosen = _choose(source, start, first, hi, limit_fill)
        if not ok(chosen):
            # A better cut before ``hi`` may not fit where a word's beginning is a URL and the
            # word is not (the search stepped over it): ``hi`` does fit, since the search never
            # stops inside an entity that fits whole, and only there does reaching not fit.
            chosen = hi
        parts.append(source.part(start, cuts[chosen]))
        start = source.skip_space(cuts[chosen])
    return parts


def _too_small(piece: str) -> str:
    if len(piece) > 1:
        return (
            f"a single character ({len(piece)} code points that display as one) is longer "
            "than the limit allows"
        )
    return "the limit is too small: even one character (with the thread numbering) does not fit"


def _last_fitting(first: int, stop: int, ok: Callable[[int], bool]) -> int:
    """The last index in [first, stop) where ``ok`` holds, assuming it holds on a prefix.

    Galloping from ``first`` keeps the cost proportional to one part, not to the whole text.
    """
    if first >= stop or not ok(first):
        return first - 1
    lo, step = first, 1
    while lo + step < stop and ok(lo + step):
        lo += step
        step *= 2
    hi = min(lo + step, stop)  # ok(lo) holds; ok(hi) does not (or hi == stop)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return lo


def _choose(
    source: _Text, start: int, first: int, hi: int, limit_fill: Callable[[str], float]
) -> int:
    """The index of the best cut in cuts[first..hi], all of which are assumed to fit."""
    levels = source.levels
    for rank in (PARAGRAPH, SENTENCE, CLAUSE):
        i = next((j for j in range(hi, first - 1, -1) if levels[j] >= rank), -1)
        if i >= 0 and limit_fill(source.part(start, source.cuts[i])) >= _MIN_FILL:
            return i
    for rank in (WORD, GRAPHEME, FORCED):
        i = next((j for j in range(hi, first - 1, -1) if levels[j] >= rank), -1)
        if i >= 0:
            return i
    return hi


def split_thread(text: str, rule: LengthRule, *, numbered: bool) -> list[str]:
    """Split ``text`` into parts within ``rule.limit``; numbered parts end with " (i/n)".

    Text already within the limit comes back as ``[text]``, unchanged and unnumbered.
    Raises ValueError only for a limit too small to hold one character and the numbering.
    """
    count, limit = rule.count, rule.limit
    if count(text) <= limit:
        return [text]
    source = _Text(text)

    def fill(piece: str) -> float:
        return count(piece) / limit

    if not numbered:
        return _greedy(source, lambda piece: count(piece) <= limit, fill)

    # The suffix's length depends on the number of parts: reserve room for a total of
    # `digits` digits, and widen the reservation until the count of parts agrees with it.
    # At least ceil(length / limit) parts: start the reservation there, not at one digit.
    digits = len(str(-(-count(text) // limit)))
    for _ in range(8):
        widest = _suffix(10**digits - 1, 10**digits - 1)

        def fits(piece: str, widest: str = widest) -> bool:
            return count(piece + widest) <= limit

        parts = _greedy(source, fits, fill)
        total = len(parts)
        if len(str(total)) > digits:
            digits = len(str(total))
            continue
        numbered_parts = [p + _suffix(i, total) for i, p in enumerate(parts, 1)]
        if all(count(p) <= limit for p in numbered_parts):
            return numbered_parts
        digits += 1
    raise ValueError("could not number the thread within the limit")
