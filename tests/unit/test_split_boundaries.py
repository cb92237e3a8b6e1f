"""Thread splitting at its boundaries, on exact examples (issue 22).

The rule is the log network's (grapheme clusters), its limit set per test with
``dataclasses.replace``: every example is measured through ``count_length`` and the parts
``split_thread`` returns, never through how a rule is spelled. Each test pins a rule the
property tests leave loose: where a part is cut when two cuts tie, the half-full threshold of a
paragraph, sentence or clause cut, Chinese and Japanese cut points, the numbering's room, and
the messages of a limit too small.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from publisher.adapters.base import AdapterContext
from publisher.adapters.log import LogAdapter, LogSettings
from publisher.clock import FakeClock
from publisher.text import LengthRule, split_thread
from publisher.text.graphemes import grapheme_boundaries, grapheme_length

_CONTEXT = AdapterContext(None, FakeClock(datetime(2026, 12, 2, 9, 0, tzinfo=UTC)))
_BASE = LogAdapter("brand", LogSettings(), _CONTEXT).capabilities().length
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # one cluster, 7 points


def count_length(text: str, rule: LengthRule) -> int:
    """A rule's count: the rule is a counting function and a limit."""
    return rule.count(text)


def rule(limit: int) -> LengthRule:
    return replace(_BASE, limit=limit)


def test_the_rule_counts_clusters() -> None:
    assert count_length(f"ab{FAMILY}", rule(10)) == 3


def split(text: str, limit: int, numbered: bool = False) -> list[str]:
    parts = split_thread(text, rule(limit), numbered=numbered)
    assert all(count_length(p, rule(limit)) <= limit for p in parts), parts
    return parts


# --- within and just past the limit


@pytest.mark.parametrize("numbered", [False, True])
def test_text_at_the_limit_is_one_unnumbered_part(numbered: bool) -> None:
    assert split("a" * 20, 20, numbered) == ["a" * 20]
    assert split("a b" * 5, 15, numbered) == ["a b" * 5]


def test_one_past_the_limit_is_two_parts() -> None:
    assert split("aaaa bbbb cccc ddddd", 19) == ["aaaa bbbb cccc", "ddddd"]


# --- which cut: preference, and the half-full threshold


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        # a paragraph break exactly half way (10 of 20) is taken
        ("aaaaaaaaaa\n\nbb bb bb bb bb bb", ["aaaaaaaaaa", "bb bb bb bb bb bb"]),
        # one character short of half: the part is filled with words instead
        ("aaaaaaaaa\n\nbb bb bb bb bb bb", ["aaaaaaaaa\n\nbb bb bb", "bb bb bb"]),
        # a sentence end, a line break, a clause: the same threshold
        ("aaaaaaaaa. bb bb bb bb bb bb", ["aaaaaaaaa.", "bb bb bb bb bb bb"]),
        ("aaaaaaaa. bb bb bb bb bb bb", ["aaaaaaaa. bb bb bb", "bb bb bb"]),
        ("aaaaaaaaaa\nbb bb bb bb bb bb", ["aaaaaaaaaa", "bb bb bb bb bb bb"]),
        ("aaaaaaaaa\nbb bb bb bb bb bb", ["aaaaaaaaa\nbb bb bb", "bb bb bb"]),
        ("aaaaaaaaa, bb bb bb bb bb bb", ["aaaaaaaaa,", "bb bb bb bb bb bb"]),
        ("aaaaaaaaa; bb bb bb bb bb bb", ["aaaaaaaaa;", "bb bb bb bb bb bb"]),
        ("aaaaaaaaa— bb bb bb bb bb bb", ["aaaaaaaaa—", "bb bb bb bb bb bb"]),
        ("aaaaaaaa, bb bb bb bb bb bb", ["aaaaaaaa, bb bb bb", "bb bb bb"]),
        # a sentence end with its closing quote or bracket, or an ellipsis
        ('aaaaaaaa." bb bb bb bb bb bb', ['aaaaaaaa."', "bb bb bb bb bb bb"]),
        ("aaaaaaaa!) bb bb bb bb bb bb", ["aaaaaaaa!)", "bb bb bb bb bb bb"]),
        ("aaaaaaaaa… bb bb bb bb bb bb", ["aaaaaaaaa…", "bb bb bb bb bb bb"]),
        # the best cut wins over a later lesser one
        ("aa aa. aa aaaaa, bb bb bb bb", ["aa aa. aa aaaaa,", "bb bb bb bb"]),
        ("aaa aaaaa.\n\naa, bb bb bb", ["aaa aaaaa.", "aa, bb bb bb"]),
    ],
)
def test_preferred_cuts(text: str, parts: list[str]) -> None:
    assert split(text, 20) == parts


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("abcdefghijklmnopqrstuvwxyz", ["abcdefghijklmnopqrst", "uvwxyz"]),
        (f"{FAMILY * 25}", [FAMILY * 20, FAMILY * 5]),  # never inside a cluster
        ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa bb", ["aaaaaaaaaaaaaaaaaaaa", "aaaaaaaaaa bb"]),
    ],
)
def test_a_word_longer_than_a_part_is_cut_between_clusters(text: str, parts: list[str]) -> None:
    assert split(text, 20) == parts


