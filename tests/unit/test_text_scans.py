"""The fast text scans against their plain definitions on a fixed corpus (issue 22).

``tests/text/test_item2_exactness.py`` checks the same on random texts (thousands of them, a
minute or more); this corpus is fixed and small enough to run for every mutant, so a wrong
bound in the URL scan, the long-domain walk or NFC's long runs of marks is caught in seconds.
"""

from __future__ import annotations

import random
import unicodedata

import pytest

from publisher.text import unicode_tables
from publisher.text.normalize import nfc
from publisher.text.urls import _ascii_domains, _url_matches
from tests.text.test_item2_exactness import ASCII_DOMAIN, LABELS, MARKS, REFERENCE, URL_ALPHABET


def corpus(seed: int, alphabet: list[str], n: int, low: int, high: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(low, high))) for _ in range(n)]


URL_TEXTS = [
    "see https://example.com/a?b=c#d now",
    "http://a.b.c.d.e.f.g.com:80/x_(y) and t.co/abc",
    "xn--p1ai.рф and example.中国 and пример.рф/путь",
    "www.com.co.jp/?q=1&r=2 (http://example.org/!) 'https://x.io'",
    "a." * 140 + "com",
    "a." * 140 + "日.b1." * 10 + "co.jp-",
    "https://" + "x" * 70 + ".com and https://" + "a-b." * 80 + "com/",
    # underscores: a domain name may not hold one, a subdomain may; the scan skips ahead
    "a_b.com x_y_z.example.com foo_bar.co.jp _a.com a_.com ab_cd_ef.gh.com/x",
    "http://a_b.com https://x_y.b.com zzz_abc.com a_b_c.d_e.com",
    "xhttps://a.com ahttp://b.com ab:https://c.com abc_http://d.com",
    "a_b" * 30 + ".com and " + "ab_" * 30 + "cd.co.jp",
    "t_.co/x _.com __a.com a__b.com",
    *corpus(22, URL_ALPHABET, 150, 0, 40),
    *corpus(23, URL_ALPHABET[:20], 12, 40, 200),
]


@pytest.mark.parametrize("text", URL_TEXTS)
def test_url_scan_finds_what_the_plain_expression_finds(text: str) -> None:
    expected = [
        (m.start(), m.start("url"), m.start("domain"), m.end("domain"), m.start("path"), m.end())
        for m in REFERENCE.finditer(text)
    ]
    got = [
        (m.start, m.url_start, m.domain_start, m.domain_end, m.path_start, m.end)
        for m in _url_matches(text, False)
    ]
    assert got == expected


DOMAINS = [
    "a." * 200 + "com",
    "a." * 150 + "日.b1." * 30 + "co.jp-",
    ".".join(["x" * 70] * 5) + ".com",
    "b1.-.a-b.com",
    *(
        ".".join(random.Random(seed).choice(LABELS) for _ in range(n))
        for seed, n in enumerate([1, 2, 3, 5, 8, 13, 40, 60, 90, 120, 150] * 3)
    ),
]


@pytest.mark.parametrize("domain", DOMAINS)
def test_ascii_domains_found_as_the_plain_expression_finds_them(domain: str) -> None:
    assert list(_ascii_domains(domain)) == [m.span() for m in ASCII_DOMAIN.finditer(domain)]


MARK_TEXTS = [
    "e" + "\u0301" * 40,
    "a" + "\u0316\u0301" * 20 + "b",
    "\u1100\u1161\u11a8" + "\u0300" * 35,
    "Å" + "\u0327\u0300" * 18 + " x",
    "\u0f71\u0f72" * 20,
    *corpus(5, MARKS, 40, 30, 80),
]


@pytest.mark.parametrize("text", MARK_TEXTS)
def test_nfc_is_unicodedata_nfc(text: str) -> None:
    assert nfc(text) == unicodedata.normalize("NFC", text)


