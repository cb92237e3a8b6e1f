"""The text layer's counting rules at their edges (issue 22), through the public functions:
X's weight ranges code point by code point, where X's valid range ends, Mastodon's URL and
mention rules, and the types twitter-text reports."""

from __future__ import annotations

import pytest

from publisher.adapters.mastodon import mastodon_length
from publisher.text import x_parse, x_weighted_length


# X weighs a code point 1 inside these ranges (config-v3), 2 outside: each edge, both sides.
@pytest.mark.parametrize(
    ("cp", "weight"),
    [
        (0x0041, 1),
        (0x10FF, 1),  # 4351: the end of the first range
        (0x1100, 2),
        (0x1FFF, 2),
        (0x2000, 1),  # 8192
        (0x200D, 1),  # 8205
        (0x200E, 2),
        (0x200F, 2),
        (0x2010, 1),  # 8208
        (0x201F, 1),  # 8223
        (0x2020, 2),
        (0x2031, 2),
        (0x2032, 1),  # 8242
        (0x2037, 1),  # 8247
        (0x2038, 2),
        (0x4E2D, 2),  # 中
    ],
)
def test_x_weight_ranges_where_the_limit_falls(cp: int, weight: int) -> None:
    """279 light characters, then the one tested, then one more: the valid range ends on the
    tested one if it weighs 1 (280 in all), before it if it weighs 2."""
    text = "a" * 279 + chr(cp) + "b"
    got = x_parse(text)
    assert got.valid_range_end == (279 if weight == 1 else 278)
    assert got.valid is False
    assert x_weighted_length("a" + chr(cp)) == 1 + weight


def test_x_parse_ranges_are_integers_in_utf16_units() -> None:
    got = x_parse("añ😀b")  # 😀 is two UTF-16 units
    assert (got.display_range_end, got.valid_range_end) == (4, 4)
    assert type(got.display_range_end) is int and type(got.valid_range_end) is int
    over = x_parse("ñ" * 281)
    assert over.valid_range_end == 279 and type(over.valid_range_end) is int


@pytest.mark.parametrize(
    ("text", "valid_end", "valid"),
    [
        ("\ufffeabc", 0, False),  # invalid from the first character: nothing is valid
        ("ab\uffffcd", 1, False),  # valid up to the invalid one
        ("X" * 281, 279, False),  # an ordinary letter is never invalid, over the limit too
        ("X" * 280, 279, True),
        ("", 0, False),
    ],
)
def test_x_valid_range(text: str, valid_end: int, valid: bool) -> None:
    got = x_parse(text)
    assert (got.valid_range_end, got.valid) == (valid_end, valid)


@pytest.mark.parametrize(
    ("text", "url_length", "length"),
    [
        ("no dot here", 23, 11),
        ("see https://example.com/a/long/path ok", 23, 4 + 23 + 3),
        ("see https://example.com/a/long/path ok", 30, 4 + 30 + 3),
        ("bare example.com counts as written", 23, 34),
        ("hi @alice@example.social and @bob", 23, len("hi @alice and @bob")),
        ("@alice@example.social", 23, 6),
        ("https://example.social/@alice@other.social", 23, 23),  # a mention inside a URL
        ("a.b", 23, 3),
        # a mention without a domain does not stop the sweep: the next one still counts short
        ("@bob and @eve@d.social", 23, len("@bob and @eve")),
    ],
)
def test_mastodon_length(text: str, url_length: int, length: int) -> None:
    assert mastodon_length(text, url_length) == length


@pytest.mark.parametrize(
    ("text", "weighted", "valid", "display_end"),
    [
        ("", 0, False, 0),  # nothing: no display range below 0
        ("a", 1, True, 0),  # one light character is a valid post
        ("中", 2, True, 0),
        ("ab", 2, True, 1),
    ],
)
def test_x_parse_small_texts(text: str, weighted: int, valid: bool, display_end: int) -> None:
    got = x_parse(text)
    assert (got.weighted_length, got.valid, got.display_range_end) == (weighted, valid, display_end)
    assert type(got.weighted_length) is int
