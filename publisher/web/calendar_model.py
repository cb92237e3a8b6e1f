"""The calendar page's weeks and months: the plan's events laid out on local days."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from publisher.commands.calendar import Event
from publisher.config import AccountConfig
from publisher.rules import rule_of

# The store's states as the page names them: a published delivery is "sent".
SHOWN_STATE = {"published": "sent", "dry-run": "rehearsed"}


class Span(StrEnum):
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True)
class Entry:
    """One post at one local time, on its accounts."""

    post_id: str
    local: datetime
    summary: str
    accounts: tuple[tuple[str, str, str], ...]  # (account, network, state as shown)
    timing: str  # "slot", "fixed", "repeat", "evergreen"


@dataclass(frozen=True)
class Day:
    day: date
    in_span: bool  # a month's grid starts and ends with days of the weeks around it
    entries: tuple[Entry, ...]
    at_cap: tuple[str, ...]  # "brand-fb 2/2": accounts whose max_per_day the day reaches
    quiet: bool  # no account has a slot that day, and nothing is planned


@dataclass(frozen=True)
class Grid:
    span: Span
    start: date  # first day shown (a Monday)
    title: str
    weeks: tuple[tuple[Day, ...], ...]
    previous: date
    following: date
    zone: str


def shown_state(state: str) -> str:
    return SHOWN_STATE.get(state, state)


def bounds(span: Span, anchor: date) -> tuple[date, date, date, date, str]:
    """First and last-exclusive day shown, the anchors of the spans before and after, title."""
    if span is Span.WEEK:
        start = anchor - timedelta(days=anchor.weekday())
        year, week, _ = start.isocalendar()
        return (
            start,
            start + timedelta(days=7),
            start - timedelta(days=7),
            start + timedelta(days=7),
            f"Week {week} of {year} ({start:%d %b} – {start + timedelta(days=6):%d %b %Y})",
        )
    first = anchor.replace(day=1)
    after = (first + timedelta(days=32)).replace(day=1)
    start = first - timedelta(days=first.weekday())
    end = after + timedelta(days=(7 - after.weekday()) % 7)
    before = (first - timedelta(days=1)).replace(day=1)
    return start, end, before, after, f"{first:%B %Y}"


def grid(
    span: Span,
    anchor: date,
    found: Sequence[Event],
    accounts: Mapping[str, AccountConfig],
    zone: ZoneInfo,
) -> Grid:
    start, end, previous, following, title = bounds(span, anchor)
    by_day: dict[date, list[Entry]] = {}
    for e in found:
        local = e.at.astimezone(zone)
        if start <= local.date() < end:
            by_day.setdefault(local.date(), []).append(_entry(e, local))
    days = []
    d = start
    while d < end:
        entries = tuple(sorted(by_day.get(d, ()), key=lambda x: (x.local, x.post_id)))
        in_span = span is Span.WEEK or d.month == anchor.month
        days.append(
            Day(d, in_span, entries, _at_cap(entries, accounts), _quiet(d, entries, accounts))
        )
        d += timedelta(days=1)
    weeks = tuple(tuple(days[i : i + 7]) for i in range(0, len(days), 7))
    return Grid(span, start, title, weeks, previous, following, str(zone))


def _entry(e: Event, local: datetime) -> Entry:
    rule = rule_of(e.post_id)
    return Entry(
        post_id=e.post_id,
        local=local,
        summary=e.summary,
        accounts=tuple((a, n, shown_state(s)) for a, n, s in e.accounts),
        timing=rule or ("slot" if e.from_slot else "fixed"),
    )


def _at_cap(entries: Sequence[Entry], accounts: Mapping[str, AccountConfig]) -> tuple[str, ...]:
    count: dict[str, int] = {}
    for e in entries:
        for a, _, _ in e.accounts:
            count[a] = count.get(a, 0) + 1
    out = []
    for name, n in sorted(count.items()):
        cap = accounts[name].max_per_day if name in accounts else None
        if cap is not None and n >= cap:
            out.append(f"{name} {n}/{cap}")
    return tuple(out)


def _quiet(day: date, entries: Sequence[Entry], accounts: Mapping[str, AccountConfig]) -> bool:
    if entries:
        return False
    return not any(day.weekday() in s.days for a in accounts.values() for s in a.slots)


def caps(accounts: Mapping[str, AccountConfig]) -> list[tuple[str, str, str]]:
    """(account, network, its limits and slots in words) for the calendar's legend."""
    out = []
    for name, a in sorted(accounts.items()):
        said = []
        if a.max_per_day is not None:
            said.append(f"at most {a.max_per_day} a day")
        if a.min_interval is not None:
            said.append(f"at least {_duration(a.min_interval)} apart")
        if a.target_per_week is not None:
            said.append(f"target {a.target_per_week:g} a week")
        if a.slots:
            said.append("slots " + "; ".join(str(s) for s in a.slots))
        if not a.enabled:
            said.append("disabled")
        out.append((name, a.network, ", ".join(said) or "no limits"))
    return out


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes % 60 == 0:
        return f"{minutes // 60} h"
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d}"


def parse_anchor(text: str | None, today: date) -> date:
    """``?at=YYYY-MM-DD``; anything else (or nothing) is today."""
    if text:
        try:
            return date.fromisoformat(text)
        except ValueError:
            return today
    return today
