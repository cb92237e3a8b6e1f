"""Each network's length rule on the cases that trip naive counters."""

from __future__ import annotations

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.adapters.mastodon import mastodon_length
from publisher.text import (
    code_points,
    grapheme_length,
    unicode_tables,
    x_weighted_length,
)
from tests.text.rules import DECLARED as RULES
from tests.text.rules import mastodon_adapter

THUMBS_MEDIUM = "\U0001f44d\U0001f3fd"  # thumbs up + skin tone: 2 code points
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # 7 code points
RAINBOW_FLAG = "\U0001f3f3\ufe0f\u200d\U0001f308"  # 4 code points
FLAG_FR = "\U0001f1eb\U0001f1f7"  # 2 regional indicators
FLAG_ENGLAND = "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"  # 7
KEYCAP_ONE = "1\ufe0f\u20e3"  # 3 code points
HEART = "\u2764\ufe0f"  # text-default pictograph + VS16
E_ACUTE_DECOMPOSED = "e\u0301"  # NFC makes it one code point
URL = "https://example.com/a/rather/long/path/that/goes/on?and=on&and=on"  # 65 characters

ROWS: list[tuple[str, str, int, int, int, int]] = [
    # (name, text, X weighted, graphemes, Mastodon (url 23), code points)
    ("ascii", "hello world", 11, 11, 11, 11),
    ("empty", "", 0, 0, 0, 0),
    ("emoji", "\U0001f600", 2, 1, 1, 1),
    ("skin tone", THUMBS_MEDIUM, 2, 1, 2, 2),
    ("zwj family", FAMILY, 2, 1, 7, 7),
    ("zwj flag", RAINBOW_FLAG, 2, 1, 4, 4),
    ("flag", FLAG_FR, 2, 1, 2, 2),
    ("subdivision flag", FLAG_ENGLAND, 2, 1, 7, 7),
    ("keycap", KEYCAP_ONE, 2, 1, 3, 3),
    ("keycap without VS16", "1\u20e3", 2, 1, 2, 2),
    ("heart with VS16", HEART, 2, 1, 2, 2),
    ("copyright without VS16 is text", "\u00a9", 1, 1, 1, 1),
    ("copyright with VS16 is emoji", "\u00a9\ufe0f", 2, 1, 2, 2),
    ("two emoji", "\U0001f600\U0001f600", 4, 2, 2, 2),
    ("cjk", "日本語", 6, 3, 3, 3),
    ("hangul", "한국어", 6, 3, 3, 3),
    ("cjk punctuation", "。", 2, 1, 1, 1),
    ("latin-1", "café", 4, 4, 4, 4),
    ("combining mark, NFC on X", E_ACUTE_DECOMPOSED, 1, 1, 2, 2),
    ("combining marks without precomposed form", "q\u0307\u0323", 3, 1, 3, 3),
    ("devanagari conjunct (Unicode 15.1)", "क्षि", 4, 1, 4, 4),
    ("general punctuation is light", "\u2014\u2018\u2019", 3, 3, 3, 3),
    ("url", URL, 23, 65, 23, 65),
    ("url in text", f"see {URL} now", 31, 73, 31, 73),
    ("bare domain", "example.com", 23, 11, 11, 11),
    ("long bare domain", "a-really-long-domain-name-here.com", 23, 34, 34, 34),
    ("two urls", "http://a.co http://b.co", 47, 23, 47, 23),
    ("fediverse mention", "hi @alice@mastodon.social", 25, 25, 9, 25),
    ("local mention", "hi @alice", 9, 9, 9, 9),
    ("bluesky handle", "hi @alice.bsky.social", 21, 21, 21, 21),
    ("email is not a mention", "a@b.example.com", 15, 15, 15, 15),
    ("crlf", "a\r\nb", 4, 3, 4, 4),
]


@pytest.mark.parametrize(
    ("text", "x", "graphemes", "mastodon", "chars"),
    [pytest.param(*row[1:], id=row[0]) for row in ROWS],
)
def test_lengths(text: str, x: int, graphemes: int, mastodon: int, chars: int) -> None:
    assert x_weighted_length(text) == x
    assert grapheme_length(text) == graphemes
    assert mastodon_length(text) == mastodon
    assert code_points(text) == chars
    assert RULES["x"].count(text) == x
    assert RULES["bluesky"].count(text) == graphemes
    assert RULES["log"].count(text) == graphemes
    assert RULES["mastodon"].count(text) == mastodon
    assert RULES["facebook"].count(text) == chars
    assert RULES["linkedin"].count(text) == chars


def test_mastodon_url_length_is_the_instance_setting() -> None:
    text = f"read {URL}"
    assert mastodon_length(text, url_length=30) == 5 + 30
    assert mastodon_adapter(url_length=30).capabilities().length.count(text) == 35
    # A bare domain is not shortened by Mastodon; it counts as written.
    assert mastodon_length("read example.com", url_length=30) == 16


def test_mastodon_mention_with_domain_counts_as_local() -> None:
    assert mastodon_length("@alice@mastodon.social") == len("@alice")
    assert mastodon_length("@alice@mastodon.social @bob@example.org!") == len("@alice @bob!")
    # Not a mention: an email address, or a domain glued to more letters.
    assert mastodon_length("alice@mastodon.social") == 21


def test_x_full_tweet_boundary() -> None:
    assert x_weighted_length("a" * 280) == 280
    assert x_weighted_length("日" * 140) == 280
    assert x_weighted_length("\U0001f600" * 140) == 280
    assert x_weighted_length("x " * 10 + URL) == 43


@pytest.mark.parametrize("name", list(unicode_tables.PROPERTIES))
def test_unicode_tables_match_the_regex_module(name: str) -> None:
    """The precomputed tables must agree with the installed regex module's Unicode data;
    if not, regenerate them with ``publisher.text.unicode_tables.regenerate()``."""
    prop = unicode_tables.PROPERTIES[name]
    assert getattr(unicode_tables, name) == unicode_tables.compute_ranges(prop)


GRAPHEME_ALPHABET = [
    *"ab \n\r1#",
    "\u0301",  # combining acute
    "\u200d",  # ZWJ
    "\ufe0f",  # VS16
    "\u20e3",  # keycap
    "\U0001f468",
    "\U0001f469",
    "\U0001f3fd",  # skin tone
    "\U0001f1eb",  # regional indicators
    "\U0001f1f7",
    "\U0001f3f4",
    "\U000e0067",  # tag
    "\U000e007f",  # cancel tag
    *"क्षि",  # Devanagari with virama (Indic conjuncts)
    "\u1100",  # Hangul L, V, T jamo and LV / LVT syllables
    "\u1161",
    "\u11a8",
    "가",
    "각",
    "\u0600",  # Arabic number sign (Prepend)
    "\u0e33",  # Thai sara am (SpacingMark)
    "日",
    "\U000110bd",  # Kaithi number sign (astral Prepend)
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(GRAPHEME_ALPHABET), max_size=30).map("".join))
def test_grapheme_length_agrees_with_full_segmentation(text: str) -> None:
    """grapheme_length segments only the zones that can join; it must equal plain \\X."""
    assert grapheme_length(text) == len(regex.findall(r"\X", text))
