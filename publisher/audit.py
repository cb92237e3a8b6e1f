"""Posting frequency and delivery quality over a window: the pure core of ``publisher audit``.

No I/O and no clock: the caller passes the deliveries, the ledger, the targets and ``now``.
Periods are local calendar days or ISO weeks in the configured zone, never multiples of 24
hours, so a week in which the clocks change lasts 167 or 169 hours (a day 23 or 25) and a
post at 23:30 local time on a Sunday belongs to that Sunday's week wherever UTC puts it.

Dry runs never count: ``dry-run`` deliveries and ``dry-run`` attempts are dropped before any
number is computed. Definitions (also in docs/audit.md):

- published: deliveries in state ``published``, placed in periods by ``published_at``;
  failed, missed and canceled deliveries by ``scheduled_at`` (the period they were planned for).
- longest silence: the longest gap between consecutive publications in the row's span,
  counting from the span's start to the first one and from the last one to the span's end
  (or to ``now`` if the span has not ended yet).
- shortest interval: the shortest gap between two consecutive publications in the span.
- lateness: ``published_at - scheduled_at``; percentiles by the nearest-rank method.
- retries: attempts in the ledger per published delivery, minus one.
"""

from __future__ import annotations

import bisect
import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from itertools import pairwise
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from publisher.marks import EVERGREEN_MARK, FILE_MARK, REPEAT_MARK
from publisher.states import DeliveryState, Outcome
from publisher.times import localize

SCHEMA_VERSION = 1
REASON_CHARS = 80
NO_REASON = "(no error recorded)"
DEFAULT_WEEKS = 4

CSV_HEADER: tuple[str, ...] = (
    "scope",
    "account",
    "network",
    "period",
    "start",
    "end",
    "hours",
    "complete",
    "published",
    "target",
    "met",
    "difference",
    "ratio",
    "longest_silence_s",
    "shortest_interval_s",
    "lateness_p50_s",
    "lateness_p95_s",
    "lateness_max_s",
    "failed",
    "failures",
    "missed",
    "canceled",
    "retries",
    "retries_per_delivery",
    "evergreen",
    "repeated",
)


class By(StrEnum):
    DAY = "day"
    WEEK = "week"


class Group(StrEnum):
    """What the rows are per: an account, or a queue file (one file per team)."""

    ACCOUNT = "account"
    FILE = "file"


class Scope(StrEnum):
    ACCOUNT = "account"  # one account
    FILE = "file"  # every audited account's deliveries of one queue file
    NETWORK = "network"  # every audited account of one network
    ALL = "all"  # every audited account


ANY = "*"  # the account (and network) of network and all-scope totals