def test_no_break_space_is_no_cut() -> None:
    text = "aaaa\xa0bbbb\xa0cccc dddd eeee"
    assert split(text, 16) == ["aaaa\xa0bbbb\xa0cccc", "dddd eeee"]


def test_whitespace_at_the_cut_is_dropped() -> None:
    assert split("aaaa bbbb   \n  cccc dddd eeeee", 12) == ["aaaa bbbb", "cccc dddd", "eeeee"]
    assert split("   aaaa bbbb cccc dddd   ", 12) == ["aaaa bbbb", "cccc dddd"]


def test_a_url_a_mention_and_a_hashtag_stay_whole() -> None:
    text = "see https://example.com/abc and @someone and #tagging now"
    for limit in (24, 30):
        parts = split(text, limit)
        joined = " ".join(parts)
        for entity in ("https://example.com/abc", "@someone", "#tagging"):
            assert any(entity in p for p in parts), (limit, parts)
        assert joined.split() == text.split()


def test_an_entity_longer_than_a_part_is_cut_last() -> None:
    url = "https://example.com/" + "a" * 30
    assert split(f"go {url}", 20) == ["go", url[:20], url[20:40], url[40:]]


# --- Chinese and Japanese


@pytest.mark.parametrize(
    ("text", "limit", "parts"),
    [
        # no spaces: any place next to a Han or kana character is a word cut, so the part is
        # filled rather than cut at the last space
        ("hello 中文中文中文中文中文中文", 10, ["hello 中文中文", "中文中文中文中文"]),
        ("中文中文中文中文中文中文", 10, ["中文中文中文中文中文", "中文"]),
        ("abcdefghi中abcdefgh", 10, ["abcdefghi中", "abcdefgh"]),  # after it
        ("abcdefghij中abcdefgh", 10, ["abcdefghij", "中abcdefgh"]),  # before it
        # an ideographic full stop or exclamation ends a sentence, a comma a clause; taken
        # when the part is half full
        ("中文中文。中文中文中文中文", 10, ["中文中文。", "中文中文中文中文"]),
        ("中文中文中，中文中文中文中文", 10, ["中文中文中，", "中文中文中文中文"]),
        (
            "日本語です！」テストかなひらがなカタカナ",
            10,
            ["日本語です！」", "テストかなひらがなカ", "タカナ"],
        ),
        (
            "日本語で、テストかなひらがなカタカナ",
            10,
            ["日本語で、", "テストかなひらがなカ", "タカナ"],
        ),
    ],
)
def test_cjk_cut_points(text: str, limit: int, parts: list[str]) -> None:
    assert split(text, limit) == parts


