"""Item 2 of issue 19: the faster text scans find exactly what the plain ones find.

URL detection must stay exactly twitter-text's (X counts what it detects) and X counts the NFC
form, so both are checked against the straightforward computation on random texts short
enough for it (``tests/text/test_twitter_conformance.py`` runs X's own suite as well).
"""

from __future__ import annotations

import re
import unicodedata

from hypothesis import example, given, settings
from hypothesis import strategies as st

from publisher.text import unicode_tables
from publisher.text.normalize import nfc
from publisher.text.urls import (
    _LATIN_ACCENTS,
    _PUNYCODE,
    _TLD,
    URL_PATTERN,
    _ascii_domains,
    _url_matches,
)

URL_ALPHABET = [
    "a",
    "b",
    "x",
    "h",
    "http://",
    "https://",
    "HTTPS://",
    "httpſ://",
    "xn--",
    "xn--p1ai",
    ".",
    "-",
    "_",
    "/",
    "?",
    "#",
    "@",
    "$",
    ":",
    "80",
    "(",
    ")",
    "!",
    "'",
    "com",
    "co",
    "jp",
    "рф",
    "中国",
    "日",
    "é",
    "\u0301",
    " ",
    "\u200f",
    "ＣＯＭ",
    "K",
    "İ",
    "t.co/",
    "~",
    "&",
    "=",
    "\ufeff",
    "–",
    "＠",
    "😀",
    "\n",
    "a.b.c.d.e.f.g",
    "%",
    "[",
    "]",
    "|",
    "\x01",
]
REFERENCE = re.compile(URL_PATTERN, re.IGNORECASE)


short_texts = st.lists(st.sampled_from(URL_ALPHABET), max_size=40).map("".join)
# Long chains of labels, where the scan's memo and jumps matter.
long_texts = (
    st.integers(40, 200)
    .flatmap(lambda n: st.lists(st.sampled_from(URL_ALPHABET[:20]), min_size=n, max_size=n))
    .map("".join)
)


@settings(max_examples=1000, deadline=None)
@given(st.one_of(short_texts, short_texts, short_texts, long_texts))
def test_item2_url_scan_finds_exactly_what_the_plain_expression_finds(text: str) -> None:
    """The linear scan against twitter-text's expression run plainly (quadratic, but these
    texts are short): the same matches, groups and all."""
    expected = [
        (m.start(), m.start("url"), m.start("domain"), m.end("domain"), m.start("path"), m.end())
        for m in REFERENCE.finditer(text)
    ]
    got = [
        (m.start, m.url_start, m.domain_start, m.domain_end, m.path_start, m.end)
        for m in _url_matches(text, False)
    ]
    assert got == expected


# twitter-text's validAsciiDomain as written (labels may backtrack), for reference.
ASCII_DOMAIN = re.compile(
    f"(?:(?:[\\-a-z0-9{_LATIN_ACCENTS}]+)\\.)+(?:{_TLD}|{_PUNYCODE})", re.IGNORECASE
)
LABELS = ["a", "b1", "-", "é", "日", "co", "com", "jp", "xn--p1ai", "рф", "K", "a-b", "x" * 70]


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 150)
    .flatmap(lambda n: st.lists(st.sampled_from(LABELS), min_size=n, max_size=n))
    .map(".".join)
)
@example("a." * 200 + "com")
@example("a." * 150 + "日.b1." * 30 + "co.jp-")
def test_item2_ascii_domains_found_as_the_plain_expression_finds_them(domain: str) -> None:
    """Long domains (over 256 characters) go through the memoised walk, short ones through
    the expression with its labels taken whole: both as the plain expression."""
    expected = [m.span() for m in ASCII_DOMAIN.finditer(domain)]
    assert list(_ascii_domains(domain)) == expected


MARKS = ["a", "e", " ", "é", "\u0301", "\u0316", "\u0300", "\u0327", "\u0345", "\u0344"]
MARKS += ["\u0f71", "\u0f72", "\u0f73", "\u0f75", "\u0f81", "\u05b4", "\u0591", "\u093c"]
MARKS += ["\u1100", "\u1161", "\u11a8", "\u0b47", "\u0b3e", "\u212b", "Å"]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(MARKS), st.integers(1, 80)).map(lambda t: t[0] * t[1]),
        max_size=30,
    ).map("".join)
)
def test_item2_nfc_is_unicodedata_nfc(text: str) -> None:
    """Long runs of marks (reordered here before CPython composes) give exactly NFC."""
    assert nfc(text) == unicodedata.normalize("NFC", text)


def test_item2_non_starter_table_matches_unicodedata() -> None:
    """The table must agree with the installed ``unicodedata``; if not, regenerate it with
    ``publisher.text.unicode_tables.regenerate()``."""
    assert unicode_tables.non_starter_ranges() == unicode_tables.NON_STARTERS
