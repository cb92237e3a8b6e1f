"""The duration rules as tables: every unit's multiplier, every boundary (issue 22).

Each row kills mutants of ``publisher/durations.py`` that the config tests let through: a unit
multiplied wrong, ``>`` for ``>=`` at a unit's size or at ``MAX_DURATION``, the sign of a
negative duration, the cut of a long text quoted in an error.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from publisher.durations import MAX_DURATION, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1ms", 0.001),
        ("250ms", 0.25),
        ("1s", 1),
        ("90s", 90),
        ("1m", 60),
        ("30m", 1800),
        ("1h", 3600),
        ("2h", 7200),
        ("1d", 86400),
        ("7d", 604800),
        ("1w", 604800),
        ("2w", 1209600),
        ("1.5h", 5400),
        ("1h30m", 5400),  # parts add up
        ("1d2h3m4s", 93784),
        ("1h 30m", 5400),  # spaces between parts
        ("  2H  ", 7200),  # around it, and any case
        ("3650d", 3650 * 86400),  # MAX_DURATION itself is allowed
    ],
)
def test_parse_duration_units(text: str, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "   ", "abc", "10", "5x", "x1h", "h5", "1h x", "1h-30m"])
def test_parse_duration_refuses_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_duration(text)
    assert str(err.value) == f"{text!r} is not a duration (examples: 90s, 30m, 2h, 1h30m, 7d)"


def test_parse_duration_refuses_more_than_the_maximum() -> None:
    assert timedelta(days=3650) == MAX_DURATION
    with pytest.raises(ValueError) as err:
        parse_duration("3650d1s")
    assert str(err.value) == "'3650d1s' is too long (at most 3650d)"
    with pytest.raises(ValueError, match="too long"):
        parse_duration("9" * 400 + "w")  # overflows to inf


@pytest.mark.parametrize(
    ("length", "shown"),
    [
        (40, repr("y" * 40)),  # up to 40 characters: quoted whole
        (41, repr("y" * 40 + "…")),  # longer: the first 40 and an ellipsis
    ],
)
def test_a_long_text_is_cut_in_the_message(length: int, shown: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_duration("y" * length)
    assert str(err.value).startswith(f"{shown} is not a duration")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.5, "0s"),  # below a second
        (1, "1s"),
        (59, "59s"),
        (60, "1m"),  # a unit's size is that unit (>=, not >)
        (61, "1m1s"),
        (3599, "59m59s"),
        (3600, "1h"),
        (5400, "1h30m"),
        (86399, "23h59m59s"),
        (86400, "1d"),
        (90061, "1d1h1m1s"),
        (3650 * 86400, "3650d"),
        (-90, "-1m30s"),
        (-1, "-1s"),
    ],
)
def test_format_duration_units(seconds: float, text: str) -> None:
    assert format_duration(timedelta(seconds=seconds)) == text


@pytest.mark.parametrize("text", ["1m30s", "30m", "2h", "1h30m", "7d", "1d1h1m1s"])
def test_format_reads_back(text: str) -> None:
    assert format_duration(parse_duration(text)) == text