# --- numbering


def test_numbered_parts_end_with_their_place_and_fit() -> None:
    text = " ".join(["word"] * 30)  # 149 characters
    parts = split(text, 30, numbered=True)
    n = len(parts)
    assert [p.rsplit(" ", 1)[1] for p in parts] == [f"({i}/{n})" for i in range(1, n + 1)]
    # each part is as full as it can be: one more word would not fit with its numbering
    for p in parts[:-1]:
        body = p.rsplit(" (", 1)[0]
        assert len(body + " word" + f" ({n}/{n})") > 30


def test_numbering_room_grows_with_the_count() -> None:
    """Ten parts or more need room for two digits in every part, the first ones too."""
    text = " ".join(["abcd"] * 60)  # 299 characters
    parts = split(text, 30, numbered=True)
    assert len(parts) >= 10
    assert parts[0].endswith(f" (1/{len(parts)})")
    # " (15/15)" leaves 22 for the text: four words (19) and never five (24)
    assert parts == [f"abcd abcd abcd abcd ({i}/15)" for i in range(1, 16)]


def test_nine_parts_keep_one_digit_of_room() -> None:
    text = " ".join(["abcd"] * 9)
    parts = split(text, 12, numbered=True)
    assert parts == [f"abcd ({i}/9)" for i in range(1, 10)]


def test_a_two_part_split_reserves_one_digit() -> None:
    parts = split("aaaa bbbb cccc dddd", 15, numbered=True)
    assert parts == ["aaaa bbbb (1/2)", "cccc dddd (2/2)"]


# --- limits too small


def test_a_limit_no_character_meets() -> None:
    with pytest.raises(ValueError) as err:
        split_thread("ab cd", rule(0), numbered=False)
    assert str(err.value) == (
        "the limit is too small: even one character (with the thread numbering) does not fit"
    )


def test_a_cluster_longer_than_the_limit() -> None:
    with pytest.raises(ValueError) as err:
        split_thread(f"{FAMILY} x", rule(0), numbered=False)
    assert str(err.value) == (
        "a single character (7 code points that display as one) is longer than the limit allows"
    )


def test_a_limit_too_small_for_the_numbering() -> None:
    with pytest.raises(ValueError) as err:
        split_thread("aaaa bbbb cccc", rule(6), numbered=True)
    assert "the limit is too small" in str(err.value)


def test_two_code_points_that_display_as_one() -> None:
    with pytest.raises(ValueError) as err:
        split_thread("e\u0301 x", rule(0), numbered=False)
    assert "(2 code points that display as one)" in str(err.value)


def test_grapheme_helpers() -> None:
    assert grapheme_length(f"a{FAMILY}e\u0301") == 3
    assert grapheme_boundaries(f"a{FAMILY}e\u0301") == [0, 1, 8, 10]
    assert grapheme_boundaries("") == [0]


# --- X's rule: a URL counts 23 however long it is


def x_rule(limit: int) -> LengthRule:
    from publisher.adapters.x import XAdapter, XSettings
    from publisher.secrets import Secret

    adapter = XAdapter("brand-x", XSettings(oauth2_token=Secret("T", "t")), _CONTEXT)
    return replace(adapter.capabilities().length, limit=limit)


LONG_URL = "https://" + "a" * 30 + ".com"  # 42 characters, 23 on X


def test_a_long_url_that_fits_whole_is_not_cut() -> None:
    """Its first 30 characters, no URL yet, do not fit; the whole URL does (23)."""
    text = "word " * 6 + LONG_URL
    assert split_thread(text, x_rule(30), numbered=False) == ["word " * 5 + "word", LONG_URL]
    whole = f"go {LONG_URL}/{'b' * 20} end"
    assert split_thread(whole, x_rule(30), numbered=False) == [whole]


