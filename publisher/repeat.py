"""Recurring posts: a ``repeat:`` rule and the occurrences it gives, DST-correct.

An occurrence keeps the first one's local wall-clock time in the configured zone: a 09:00
post stays at 09:00 local across both DST changes. A local time the clocks skip moves forward
and one they repeat takes its first occurrence, as editors' times do (``times.localize``).

Each occurrence is named by its local date (at most one per day: the time of day is fixed),
so its delivery has its own identity: ``<post id>@<YYYY-MM-DD>`` (see ``occurrence_id``).
Pure: what is planned depends on ``now`` and the rule, never on a clock read here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from publisher.limits import MAX_SHORT_CHARS
from publisher.marks import EVERGREEN_MARK as EVERGREEN_MARK
from publisher.marks import REPEAT_MARK as REPEAT_MARK
from publisher.slots import DAYS, FULL_DAYS
from publisher.times import TimeFormatError, localize, parse_command_time, parse_time

# How far ahead occurrences become deliveries: an unbounded rule must not make unbounded rows.
HORIZON = timedelta(days=60)
# Room a generated id needs past the post's own id (``~2026-12-07T0900``), within the store's
# 128 characters for a post id.
SUFFIX_CHARS = 16
MAX_EVERY_DAYS = 3650

_EVERY = re.compile(r"^(?:(?P<n>\d{1,4})\s*)?(?P<unit>d|day|days|w|week|weeks)$")


class RuleError(ValueError):
    """A rule that cannot be followed; ``field`` names the key at fault (for file:line:col)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class RepeatRule:
    """Every ``step_days`` days; with ``weekdays``, on those days of every ``step_days // 7``-th
    week (weeks start on Monday, counted from the first occurrence's week)."""

    step_days: int
    weekdays: frozenset[int] = frozenset()
    until: datetime | None = None  # aware UTC, inclusive
    count: int | None = None  # occurrences in all, the first included


def parse_every(text: object) -> int:
    """``3d``, ``2w``, ``week``, ``2 weeks``: the step in days."""
    if isinstance(text, int) and not isinstance(text, bool):
        raise RuleError("every", f"{text} needs a unit: {text}d or {text}w")
    if not isinstance(text, str):
        raise RuleError("every", "expected text such as 3d, 2w or week")
    m = _EVERY.match(text.strip().lower())
    if m is None:
        raise RuleError("every", f"{text!r} is not a period (examples: 3d, 2w, day, week)")
    n = int(m.group("n") or 1)
    days = n * (7 if m.group("unit").startswith("w") else 1)
    if n < 1 or days > MAX_EVERY_DAYS:
        raise RuleError("every", f"{text!r}: the period must be 1 day to {MAX_EVERY_DAYS} days")
    return days


def parse_weekdays(names: list[str]) -> frozenset[int]:
    out: set[int] = set()
    for name in names:
        key = name.strip().lower()
        if key in DAYS:
            out.add(DAYS.index(key))
        elif key in FULL_DAYS:
            out.add(FULL_DAYS.index(key))
        else:
            raise RuleError(
                "on", f"unknown weekday {name!r} (use mon, tue, wed, thu, fri, sat, sun)"
            )
    if not out:
        raise RuleError("on", "the list of weekdays is empty")
    return frozenset(out)


def check_rule(rule: RepeatRule, first: datetime, zone: ZoneInfo) -> None:
    """What makes a rule unfollowable once its first occurrence is known."""
    if rule.weekdays:
        if rule.step_days % 7:
            raise RuleError("on", "weekdays need a period in weeks (every: week, every: 2w)")
        day = first.astimezone(zone).weekday()
        if day not in rule.weekdays:
            days = ", ".join(DAYS[d] for d in sorted(rule.weekdays))
            raise RuleError(
                "on",
                f"the first occurrence (at) is a {FULL_DAYS[day]}, not one of on: {days}",
            )
    if rule.until is not None and rule.until < first:
        raise RuleError("until", "until is before the first occurrence (at)")


def occurrence_id(post_id: str, day: date) -> str:
    """A repeat's occurrence: the post id and the occurrence's local date."""
    return f"{post_id}{REPEAT_MARK}{day.isoformat()}"