def test_non_starter_table_is_unicodedatas() -> None:
    ranges = unicode_tables.non_starter_ranges()
    assert ranges == unicode_tables.NON_STARTERS
    inside = {cp for lo, hi in ranges for cp in range(lo, hi + 1)}
    # marks, and U+0344 and U+0F73 whose decompositions are all marks; never a letter
    assert {0x0300, 0x0301, 0x0344, 0x0345, 0x093C, 0x05B4, 0x0F73} <= inside
    assert not {0x0041, 0x00E9, 0x1161, 0x0B3E} & inside


def test_char_class_joins_ranges() -> None:
    assert unicode_tables.char_class(((0x41, 0x43), (0x2D, 0x2D))) == (
        "\\U00000041-\\U00000043\\U0000002d"
    )
    assert unicode_tables.char_class(((0x5D, 0x5D),), ((0x30, 0x31),)) == (
        "\\U0000005d\\U00000030-\\U00000031"
    )


# --- the TLD trie (built once, at import: its own test)


@pytest.mark.parametrize(
    "words",
    [["com"], ["co", "com", "org"], ["a", "ab", "abc", "b"], ["x-y", "x.y", "日本"]],
)
def test_trie_pattern_matches_exactly_its_words(words: list[str]) -> None:
    import re

    from publisher.text.urls import _trie_pattern

    pattern = re.compile(f"(?:{_trie_pattern(words)})$")
    for w in words:
        assert pattern.match(w), w
    for other in ["", "c", "cm", "comm", "or", "ac", "abcd", "x", "xy", "日"]:
        if other not in words:
            assert pattern.match(other) is None, other


# --- long domains: a label followed by a TLD, at the edges of the walk


@pytest.mark.parametrize(
    "text",
    [
        "a.com",
        ".com",
        "-.com",
        "a-.com",
        "é.com",
        "日.com",
        "a.comx.com",
        "a.co.jp",
        "a.xn--p1ai",
        ("a." * 130) + "com",
        ("ab." * 90) + "-.com",
        ("ab." * 90) + "c-m",
        ("x" * 63 + ".") * 5 + "org",
        ("a." * 130) + "日.com",
    ],
)
def test_long_domain_walk_edges(text: str) -> None:
    assert list(_ascii_domains(text)) == [m.span() for m in ASCII_DOMAIN.finditer(text)]
    padded = "see " + text + " now"
    expected = [
        (m.start(), m.start("url"), m.start("domain"), m.end("domain"), m.start("path"), m.end())
        for m in REFERENCE.finditer(padded)
    ]
    got = [
        (m.start, m.url_start, m.domain_start, m.domain_end, m.path_start, m.end)
        for m in _url_matches(padded, False)
    ]
    assert got == expected


# --- entities


def test_entities_found_and_their_text() -> None:
    from publisher.text import find_entities

    text = "#123 #ok $ACME ＠alice and https://example.com/#frag @bob"
    got = [(e.kind, e.text) for e in find_entities(text)]
    assert got == [
        ("hashtag", "#ok"),
        ("cashtag", "$ACME"),
        ("mention", "＠alice"),
        ("url", "https://example.com/#frag"),
        ("mention", "@bob"),
    ]


@pytest.mark.parametrize(
    ("text", "length"),
    [
        # mentions inside URLs count as written (they are the URL's), the others as @user
        ("https://a.com/@x@y.com @bob@c.com", 23 + 1 + 4),
        ("@bob@c.com https://a.com/@x@y.com @eve@d.com", 4 + 1 + 23 + 1 + 4),
        ("https://a.com/x https://b.com/@x@y.com @z@w.com", 23 + 1 + 23 + 1 + 2),
        ("@a@b.com@c.com", 14),  # no mention: counted as written
        ("x.y @bob@c.com", 3 + 1 + 4),
    ],
)
def test_mastodon_mentions_and_urls_in_one_sweep(text: str, length: int) -> None:
    from publisher.adapters.mastodon import mastodon_length

    assert mastodon_length(text) == length
