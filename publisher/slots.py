"""Buffer-style posting slots: "mon-fri 09:00", "sat,sun 10:30", "daily 12:00", "09:00"."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SLOT = re.compile(r"^(?:(?P<days>[a-z,\-]+)\s+)?(?P<h>\d{1,2}):(?P<m>\d{2})$")


@dataclass(frozen=True, order=True)
class Slot:
    """A weekly recurring local time; ``days`` holds ISO weekday indexes, Monday = 0."""

    at: time
    days: frozenset[int]

    def __str__(self) -> str:
        days = ",".join(DAYS[d] for d in sorted(self.days))
        return f"{days} {self.at:%H:%M}"


FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _day(name: str, text: str) -> int:
    """A day's index from its three letters or its full name; anything else is refused (a
    prefix match took "monkey" for Monday and "mon-wed-fri" for "mon-wed")."""
    if name in DAYS:
        return DAYS.index(name)
    if name in FULL_DAYS:
        return FULL_DAYS.index(name)
    raise ValueError(f"{text!r}: unknown day {name!r} (use mon..sun)")


def parse_slot(text: str) -> Slot:
    m = _SLOT.match(text.strip().lower())
    if m is None:
        raise ValueError(f'{text!r} is not a slot (examples: "mon-fri 09:00", "daily 12:30")')
    hour, minute = int(m.group("h")), int(m.group("m"))
    if hour > 23 or minute > 59:
        raise ValueError(f"{text!r}: {hour:02d}:{minute:02d} is not a time of day")
    spec = m.group("days") or "daily"
    days: set[int] = set()
    for chunk in spec.split(","):
        if chunk in ("daily", "everyday", "all"):
            days.update(range(7))
        elif chunk in ("weekdays",):
            days.update(range(5))
        elif chunk in ("weekends", "weekend"):
            days.update((5, 6))
        elif "-" in chunk:
            a, b = (_day(x, text) for x in chunk.split("-", 1))
            d = a
            while True:
                days.add(d)
                if d == b:
                    break
                d = (d + 1) % 7
        else:
            days.add(_day(chunk, text))
    return Slot(time(hour, minute), frozenset(days))