def test_a_long_url_followed_by_more_text_is_not_cut() -> None:
    whole = f"go {LONG_URL}/{'b' * 20} end"
    assert split_thread(whole + " and more", x_rule(30), numbered=False) == [whole, "and more"]


def test_a_long_url_numbered() -> None:
    text = "word " * 6 + LONG_URL
    parts = split_thread(text, x_rule(30), numbered=True)
    # " (9/9)" leaves 24: "word https://…" (28) does not fit, the URL alone (23) does
    assert parts == ["word word word word word (1/3)", "word (2/3)", f"{LONG_URL} (3/3)"]


# --- combining marks after spaces: a cut never lands inside a cluster


@pytest.mark.parametrize(
    ("text", "limit", "parts"),
    [
        ("aaaa bbbb \u0301cccc dddd eeee", 10, ["aaaa bbbb", " \u0301cccc dddd", "eeee"]),
        ("aaaa  \u0301 bbbb cccc dddd", 10, ["aaaa  \u0301", "bbbb cccc", "dddd"]),
        ("a\u0301" * 6 + " bb", 5, ["a\u0301" * 5, "a\u0301 bb"]),
    ],
)
def test_clusters_that_start_with_a_space(text: str, limit: int, parts: list[str]) -> None:
    assert split(text, limit) == parts


def test_a_last_part_of_one_character() -> None:
    """The rest after the last cut is a single cluster: no cut left to look at."""
    assert split("aaaa b", 4) == ["aaaa", "b"]
    assert split(f"aaaa {FAMILY}", 4) == ["aaaa", FAMILY]


@pytest.mark.parametrize("text", ["a\r\nb", "\r\n\r\n", "é\r\nb", "a\r\n\u0301x", "x\u0301\u0301y"])
def test_grapheme_length_counts_a_crlf_once(text: str) -> None:
    import regex

    assert grapheme_length(text) == len(regex.findall(r"\X", text))


PATH_URL = "https://example.com/" + "a" * 90  # 110 characters, 23 on X


@pytest.mark.parametrize(
    ("text", "parts", "numbered"),
    [
        ("word " * 6 + PATH_URL, ["word " * 5 + "word", PATH_URL], None),
        ("word " * 6 + PATH_URL + " end", ["word " * 5 + "word", PATH_URL + " end"], None),
        (
            "word " * 6 + PATH_URL + "/" + "b" * 40,
            ["word " * 5 + "word", PATH_URL + "/" + "b" * 40],
            None,
        ),
        (
            "word " * 6 + PATH_URL,
            None,
            ["word word word word word (1/3)", "word (2/3)", f"{PATH_URL} (3/3)"],
        ),
        (
            "word " * 6 + PATH_URL + " end",
            None,
            ["word word word word word (1/4)", "word (2/4)", f"{PATH_URL} (3/4)", "end (4/4)"],
        ),
    ],
)
def test_a_url_far_longer_than_the_limit_stays_whole(
    text: str, parts: list[str] | None, numbered: list[str] | None
) -> None:
    """The rest is measured whole when the piece that fits stopped inside a URL: however long
    the URL is in characters, it counts 23, and is never cut."""
    if parts is not None:
        assert split_thread(text, x_rule(30), numbered=False) == parts
    if numbered is not None:
        assert split_thread(text, x_rule(30), numbered=True) == numbered


LONG_DOMAIN_URL = "https://" + "a" * 40 + ".com/" + "b" * 90  # its first 30 are no URL


def test_a_url_whose_start_is_no_url_stays_whole() -> None:
    """Cut inside its domain, the URL is plain text longer than the part: only measuring the
    rest with the URL's whole tail finds that the URL itself (23) fits."""
    text = "word " * 6 + LONG_DOMAIN_URL
    assert split_thread(text, x_rule(30), numbered=False) == ["word " * 5 + "word", LONG_DOMAIN_URL]