def _dates(rule: RepeatRule, first: date) -> Iterator[date]:
    """The local dates of the occurrences, ascending, without end."""
    if not rule.weekdays:
        step = timedelta(days=rule.step_days)
        day = first
        while True:
            yield day
            day += step
    week = first - timedelta(days=first.weekday())
    step = timedelta(days=rule.step_days)
    days = sorted(rule.weekdays)
    while True:
        for d in days:
            day = week + timedelta(days=d)
            if day >= first:
                yield day
        week += step


@dataclass(frozen=True, slots=True)
class Occurrence:
    day: date  # local
    at: datetime  # aware UTC
    number: int  # 1 for the first (``at``)


def occurrences(
    rule: RepeatRule, first: datetime, zone: ZoneInfo, *, end: datetime | None = None
) -> Iterator[Occurrence]:
    """The rule's occurrences up to ``end`` (and its own ``until`` and ``count``), ascending;
    without ``end`` or a bound of the rule's own, without end.

    Each is its date at the first occurrence's local time of day in ``zone``: across a DST
    change the wall clock stays, the UTC instant moves.
    """
    local = first.astimezone(zone)
    wall: time = local.time().replace(tzinfo=None, fold=0)
    limit = min((t for t in (end, rule.until) if t is not None), default=None)
    for number, day in enumerate(_dates(rule, local.date()), start=1):
        if rule.count is not None and number > rule.count:
            return
        at = first if number == 1 else localize(datetime.combine(day, wall), zone).at
        if limit is not None and at > limit:
            return
        yield Occurrence(day, at.astimezone(UTC), number)


# ---------------------------------------------------------------------------
# The shape editors write (the queue's JSON Schema is generated from it), and its reading.


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class RepeatModel(BaseModel):
    """Publish the post again: every N days or weeks, optionally on given weekdays, until a
    time or a number of times (or, with neither, for as long as it stays in the file)."""

    model_config = ConfigDict(extra="forbid", title="Repeat")

    every: str | None = Field(
        None,
        max_length=MAX_SHORT_CHARS,
        description="The period: 3d, 2w, day, week. Default: week when `on` is given.",
        json_schema_extra={"examples": ["week", "2w", "3d"]},
    )
    on: Annotated[
        list[Annotated[str, Field(max_length=MAX_SHORT_CHARS)]] | None,
        BeforeValidator(_one_or_many, json_schema_input_type=str | list[str] | None),
    ] = Field(
        None,
        description="Weekdays (mon..sun) in each period of weeks; `at` must fall on one of them.",
    )
    until: str | None = Field(
        None,
        max_length=MAX_SHORT_CHARS,
        description="The last possible occurrence: a local time, or a date (that whole day). "
        "Not with `count`.",
        json_schema_extra={"examples": ["2027-03-31", "2027-03-31 09:00"]},
    )
    count: int | None = Field(
        None,
        ge=1,
        le=100_000,
        description="How many times in all, `at` included. Not with `until`.",
    )


_DATE_ONLY = re.compile(r"^\s*\d{4}-\d{2}-\d{2}\s*$")


def rule_from_model(m: RepeatModel, first: datetime, zone: ZoneInfo) -> RepeatRule:
    """The rule ``m`` describes for a post first published at ``first``; RuleError else."""
    if m.until is not None and m.count is not None:
        raise RuleError("count", "until and count together: give one of them (or neither)")
    if m.every is None and not m.on:
        raise RuleError("every", "missing `every:` (e.g. every: week, every: 3d)")
    step = parse_every(m.every) if m.every is not None else 7
    weekdays = parse_weekdays(m.on) if m.on is not None else frozenset()
    until = None
    if m.until is not None:
        try:
            if _DATE_ONLY.match(m.until):
                day = date.fromisoformat(m.until.strip())
                # The whole day: up to the next local midnight (not included).
                until = parse_command_time((day + timedelta(days=1)).isoformat(), zone).at
                until -= timedelta(microseconds=1)
            else:
                until = parse_time(m.until, zone).at
        except (TimeFormatError, ValueError) as err:
            raise RuleError("until", str(err)) from None
    rule = RepeatRule(step, weekdays, until, m.count)
    check_rule(rule, first, zone)
    return rule
