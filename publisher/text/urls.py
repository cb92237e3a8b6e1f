"""URLs found the way X finds them, in time linear in the text.

A port of twitter-text's ``extractUrlsWithIndices`` (v3, Apache-2.0): X counts every URL it
detects as 23, so we must detect exactly what X detects or our length check lies. Mastodon and
Bluesky detect URLs with close cousins of the same rules, so one detector serves all.

twitter-text runs one backtracking regular expression, ``_PRECEDING url`` with
``url = protocol? subdomain* domain-name (tld | punycode) port? path? query?``, over the whole
text. Run as written it is quadratic or worse: on ``a.a.a.…`` every start re-walks the labels
to the end of the run and back, and on a run of letters every start re-walks the run (20 KB of
``a.`` took minutes). Here the same expression's matches come from a scan that does bounded
work per character, which is why it is linear:

- Only space-free runs holding ``.tld`` are scanned (a URL spans no space and its domain ends
  in a TLD); the filter reads each run once.
- A label (``x-y_z.``) is a run of domain characters ending with a dot, so which labels a match
  takes is forced: the only choice the expression explores is *how many* subdomains precede the
  domain name. Greedy ``subdomain*`` takes the most that still leave a TLD, i.e.
  ``best(q) = best(next label) or tail(q)``, memoised per position: a chain of labels is walked
  once, whatever the number of starts that reach it.
- Every start inside one run of label characters reaches the same next label, and when no
  domain starts at a label none starts at the labels after it: one failed start rules out its
  run and the rest of its chain (save where a protocol or a ``_``-free last label could change
  the outcome), and the scan jumps past them instead of retrying each start.
- TLDs are bounded (a trie, at most 24 characters); port, path and query are matched once per
  URL found, from where its domain ends, by twitter-text's fragments. What they read past the
  match holds no TLD (a letter there would have extended the path), so no later URL's path
  reads it again.

``tests/text/test_item2_exactness.py`` checks the matches against the plain expression on
random texts; ``tests/text/test_item2_bounded_text.py`` checks the time against a 4x longer
text.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import NamedTuple

from publisher.text.tlds import COUNTRY_TLDS, GENERIC_TLDS


class UrlMatch(NamedTuple):
    """A detected URL; ``has_protocol`` matters to Mastodon, which shortens only those."""

    start: int
    end: int
    url: str
    has_protocol: bool


# ---------------------------------------------------------------------------
# twitter-text's building blocks, as regular-expression fragments.

_SPACES = "\x09-\x0d\x20\x85\xa0\u1680\u180e\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_INVALID_CHARS = "\ufffe\ufeff\uffff"
_DIRECTIONAL = "\u202a-\u202e\u061c\u200e\u200f\u2066\u2067\u2068\u2069"
_PUNCT = re.escape("!\"#$%&'()*+,-./:;<=>?@[]^_`{|}~\\")
_LATIN_ACCENTS = (
    "\xc0-\xd6\xd8-\xf6\xf8-\xff\u0100-\u024f\u0253\u0254\u0256\u0257\u0259\u025b\u0263"
    "\u0268\u026f\u0272\u0289\u028b\u02bb\u0300-\u036f\u1e00-\u1eff"
)
_CYRILLIC = "\u0400-\u04ff"


_Trie = dict[str, "_Trie"]


def _trie_pattern(words: list[str]) -> str:
    """An alternation of ``words`` factored as a trie: the regex engine then tries a handful of
    branches per position instead of every one of ~1,600 TLDs."""
    trie: _Trie = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}  # a word ends here

    def build(node: _Trie) -> str:
        branches = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if "" in node:
            return f"(?:{body})?"
        return body

    return build(trie)


_TLD_END = r"(?=[^0-9a-zA-Z@+\-]|$)"
_ALL_TLDS = sorted(GENERIC_TLDS | COUNTRY_TLDS)
# Generic or country, a TLD is a TLD: one trie for the ASCII ones, and one for the rest behind
# a guard so ASCII text never walks the non-ASCII branches (sre tries those one by one).
_TLD = (
    f"(?:(?:{_trie_pattern([t for t in _ALL_TLDS if t[0].isascii()])}"
    f"|(?=[^\\x00-\\x7f]){_trie_pattern([t for t in _ALL_TLDS if not t[0].isascii()])})"
    f"{_TLD_END})"
)
_PUNYCODE = r"(?:xn--[\-0-9a-z]+)"

_DOMAIN_CHAR = f"[^{_PUNCT}{_SPACES}{_INVALID_CHARS}{_DIRECTIONAL}]"
_SUBDOMAIN = f"(?:(?:{_DOMAIN_CHAR}(?:[_\\-]|{_DOMAIN_CHAR})*)?{_DOMAIN_CHAR}\\.)"
_DOMAIN_NAME = f"(?:(?:{_DOMAIN_CHAR}(?:-|{_DOMAIN_CHAR})*)?{_DOMAIN_CHAR}\\.)"
_DOMAIN = f"(?:{_SUBDOMAIN}*{_DOMAIN_NAME}(?:{_TLD}|{_PUNYCODE}))"

_PRECEDING_CHAR = f"(?:[^A-Za-z0-9@＠$#＃{_INVALID_CHARS}]|[{_DIRECTIONAL}])"
_PRECEDING = f"(?:{_PRECEDING_CHAR}|^)"
_PROTOCOL = r"(?:https?://)"
_PATH_CHAR = f"[a-z{_CYRILLIC}0-9!*';:=+,.$/%#\\[\\]\\-\u2013_~&|@{_LATIN_ACCENTS}]"
_BALANCED_PARENS = f"\\((?:{_PATH_CHAR}+|(?:{_PATH_CHAR}*\\({_PATH_CHAR}+\\){_PATH_CHAR}*))\\)"
_PATH_END = f"(?:[+\\-a-z{_CYRILLIC}0-9=_#/{_LATIN_ACCENTS}]|(?:{_BALANCED_PARENS}))"
_PATH = f"(?:(?:{_PATH_CHAR}*(?:{_BALANCED_PARENS}{_PATH_CHAR}*)*{_PATH_END})|(?:@{_PATH_CHAR}+/))"
_QUERY_CHAR = r"[a-z0-9!?*'@();:&=+$/%#\[\]\-_.,~|]"
_QUERY_END = r"[a-z0-9\-_&=#/]"
# What follows the domain. Each part is optional, so once a domain matches the match succeeds
# and the regex never backtracks into the domain: it can be matched alone, from the domain's end.
_AFTER_DOMAIN = f"(?::[0-9]+)?(?P<path>/{_PATH}*)?(?:\\?{_QUERY_CHAR}*{_QUERY_END})?"

# twitter-text's whole expression, for reference (the tests compare the scan with it).
URL_PATTERN = (
    f"(?P<before>{_PRECEDING})"
    f"(?P<url>(?P<protocol>{_PROTOCOL})?(?P<domain>{_DOMAIN}){_AFTER_DOMAIN})"
)

_I = re.IGNORECASE
# ``_SUBDOMAIN`` and ``_DOMAIN_NAME`` with the run of label characters taken whole (possessive):
# no dot is inside a run, so the label can only end where its run does, and taking the run
# whole finds the same matches without backtracking through it.
_SUBDOMAIN_RE = re.compile(f"{_DOMAIN_CHAR}(?:[_\\-]|{_DOMAIN_CHAR})*+(?<![_\\-])\\.", _I)
_DOMAIN_NAME_RE = re.compile(f"{_DOMAIN_CHAR}(?:-|{_DOMAIN_CHAR})*+(?<!-)\\.", _I)
_DOMAIN_CHAR_RE = re.compile(_DOMAIN_CHAR, _I)
_LABEL_RUN_RE = re.compile(f"(?:[_\\-]|{_DOMAIN_CHAR})++", _I)
_PRECEDING_CHAR_RE = re.compile(_PRECEDING_CHAR, _I)
# Where a URL may start: after a preceding character, on a domain character ("h" included).
_START_RE = re.compile(f"{_PRECEDING_CHAR}(?={_DOMAIN_CHAR})", _I)
_PROTOCOL_RE = re.compile(_PROTOCOL, _I)
_AFTER_DOMAIN_RE = re.compile(_AFTER_DOMAIN, _I)
_TCO_RE = re.compile(f"^https?://t\\.co/([a-z0-9]+)(?:\\?{_QUERY_CHAR}*{_QUERY_END})?", _I)
_ASCII_LABEL_RUN_RE = re.compile(f"[\\-a-z0-9{_LATIN_ACCENTS}]++", _I)
_NO_PROTOCOL_BAD_BEFORE = re.compile(r"[\-_./]$")
# Where a TLD may follow a dot: every TLD (and punycode) is at least two characters, none a
# dot or a space. A cheap first look, so runs of short labels (``a.a.a.…``) cost no Python.
_DOT_THEN_TWO_RE = re.compile(f"\\.(?=[^.{_SPACES}]{{2}})")
# A space-free run holding such a dot: only these can hold a URL (``_has_dot_tld`` then says
# whether one does). Tried only from the start of a run (the lookbehind), so each run is read
# once.
_CANDIDATE_RUN_RE = re.compile(
    f"(?<![^{_SPACES}])[^{_SPACES}]*?\\.[^.{_SPACES}]{{2}}[^{_SPACES}]*", _I
)

_MAX_URL_LENGTH = 4096
_MAX_TCO_SLUG_LENGTH = 40
_MAX_DOMAIN_LABEL_LENGTH = 63
# Domains up to this long are matched by the plain expression: its cost, quadratic in the
# domain's length at worst, stays small; longer ones go through the memoised walk.
_SHORT_DOMAIN = 256


# ---------------------------------------------------------------------------
# The scan.


@functools.cache
def _tld_or_punycode() -> re.Pattern[str]:
    """The expression holding the ~1,600 TLDs that every scan uses. Compiling one takes tens
    of milliseconds, and five of them compiled at import were a third of what ``validate``
    spent starting; so this one is compiled at the first text with a dot before two
    characters, and the scans match it where a TLD must start instead of holding the TLDs in
    expressions of their own."""
    return re.compile(f"{_TLD}|{_PUNYCODE}", _I)


@functools.cache
def _ascii_domain_re() -> re.Pattern[str]:
    """twitter-text's validAsciiDomain (labels taken whole, as above). It holds the TLDs too:
    compiled at the first domain written without a protocol, never to start up."""
    return re.compile(f"(?:[\\-a-z0-9{_LATIN_ACCENTS}]++\\.)+(?:{_TLD}|{_PUNYCODE})", _I)


def _tld_end(text: str, pos: int) -> int | None:
    """End of ``(?:tld|punycode)`` matched at ``pos``, as inside twitter-text's expression."""
    m = _tld_or_punycode().match(text, pos)
    return m.end() if m else None