class DeliveryLike(Protocol):
    """What the audit reads of a delivery (``publisher.store.Delivery`` has it)."""

    @property
    def id(self) -> int: ...
    @property
    def post_id(self) -> str: ...
    @property
    def account(self) -> str: ...
    @property
    def network(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def scheduled_at(self) -> datetime: ...
    @property
    def published_at(self) -> datetime | None: ...
    @property
    def last_error(self) -> str | None: ...
    @property
    def reason(self) -> str | None: ...


class AttemptLike(Protocol):
    """What the audit reads of a ledger row (``publisher.store.models.AttemptRow`` has it)."""

    @property
    def delivery_id(self) -> int: ...
    @property
    def outcome(self) -> str: ...


@dataclass(frozen=True)
class AccountTarget:
    account: str
    network: str
    target_per_week: float | None = None


@dataclass(frozen=True)
class Period:
    """One local calendar day or ISO week, clipped to the window (``start``/``end``)."""

    label: str
    start: datetime
    end: datetime
    full_start: datetime
    full_end: datetime

    @property
    def fraction(self) -> float:
        """How much of the calendar period the window covers: the share of its target due."""
        return (self.end - self.start) / (self.full_end - self.full_start)


@dataclass(frozen=True)
class Row:
    scope: Scope
    account: str
    network: str
    period: str  # "2026-W43", "2026-10-25", or "total"
    start: datetime
    end: datetime
    complete: bool  # the span had ended at ``now``
    published: int
    target: float | None
    longest_silence: timedelta | None
    shortest_interval: timedelta | None
    lateness_p50: timedelta | None
    lateness_p95: timedelta | None
    lateness_max: timedelta | None
    failures: tuple[tuple[str, int], ...]  # (reason, count), most frequent first
    missed: int
    canceled: int
    retries: int
    # Of ``published``: evergreen posts' and repeats' deliveries (publisher.rules).
    evergreen: int = 0
    repeated: int = 0
    file: str | None = None  # scope file: the queue file's name

    @property
    def hours(self) -> float:
        return (self.end - self.start) / timedelta(hours=1)

    @property
    def failed(self) -> int:
        return sum(n for _, n in self.failures)

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        return self.published >= self.target - 1e-9

    @property
    def difference(self) -> float | None:
        return None if self.target is None else self.published - self.target

    @property
    def ratio(self) -> float | None:
        return None if not self.target else self.published / self.target

    @property
    def retries_per_delivery(self) -> float | None:
        return self.retries / self.published if self.published else None


@dataclass(frozen=True)
class NetworkSeries:
    """Posts per period of one network, and its full-period target: what the chart draws."""

    network: str
    counts: tuple[int, ...]
    target: float | None  # sum of its accounts' targets for one whole period


@dataclass(frozen=True)
class AuditReport:
    since: datetime
    until: datetime
    zone: ZoneInfo
    by: By
    now: datetime
    periods: tuple[Period, ...]
    rows: tuple[Row, ...]
    totals: tuple[Row, ...]
    networks: tuple[NetworkSeries, ...]
    accounts: tuple[str, ...] = field(default=())
    group: Group = Group.ACCOUNT


def file_part(post_id: str, single: str) -> str:
    """The queue file a delivery's post comes from: its name in a qualified id
    (``team-a.yaml:launch``), else ``single``, the one queue file's name."""
    name, mark, _ = post_id.rpartition(FILE_MARK)
    return name if mark else single


# ----------------------------------------------------------------------------- the calendar


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The first instant of a local calendar day, in UTC (a midnight in a DST gap moves on)."""
    return localize(datetime.combine(day, time(0)), zone).at


def default_window(
    now: datetime, zone: ZoneInfo, weeks: int = DEFAULT_WEEKS
) -> tuple[datetime, datetime]:
    """The last ``weeks`` complete local weeks before ``now``: Monday 00:00 to Monday 00:00."""
    today = now.astimezone(zone).date()
    monday = today - timedelta(days=today.weekday())
    return local_midnight(monday - timedelta(weeks=weeks), zone), local_midnight(monday, zone)


def periods(since: datetime, until: datetime, zone: ZoneInfo, by: By) -> list[Period]:
    """The local days or ISO weeks that meet ``[since, until)``, clipped to it."""
    day = since.astimezone(zone).date()
    step = timedelta(days=1)
    if by is By.WEEK:
        day -= timedelta(days=day.weekday())
        step = timedelta(weeks=1)
    out: list[Period] = []
    full_start = local_midnight(day, zone)
    while full_start < until:
        nxt = day + step
        full_end = local_midnight(nxt, zone)
        start, end = max(full_start, since), min(full_end, until)
        if start < end:
            out.append(Period(_label(day, by), start, end, full_start, full_end))
        day, full_start = nxt, full_end
    return out


def _label(day: date, by: By) -> str:
    if by is By.DAY:
        return day.isoformat()
    iso = day.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


# ------------------------------------------------------------------------------ statistics


def nearest_rank(sorted_values: Sequence[timedelta], percent: int) -> timedelta | None:
    """The value at rank ceil(percent/100 × n) (1-based) of the sorted values."""
    n = len(sorted_values)
    if n == 0:
        return None
    rank = max(1, -(-percent * n // 100))
    return sorted_values[rank - 1]


def failure_reason(d: DeliveryLike) -> str:
    """A failed delivery's reason: its last error, whitespace folded, cut at 80 characters."""
    text = re.sub(r"\s+", " ", (d.last_error or d.reason or "").strip())
    if not text:
        return NO_REASON
    return text if len(text) <= REASON_CHARS else text[:REASON_CHARS] + "…"


@dataclass
class _Events:
    """One account's (or several merged accounts') events, each list sorted by its time."""

    published: list[DeliveryLike] = field(default_factory=list)
    failed: list[DeliveryLike] = field(default_factory=list)
    missed: list[datetime] = field(default_factory=list)
    canceled: list[datetime] = field(default_factory=list)

    def sort(self) -> None:
        self.published.sort(key=_published_at)
        self.failed.sort(key=lambda d: d.scheduled_at)
        self.missed.sort()
        self.canceled.sort()

    def merged(self, other: _Events) -> _Events:
        out = _Events(
            self.published + other.published,
            self.failed + other.failed,
            self.missed + other.missed,
            self.canceled + other.canceled,
        )
        out.sort()
        return out


def _published_at(d: DeliveryLike) -> datetime:
    assert d.published_at is not None
    return d.published_at


def _slice(times: Sequence[datetime], start: datetime, end: datetime) -> tuple[int, int]:
    return bisect.bisect_left(times, start), bisect.bisect_left(times, end)


def _row(
    scope: Scope,
    account: str,
    network: str,
    label: str,
    start: datetime,
    end: datetime,
    ev: _Events,
    target: float | None,
    tries: Mapping[int, int],
    now: datetime,
) -> Row:
    pub_times = [_published_at(d) for d in ev.published]
    lo, hi = _slice(pub_times, start, end)
    pubs = ev.published[lo:hi]
    points = pub_times[lo:hi]

    silence: timedelta | None = None
    stop = min(end, now)
    if points:
        stop = max(stop, points[-1])
    if stop > start or points:
        silence = max(b - a for a, b in pairwise([start, *points, stop]))
    shortest = min((b - a for a, b in pairwise(points)), default=None)

    lateness = sorted(_published_at(d) - d.scheduled_at for d in pubs)
    fail_times = [d.scheduled_at for d in ev.failed]
    flo, fhi = _slice(fail_times, start, end)
    reasons = Counter(failure_reason(d) for d in ev.failed[flo:fhi])
    mlo, mhi = _slice(ev.missed, start, end)
    clo, chi = _slice(ev.canceled, start, end)
    return Row(
        scope=scope,
        account=account,
        network=network,
        period=label,
        start=start,
        end=end,
        complete=end <= now,
        published=len(pubs),
        target=target,
        longest_silence=silence,
        shortest_interval=shortest,
        lateness_p50=nearest_rank(lateness, 50),
        lateness_p95=nearest_rank(lateness, 95),
        lateness_max=lateness[-1] if lateness else None,
        failures=tuple(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        missed=mhi - mlo,
        canceled=chi - clo,
        retries=sum(max(0, tries.get(d.id, 0) - 1) for d in pubs),
        evergreen=sum(1 for d in pubs if EVERGREEN_MARK in d.post_id),
        repeated=sum(1 for d in pubs if REPEAT_MARK in d.post_id),
    )


def _sum_targets(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def audit(
    deliveries: Iterable[DeliveryLike],
    attempts: Iterable[AttemptLike],
    targets: Mapping[str, AccountTarget],
    *,
    since: datetime,
    until: datetime,
    zone: ZoneInfo,
    now: datetime,
    by: By = By.WEEK,
    accounts: Sequence[str] = (),
    networks: Sequence[str] = (),
    files: str | None = None,
) -> AuditReport:
    """Compute the report. ``accounts``/``networks`` restrict it (empty: everything).

    With ``files`` (the name of a single queue file, for posts with bare ids), the rows are
    per queue file instead of per account (``Group.FILE``): a team's own figures.

    Audited accounts are those of ``targets`` plus any that only the store still knows (an
    account removed from the config keeps its history, with no target).
    """
    if since.tzinfo is None or until.tzinfo is None or now.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    if since >= until:
        raise ValueError("the window's start must come before its end")
    since, until, now = since.astimezone(UTC), until.astimezone(UTC), now.astimezone(UTC)

    events: dict[str, _Events] = defaultdict(_Events)
    per_file: dict[tuple[str, str], _Events] = defaultdict(_Events)  # by (account, file)
    network_of: dict[str, str] = {name: t.network for name, t in targets.items()}
    for d in deliveries:
        state = DeliveryState(d.state)
        if state is DeliveryState.DRY_RUN:
            continue
        network_of.setdefault(d.account, d.network)
        evs = [events[d.account]]
        if files is not None:
            evs.append(per_file[(d.account, file_part(d.post_id, files))])
        for ev in evs:
            if state is DeliveryState.PUBLISHED and d.published_at is not None:
                ev.published.append(d)
            elif state is DeliveryState.FAILED:
                ev.failed.append(d)
            elif state is DeliveryState.MISSED:
                ev.missed.append(d.scheduled_at)
            elif state is DeliveryState.CANCELED:
                ev.canceled.append(d.scheduled_at)
    for ev in (*events.values(), *per_file.values()):
        ev.sort()
    tries = Counter(a.delivery_id for a in attempts if a.outcome != Outcome.DRY_RUN.value)

    chosen = sorted(
        name
        for name, net in network_of.items()
        if (not accounts or name in accounts) and (not networks or net in networks)
    )
    cal = periods(since, until, zone, by)
    per_period = 1.0 if by is By.WEEK else 1.0 / 7

    rows: list[Row] = []
    account_totals: list[Row] = []
    for name in chosen:
        ev = events.get(name, _Events())
        weekly = targets[name].target_per_week if name in targets else None
        mine = [
            _row(
                Scope.ACCOUNT,
                name,
                network_of[name],
                p.label,
                p.start,
                p.end,
                ev,
                None if weekly is None else weekly * per_period * p.fraction,
                tries,
                now,
            )
            for p in cal
        ]
        rows.extend(mine)
        account_totals.append(
            _row(
                Scope.ACCOUNT,
                name,
                network_of[name],
                "total",
                since,
                until,
                ev,
                _sum_targets(r.target for r in mine),
                tries,
                now,
            )
        )

    network_totals: list[Row] = []
    series: list[NetworkSeries] = []
    everything = _Events()
    for net in sorted({network_of[n] for n in chosen}):
        names = [n for n in chosen if network_of[n] == net]
        merged = _Events()
        for n in names:
            merged = merged.merged(events.get(n, _Events()))
        everything = everything.merged(merged)
        network_totals.append(
            _row(
                Scope.NETWORK,
                ANY,
                net,
                "total",
                since,
                until,
                merged,
                _sum_targets(t.target for t in account_totals if t.account in names),
                tries,
                now,
            )
        )
        weekly_targets = [targets[n].target_per_week for n in names if n in targets]
        full = _sum_targets(weekly_targets)
        series.append(
            NetworkSeries(
                net,
                tuple(
                    sum(r.published for r in rows if r.network == net and r.period == p.label)
                    for p in cal
                ),
                None if full is None else full * per_period,
            )
        )
    group = Group.ACCOUNT
    if files is not None:
        group = Group.FILE
        rows, file_totals = _file_rows(per_file, chosen, cal, since, until, tries, now)
        totals = [*file_totals, *network_totals]
    else:
        totals = [*account_totals, *network_totals]
    if chosen:
        totals.append(
            _row(
                Scope.ALL,
                ANY,
                ANY,
                "total",
                since,
                until,
                everything,
                _sum_targets(t.target for t in account_totals),
                tries,
                now,
            )
        )
    return AuditReport(
        since=since,
        until=until,
        zone=zone,
        by=by,
        now=now,
        periods=tuple(cal),
        rows=tuple(rows),
        totals=tuple(totals),
        networks=tuple(series),
        accounts=tuple(chosen),
        group=group,
    )


def _file_rows(
    events: Mapping[tuple[str, str], _Events],
    chosen: Sequence[str],
    cal: Sequence[Period],
    since: datetime,
    until: datetime,
    tries: Mapping[int, int],
    now: datetime,
) -> tuple[list[Row], list[Row]]:
    """Rows per queue file and period, and a total per file, over the chosen accounts;
    ``events`` by (account, file)."""
    picked = set(chosen)
    by_file: dict[str, _Events] = {}
    for (account, name), ev in sorted(events.items()):
        if account in picked:
            by_file[name] = by_file[name].merged(ev) if name in by_file else ev
    rows: list[Row] = []
    totals: list[Row] = []
    for name in sorted(by_file):
        ev = by_file[name]
        for p in cal:
            row = _row(Scope.FILE, ANY, ANY, p.label, p.start, p.end, ev, None, tries, now)
            rows.append(replace(row, file=name))
        total = _row(Scope.FILE, ANY, ANY, "total", since, until, ev, None, tries, now)
        totals.append(replace(total, file=name))
    return rows, totals


# --------------------------------------------------------------------------- serialization


def _seconds(delta: timedelta | None) -> int | None:
    return None if delta is None else round(delta.total_seconds())


def _num(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _local_iso(when: datetime, zone: ZoneInfo) -> str:
    return when.astimezone(zone).isoformat()


def _utc_iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def row_json(row: Row, zone: ZoneInfo) -> dict[str, Any]:
    """One row as the stable JSON object of docs/audit.md (schema 1)."""
    return {
        "scope": row.scope.value,
        "account": row.account,
        "network": row.network,
        "period": row.period,
        "start": _local_iso(row.start, zone),
        "end": _local_iso(row.end, zone),
        "hours": _num(row.hours),
        "complete": row.complete,
        "published": row.published,
        "target": _num(row.target),
        "met": row.met,
        "difference": _num(row.difference),
        "ratio": _num(row.ratio),
        "longest_silence_s": _seconds(row.longest_silence),
        "shortest_interval_s": _seconds(row.shortest_interval),
        "lateness_p50_s": _seconds(row.lateness_p50),
        "lateness_p95_s": _seconds(row.lateness_p95),
        "lateness_max_s": _seconds(row.lateness_max),
        "failed": row.failed,
        "failures": [{"reason": r, "count": n} for r, n in row.failures],
        "missed": row.missed,
        "canceled": row.canceled,
        "retries": row.retries,
        "retries_per_delivery": _num(row.retries_per_delivery),
        "evergreen": row.evergreen,
        "repeated": row.repeated,
        **({} if row.file is None else {"file": row.file}),
    }


def report_json(report: AuditReport) -> dict[str, Any]:
    z = report.zone
    return {
        "schema": SCHEMA_VERSION,
        "generated_at": _utc_iso(report.now),
        "timezone": z.key,
        "by": report.by.value,
        "group": report.group.value,
        "window": {
            "since": _local_iso(report.since, z),
            "until": _local_iso(report.until, z),
            "since_utc": _utc_iso(report.since),
            "until_utc": _utc_iso(report.until),
        },
        "accounts": list(report.accounts),
        "rows": [row_json(r, z) for r in report.rows],
        "totals": [row_json(r, z) for r in report.totals],
    }


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        return str(int(value))
    return str(value)


def csv_header(report: AuditReport) -> tuple[str, ...]:
    """``CSV_HEADER``, and a last column ``file`` when the rows are per queue file."""
    return CSV_HEADER + (("file",) if report.group is Group.FILE else ())


def csv_rows(report: AuditReport) -> list[list[str]]:
    """The CSV body (without the header): account (or file) × period rows, then the totals."""
    out = []
    header = csv_header(report)
    for row in (*report.rows, *report.totals):
        obj = row_json(row, report.zone)
        out.append([_csv_cell(obj.get(k)) for k in header])
    return out
