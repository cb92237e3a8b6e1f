"""The slot syntax as a table: every day word, ranges that wrap around the week, full day
names, the bounds of a time of day, and the messages of what is refused (issue 22)."""

from __future__ import annotations

from datetime import time

import pytest

from publisher.slots import DAYS, Slot, parse_slot

WEEK = frozenset(range(7))


@pytest.mark.parametrize(
    ("text", "at", "days"),
    [
        ("mon-fri 09:00", time(9, 0), {0, 1, 2, 3, 4}),
        ("sat,sun 10:30", time(10, 30), {5, 6}),
        ("daily 12:00", time(12, 0), WEEK),
        ("everyday 12:00", time(12, 0), WEEK),
        ("all 12:00", time(12, 0), WEEK),
        ("09:00", time(9, 0), WEEK),  # no days: every day
        ("weekdays 07:15", time(7, 15), {0, 1, 2, 3, 4}),
        ("weekends 07:15", time(7, 15), {5, 6}),
        ("weekend 07:15", time(7, 15), {5, 6}),
        ("mon 08:00", time(8, 0), {0}),
        ("sun 08:00", time(8, 0), {6}),
        ("tue,thu 08:00", time(8, 0), {1, 3}),
        ("mon-mon 08:00", time(8, 0), {0}),
        ("mon-sun 08:00", time(8, 0), WEEK),
        # ranges wrap around the end of the week
        ("sat-mon 10:00", time(10, 0), {5, 6, 0}),
        ("fri-tue 10:00", time(10, 0), {4, 5, 6, 0, 1}),
        ("sun-sat 10:00", time(10, 0), WEEK),
        ("tue-mon 10:00", time(10, 0), WEEK),
        # full day names, any case, spaces around
        ("monday-friday 09:00", time(9, 0), {0, 1, 2, 3, 4}),
        ("Saturday 10:00", time(10, 0), {5}),
        ("wednesday,sunday 9:00", time(9, 0), {2, 6}),
        ("  MON-WED   9:05  ", time(9, 5), {0, 1, 2}),
        ("weekdays,sat 06:00", time(6, 0), {0, 1, 2, 3, 4, 5}),
        # the bounds of a time of day
        ("00:00", time(0, 0), WEEK),
        ("23:59", time(23, 59), WEEK),
        ("7:00", time(7, 0), WEEK),
    ],
)
def test_parse_slot(text: str, at: time, days: set[int]) -> None:
    assert parse_slot(text) == Slot(at, frozenset(days))


@pytest.mark.parametrize("text", ["24:00", "23:60", "99:99"])
def test_not_a_time_of_day(text: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_slot(text)
    hour, minute = (int(x) for x in text.split(":"))
    assert str(err.value) == f"{text!r}: {hour:02d}:{minute:02d} is not a time of day"


@pytest.mark.parametrize(
    "text", ["", "9", "9:5", "123:00", "mon09:00", "mon 09:00 x", "mon/tue 9:00"]
)
def test_not_a_slot(text: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_slot(text)
    assert str(err.value) == (f'{text!r} is not a slot (examples: "mon-fri 09:00", "daily 12:30")')


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("funday 09:00", "funday"),
        ("mon,xyz 09:00", "xyz"),
        ("mon-xyz 09:00", "xyz"),
        ("abc-fri 09:00", "abc"),
        ("mo 09:00", "mo"),
        # only a day's three letters or its full name (a prefix match took these for days)
        ("monkey 09:00", "monkey"),
        ("sund 09:00", "sund"),
        ("mon-wed-fri 09:00", "wed-fri"),
        ("fri-mon-tue 09:00", "mon-tue"),
    ],
)
def test_unknown_day(text: str, day: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_slot(text)
    assert str(err.value) == f"{text!r}: unknown day {day!r} (use mon..sun)"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("mon-fri 09:00", "mon,tue,wed,thu,fri 09:00"),
        ("sat-mon 7:05", "mon,sat,sun 07:05"),
        ("daily 23:59", "mon,tue,wed,thu,fri,sat,sun 23:59"),
    ],
)
def test_slot_str(text: str, shown: str) -> None:
    assert str(parse_slot(text)) == shown
    assert parse_slot(shown) == parse_slot(text)


def test_days_are_iso_weekday_order() -> None:
    assert DAYS == ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    full_days = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    for i, (short, full) in enumerate(zip(DAYS, full_days, strict=True)):
        assert parse_slot(f"{short} 09:00").days == {i} == parse_slot(f"{full} 09:00").days