def _has_dot_tld(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` holds a dot followed by a TLD (which may read past ``end``
    for its own end, as ``\\.(?:tld|punycode)`` searched in the whole text would)."""
    tld = _tld_or_punycode()
    for dot in _DOT_THEN_TWO_RE.finditer(text, start, end):
        if tld.match(text, dot.end()) is not None:
            return True
    return False


class _Labels:
    """Domains in one text: ``_DOMAIN``'s match from any position, each label walked once."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._best: dict[int, int | None] = {}
        self._next: dict[int, int | None] = {}  # the label after a start no domain follows

    def domain(self, q: int) -> int | None:
        """End of ``_DOMAIN`` at q: the most subdomains that still leave a domain name and TLD.

        ``best(q) = best(next label) or tail(q)``, resolved iteratively (a text may hold tens
        of thousands of labels) and memoised, so each label is visited once per text.
        """
        text, memo, tld = self.text, self._best, _tld_or_punycode()
        chain: list[int] = []
        at: int | None = q
        while at is not None and at not in memo:
            chain.append(at)
            label = _SUBDOMAIN_RE.match(text, at)
            at = label.end() if label else None
        found = memo[at] if at is not None else None
        following = at
        for p in reversed(chain):
            if found is None:
                name = _DOMAIN_NAME_RE.match(text, p)
                tail = tld.match(text, name.end()) if name else None
                found = tail.end() if tail else None
                if found is None:
                    self._next[p] = following
            memo[p] = found
            following = p
        return found

    def resume(self, q: int) -> int:
        """Where a start may next succeed, once no domain starts at q.

        No domain starts at q, so none starts at the labels after it either (``best``): every
        start in the chain fails, save past the last ``_`` of a label that could be the domain
        name. The scan jumps there, or to the chain's last label, whose run ``_skip`` knows.
        Each chain is walked here once: the scan then continues beyond it.
        """
        nexts, text = self._next, self.text
        p = q
        while (following := nexts.get(p)) is not None:
            underscore = text.rfind("_", p, following - 1)
            if underscore >= 0 and self.tld_after(following - 1):
                return max(underscore + 1, q)
            p = following
        return p

    def tld_after(self, dot: int) -> bool:
        """Could the label ending at ``dot`` be a domain name followed by its TLD?"""
        text = self.text  # dot ends a label, so dot >= 1
        name_ends = _DOMAIN_CHAR_RE.match(text, dot - 1) is not None
        return name_ends and _tld_end(text, dot + 1) is not None


class _Match(NamedTuple):
    """One match of ``URL_PATTERN``: its groups as spans."""

    start: int  # of the preceding character, or of the URL at the text's start
    url_start: int
    domain_start: int
    domain_end: int
    path_start: int  # -1: no path
    end: int


def _attempt(labels: _Labels, u: int) -> _Match | None:
    """``URL_PATTERN`` with the URL starting at u (the preceding character already matched)."""
    text = labels.text
    proto = _PROTOCOL_RE.match(text, u)
    starts = (proto.end(), u) if proto else (u,)
    for d in starts:
        end = labels.domain(d)
        if end is not None:
            rest = _AFTER_DOMAIN_RE.match(text, end)
            assert rest is not None  # every part of it is optional
            path = rest.start("path")
            return _Match(u - 1 if u else 0, u, d, end, path, rest.end())
    return None


def _skip(labels: _Labels, u: int) -> int:
    """After no URL starts at u (a domain character) and no label follows u's run (``resume``
    found no chain), the first position worth trying next.

    Every start in u's run of label characters reaches the same end, so it fails the same way,
    except where a protocol may begin (the run ends in ``:``). (A run followed by a dot whose
    last character is a domain character is a label, so ``resume`` handles it: here a dot
    follows only a run ending in ``_`` or ``-``, which no start inside can make a domain name.)
    """
    text = labels.text
    run = _LABEL_RUN_RE.match(text, u)
    assert run is not None  # u is a domain character (``_START_RE``'s lookahead)
    b = run.end()
    if text.startswith(":", b):
        return max(u, b - len("https"))
    return b


def _scan(labels: _Labels, lo: int, hi: int) -> Iterator[_Match]:
    """``URL_PATTERN.finditer(text, lo, hi)``, for a space-free stretch [lo + 1, hi)."""
    text = labels.text
    pos = lo
    if pos == 0:
        # At the very start the preceding character may be the text's start itself (``^``),
        # tried after a real preceding character (a run holds ``.`` and two more: hi > 1).
        first = (_PRECEDING_CHAR_RE.match(text, 0) and _attempt(labels, 1)) or _attempt(labels, 0)
        if first is not None:
            yield first
            pos = first.end
        else:
            pos = 1
    while (found := _START_RE.search(text, pos, hi)) is not None:
        u = found.start() + 1
        match = _attempt(labels, u)
        if match is None:
            resume = labels.resume(u)
            pos = resume - 1 if resume > u else max(u, _skip(labels, u) - 1)
            continue
        yield match
        pos = match.end


def _punycode_label_length(label: str) -> int:
    if label.isascii():
        return len(label)
    if len(label) > _MAX_DOMAIN_LABEL_LENGTH:
        # Too long encoded too (punycode keeps every character): no need to encode it, which
        # costs time quadratic in the label's length.
        return len(label)
    return 4 + len(label.encode("punycode"))  # the codec takes every code point


def _ascii_domains(domain: str) -> Iterator[tuple[int, int]]:
    """Spans of ``(?:[-a-z0-9…]+\\.)+(?:tld|punycode)`` in ``domain``, as ``re.finditer`` would.

    The same greedy choice as ``_Labels.domain`` (the most labels that still leave a TLD),
    memoised per label, and a failed start rules out its whole run.
    """
    if len(domain) <= _SHORT_DOMAIN:
        yield from (m.span() for m in _ascii_domain_re().finditer(domain))
        return
    memo: dict[int, int | None] = {}

    def label_end(q: int) -> int | None:
        # No label of a domain is empty: a dot at q is never met (r == q only at a character
        # outside the ASCII labels).
        m = _ASCII_LABEL_RUN_RE.match(domain, q)
        r = m.end() if m else q
        return r + 1 if r < len(domain) and domain[r] == "." else None

    def best(q: int | None) -> int | None:
        chain: list[int] = []
        at: int | None = q
        while at is not None and at not in memo:
            chain.append(at)
            at = label_end(at)
        found = memo[at] if at is not None else None
        for p in reversed(chain):
            if found is None:
                found = _tld_end(domain, p)
            memo[p] = found
        return found

    pos = 0
    while (run := _ASCII_LABEL_RUN_RE.search(domain, pos)) is not None:
        end = best(label_end(run.start()))
        if end is None:
            pos = run.end()
            continue
        yield run.start(), end
        pos = end


def _ascii_domain_length(domain: str) -> int | None:
    """Length of the domain once punycode-encoded, or None if X would reject it."""
    if domain.startswith("xn--") and next(_ascii_domains(domain), None) is None:
        return None  # punycode cannot contain non-ASCII characters
    total = 0
    for label in domain.split("."):
        length = _punycode_label_length(label)
        if length > _MAX_DOMAIN_LABEL_LENGTH:  # none is empty (``_DOMAIN``'s labels)
            return None
        total += length
    return total + domain.count(".")


def _is_valid_url(url: str, protocol: str, domain: str) -> bool:
    encoded = _ascii_domain_length(domain)
    if not encoded:
        return False
    return len(protocol) + len(url) + encoded - len(domain) <= _MAX_URL_LENGTH


def _url_matches(text: str, with_protocol_only: bool) -> Iterator[_Match]:
    """The matches of ``URL_PATTERN`` over ``text``, scanning only the space-free runs that may
    hold a URL (a domain ends in ``.tld``).

    No URL spans a space (a space may only be its preceding character), so scanning each such
    run from the space before it gives exactly the matches of one scan of the whole text.
    """
    labels = _Labels(text)
    for run in _CANDIDATE_RUN_RE.finditer(text):
        start, end = run.span()
        if with_protocol_only and text.find("://", start, end) < 0:
            continue
        if not _has_dot_tld(text, start, end):
            continue
        yield from _scan(labels, start - 1 if start else 0, end)


def extract_urls(text: str, *, without_protocol: bool = True) -> list[UrlMatch]:
    """URLs as twitter-text's ``extractUrlsWithIndices`` finds them (code point indexes)."""
    if not text or ("." not in text if without_protocol else ":" not in text):
        return []
    if _DOT_THEN_TWO_RE.search(text) is None:  # what _url_matches looks for, but in C
        return []
    urls: list[UrlMatch] = []
    for m in _url_matches(text, not without_protocol):
        start, end = m.url_start, m.end
        url = text[start:end]
        protocol = text[start : m.domain_start]
        domain = text[m.domain_start : m.domain_end]
        if not _is_valid_url(url, protocol or "https://", domain):
            continue
        if not protocol:
            if not without_protocol or _NO_PROTOCOL_BAD_BEFORE.search(text[m.start : start]):
                continue
            last: UrlMatch | None = None
            for a, b in _ascii_domains(domain):
                last = UrlMatch(start + a, start + b, domain[a:b], False)
                urls.append(last)
            if last is None:
                continue
            if m.path_start >= 0:
                # The last ASCII domain carries the path and query.
                urls[-1] = UrlMatch(last.start, end, text[last.start : end], False)
        else:
            tco = _TCO_RE.match(url)
            if tco:
                if len(tco.group(1)) > _MAX_TCO_SLUG_LENGTH:
                    continue
                url = tco.group()
                end = start + len(url)
            urls.append(UrlMatch(start, end, url, True))
    return urls
