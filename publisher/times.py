"""Times written by editors: local wall-clock times in the configured zone, or ISO 8601.

Everything that leaves this module is timezone-aware UTC. A local time that does not exist
(the clocks jumped over it) moves forward by the gap; a local time that happens twice takes
its first occurrence. Both come back with a warning, because an editor who wrote them most
likely did not know.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from publisher.limits import MAX_SHORT_CHARS, MAX_YEAR, MIN_YEAR

EXAMPLES = "e.g. 2026-12-01 09:00, 2026-12-01T09:00:00+01:00 or 2026-12-01T08:00Z"

_TIME = re.compile(
    r"""^(?P<date>\d{4}-\d{2}-\d{2})
        (?:[Tt\ ]\s*(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<f>\d{1,6}))?)?)?
        \s*(?P<tz>[Zz]|[+-]\d{2}(?::?\d{2})?)?$""",
    re.VERBOSE,
)


class TimeFormatError(ValueError):
    """Text that is not a time we accept; the message says what would be."""


class TimeOutOfRangeError(TimeFormatError):
    """A well-formed time whose year lies outside ``MIN_YEAR``..``MAX_YEAR``."""


@dataclass(frozen=True)
class ResolvedTime:
    at: datetime  # aware, UTC
    warning: str | None = None  # set when a local time fell in a DST gap or overlap


def _offset_text(dt: datetime) -> str:
    off = dt.utcoffset() or timedelta(0)
    sign = "-" if off < timedelta(0) else "+"
    minutes = abs(int(off.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def localize(naive: datetime, zone: ZoneInfo) -> ResolvedTime:
    """Give a wall-clock time in ``zone`` its instant; gaps move forward, overlaps take fold 0."""
    if naive.tzinfo is not None:
        return ResolvedTime(naive.astimezone(UTC))
    first = naive.replace(tzinfo=zone, fold=0)
    instant = first.astimezone(UTC)
    back = instant.astimezone(zone)
    if back.replace(tzinfo=None) != naive.replace(fold=0):
        # PEP 495: in a gap, fold=0 uses the offset from before the jump, which lands the
        # instant as far after the jump as the written time was after its start.
        return ResolvedTime(
            instant,
            f"{naive:%Y-%m-%d %H:%M} does not exist in {zone.key} (the clocks jump forward); "
            f"using {back:%H:%M} ({_offset_text(back)})",
        )
    second = naive.replace(tzinfo=zone, fold=1)
    if first.utcoffset() != second.utcoffset():
        return ResolvedTime(
            instant,
            f"{naive:%Y-%m-%d %H:%M} happens twice in {zone.key} (the clocks go back); "
            f"using the first, {naive:%H:%M} ({_offset_text(first)})",
        )
    return ResolvedTime(instant)


def _check_year(when: datetime, text: str) -> None:
    """Years 1 and 9999 overflow once an offset or a zone moves them; years far from now are
    mistakes anyway. Checked on the written date, before any conversion."""
    if not MIN_YEAR <= when.year <= MAX_YEAR:
        raise TimeOutOfRangeError(f"{text}: the year must be between {MIN_YEAR} and {MAX_YEAR}")


def parse_time(value: object, zone: ZoneInfo) -> ResolvedTime:
    """Parse what an editor wrote for ``at``/``not_after``; naive values are local to ``zone``.

    Accepts text and, for callers whose YAML loader resolves timestamps, ``datetime`` values:
    both forms mean the same thing. A bare date is refused rather than guessed at midnight.
    Years outside ``MIN_YEAR``..``MAX_YEAR`` are refused: what leaves here is always an
    instant the rest of the program can add a day or a lateness to.
    """
    if isinstance(value, datetime):
        _check_year(value, repr(value.isoformat()))
        return localize(value, zone)
    if isinstance(value, date):
        raise TimeFormatError(f"{value.isoformat()} has no time of day ({EXAMPLES})")
    if not isinstance(value, str):
        raise TimeFormatError(f"expected a date and time as text ({EXAMPLES})")
    text = value.strip()
    if len(text) > MAX_SHORT_CHARS:
        raise TimeFormatError(f"{len(text):,} characters is not a date and time ({EXAMPLES})")
    m = _TIME.match(text)
    if m is None:
        raise TimeFormatError(f"{text!r} is not a date and time ({EXAMPLES})")
    if m.group("h") is None:
        raise TimeFormatError(f"{text!r} has no time of day ({EXAMPLES})")
    try:
        y, mo, d = (int(x) for x in m.group("date").split("-"))
        frac = m.group("f") or ""
        naive = datetime(  # noqa: DTZ001 - a wall-clock time; localize() gives it a zone
            y,
            mo,
            d,
            int(m.group("h")),
            int(m.group("m")),
            int(m.group("s") or 0),
            int(frac.ljust(6, "0")) if frac else 0,
        )
    except ValueError as err:
        raise TimeFormatError(f"{text!r} is not a valid date and time: {err}") from None
    _check_year(naive, repr(text))
    tz = m.group("tz")
    if tz is None:
        return localize(naive, zone)
    if tz in ("Z", "z"):
        return ResolvedTime(naive.replace(tzinfo=UTC))
    digits = tz[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 23 or minutes > 59:
        raise TimeFormatError(f"{text!r}: {tz} is not a UTC offset")
    offset = timedelta(hours=hours, minutes=minutes) * (-1 if tz[0] == "-" else 1)
    return ResolvedTime(naive.replace(tzinfo=timezone(offset)).astimezone(UTC))


def parse_command_time(value: str, zone: ZoneInfo) -> ResolvedTime:
    """A time given to a command (``--from``, ``--until``, ``--since``, ``--time-travel``):
    what ``parse_time`` takes, and a date alone, meaning that day's local midnight (a
    midnight the clocks skip moves on, with a warning). The queue file still refuses a date
    alone: a post at midnight is seldom what an editor meant."""
    text = value.strip()
    m = _TIME.match(text) if len(text) <= MAX_SHORT_CHARS else None
    if m is None or m.group("h") is not None or m.group("tz") is not None:
        return parse_time(value, zone)
    try:
        day = date.fromisoformat(m.group("date"))
    except ValueError as err:
        raise TimeFormatError(f"{text!r} is not a valid date: {err}") from None
    midnight = datetime.combine(day, time(0))
    _check_year(midnight, repr(text))
    return localize(midnight, zone)


def format_local(instant: datetime, zone: ZoneInfo) -> str:
    """How an instant reads on the editors' wall clock, for messages."""
    local = instant.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} ({_offset_text(local)})"
