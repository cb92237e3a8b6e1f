"""What the posts earned, per account and week: the pure core of ``publisher audit --engagement``.

No I/O and no clock: the caller passes the posting audit (posts out against targets), the
published deliveries, the engagement snapshots, the follower counts and ``now``. Every figure
of one report is read at ONE snapshot age, so weeks compare fairly: a post's numbers after
24 hours are not set beside another's after 30 days. Definitions (also in docs/audit.md):

- the age: ``--age``, or else the largest age that every post of the window has reached
  (``published_at + age <= now``) among the ages the ledger holds, or else the largest age
  the ledger holds;
- a post at that age is *measured* (a snapshot at that age), *gone* (the network said it was
  deleted, at that age or before), *pending* (it has not reached the age yet) or *missing*
  (it has, and no snapshot was taken: collection off, failed, or behind). Only measured posts
  have numbers; the others are counted apart, never as zero;
- a figure (likes, …) of a week is the sum over its measured posts, known only when every one
  of them reported it; otherwise unknown (``null``), never 0;
- a post's interactions: the sum of the interaction figures it reported. Known when it
  reported at least one and was refused none (a figure named in ``unavailable`` makes it
  unknown; a figure the network has no notion of, such as Mastodon's quotes, adds nothing);
- per post: the week's interactions over its posts with known interactions (``rated``);
- per 1,000 followers: per post × 1000 / the follower count taken nearest the week's end;
- best and worst: the rated posts with the most and the fewest interactions (a tie: the
  earlier is best, the later worst); no worst when only one post is rated.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from publisher.audit import AuditReport, Period, Row, Scope
from publisher.durations import format_duration
from publisher.states import DeliveryState

SCHEMA_VERSION = 1
PER_FOLLOWERS = 1000

# The figures the report shows, in order, and those that sum to "interactions": the names of
# ``publisher.adapters.engagement`` (STANDARD_METRICS, INTERACTIONS), repeated here because
# the core sits below the adapters; tests/test_engagement_report.py checks they agree.
METRICS: tuple[str, ...] = ("likes", "reposts", "replies", "quotes", "impressions", "clicks")
INTERACTIONS: tuple[str, ...] = ("likes", "reposts", "replies", "quotes")

CSV_HEADER: tuple[str, ...] = (
    "account",
    "network",
    "period",
    "start",
    "end",
    "complete",
    "age",
    "age_s",
    "posts",
    "target",
    "met",
    "measured",
    "pending",
    "missing",
    "gone",
    *METRICS,
    "interactions",
    "rated",
    "per_post",
    "followers",
    "followers_at",
    "per_1000_followers",
    "best_post",
    "best_interactions",
    "worst_post",
    "worst_interactions",
)


class PublishedLike(Protocol):
    """What the report reads of a delivery (``publisher.store.Delivery`` has it)."""

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
    def published_at(self) -> datetime | None: ...


class SnapshotLike(Protocol):
    """What the report reads of a snapshot (``publisher.store.records.Snapshot`` has it)."""

    @property
    def delivery_id(self) -> int: ...
    @property
    def age(self) -> timedelta: ...
    @property
    def age_label(self) -> str: ...
    @property
    def taken_at(self) -> datetime: ...
    @property
    def counts(self) -> Mapping[str, int]: ...
    @property
    def unavailable(self) -> tuple[str, ...]: ...
    @property
    def gone(self) -> bool: ...


class FollowerLike(Protocol):
    @property
    def account(self) -> str: ...
    @property
    def taken_at(self) -> datetime: ...
    @property
    def count(self) -> int: ...


class AgeRule(StrEnum):
    """How the report's snapshot age was chosen (docs/audit.md)."""

    ASKED = "asked"  # --age
    ALL_REACHED = "all-reached"  # the largest age every post of the window has reached
    LARGEST = "largest"  # no age reached by all: the largest the ledger holds
    NONE = "none"  # the ledger holds no snapshot: nothing is measured


class Status(StrEnum):
    """A post at the report's age."""

    MEASURED = "measured"
    PENDING = "pending"
    MISSING = "missing"
    GONE = "gone"


@dataclass(frozen=True)
class Age:
    rule: AgeRule
    value: timedelta | None
    label: str | None


@dataclass(frozen=True)
class PostFigures:
    """One published post at the report's age."""

    delivery_id: int
    post_id: str
    account: str
    network: str
    published_at: datetime
    status: Status
    counts: Mapping[str, int]
    interactions: int | None  # None: unknown (not measured, or a figure refused)


@dataclass(frozen=True)
class EngagementRow:
    account: str
    network: str
    period: str
    start: datetime
    end: datetime
    complete: bool
    posts: int
    target: float | None
    met: bool | None
    statuses: Mapping[Status, int]
    figures: Mapping[str, int | None]  # METRICS: the sum, or None when unknown
    interactions: int | None
    rated: int
    followers: int | None
    followers_at: datetime | None
    best: PostFigures | None
    worst: PostFigures | None  # None too when only one post is rated

    @property
    def per_post(self) -> float | None:
        return (
            None if self.interactions is None or not self.rated else self.interactions / self.rated
        )

    @property
    def per_1000_followers(self) -> float | None:
        per = self.per_post
        if per is None or not self.followers:
            return None
        return per * PER_FOLLOWERS / self.followers


@dataclass(frozen=True)
class NetworkEngagement:
    """Interactions per rated post per period of one network: what the chart's panel draws."""

    network: str
    per_post: tuple[float | None, ...]


@dataclass(frozen=True)
class EngagementReport:
    posting: AuditReport
    age: Age
    ages: tuple[str, ...]  # every age the ledger holds for these accounts, shortest first
    rows: tuple[EngagementRow, ...]
    networks: tuple[NetworkEngagement, ...]
    uncollected: tuple[str, ...] = ()  # audited accounts whose numbers are not read now


# ------------------------------------------------------------------------------- the posts


def published_posts(
    deliveries: Iterable[PublishedLike], accounts: Sequence[str]
) -> list[PublishedLike]:
    """The accounts' published deliveries (dry runs never count), oldest first."""
    chosen = set(accounts)
    out = [
        d
        for d in deliveries
        if d.state == DeliveryState.PUBLISHED and d.published_at is not None and d.account in chosen
    ]
    out.sort(key=lambda d: (_at(d), d.id))
    return out


def _at(d: PublishedLike) -> datetime:
    assert d.published_at is not None
    return d.published_at


def by_delivery(snapshots: Iterable[SnapshotLike]) -> dict[int, list[SnapshotLike]]:
    out: dict[int, list[SnapshotLike]] = defaultdict(list)
    for s in snapshots:
        out[s.delivery_id].append(s)
    return out


def _labels(snapshots: Iterable[SnapshotLike]) -> dict[timedelta, str]:
    labels: dict[timedelta, str] = {}
    for s in snapshots:
        labels.setdefault(s.age, s.age_label)
    return labels


def choose_age(
    posts: Sequence[PublishedLike],
    snapshots: Mapping[int, Sequence[SnapshotLike]],
    now: datetime,
    asked: timedelta | None = None,
    asked_label: str | None = None,
) -> Age:
    """The one age a report reads every post at (the rule in the module's docstring)."""
    mine = [s for d in posts for s in snapshots.get(d.id, ())]
    labels = _labels(mine) or _labels(s for ss in snapshots.values() for s in ss)
    if asked is not None:
        return Age(AgeRule.ASKED, asked, labels.get(asked) or asked_label or format_duration(asked))
    if not labels:
        return Age(AgeRule.NONE, None, None)
    newest = max((_at(d) for d in posts), default=None)
    reached = [a for a in labels if newest is None or newest + a <= now]
    if reached:
        best = max(reached)
        return Age(AgeRule.ALL_REACHED, best, labels[best])
    best = max(labels)
    return Age(AgeRule.LARGEST, best, labels[best])


def interactions(counts: Mapping[str, int], unavailable: Iterable[str]) -> int | None:
    """The interactions a post reported; None when it reported none or was refused one."""
    if set(unavailable) & set(INTERACTIONS):
        return None
    known = [counts[m] for m in INTERACTIONS if m in counts]
    return sum(known) if known else None


def figures_at(
    d: PublishedLike, snapshots: Sequence[SnapshotLike], age: Age, now: datetime
) -> PostFigures:
    """One post at the report's age: its latest snapshot at exactly that age, if any."""
    status, counts, inter = Status.MISSING, {}, None
    if age.value is not None:
        gone = any(s.gone and s.age <= age.value for s in snapshots)
        at_age = [s for s in snapshots if s.age == age.value and not s.gone]
        if at_age and not gone:
            snap = max(at_age, key=lambda s: s.taken_at)
            status, counts = Status.MEASURED, dict(snap.counts)
            inter = interactions(snap.counts, snap.unavailable)
        elif gone:
            status = Status.GONE
        elif _at(d) + age.value > now:
            status = Status.PENDING
    return PostFigures(d.id, d.post_id, d.account, d.network, _at(d), status, counts, inter)


# ------------------------------------------------------------------------------ followers


@dataclass(frozen=True)
class Followers:
    """One account's follower counts, oldest first, with their times for bisection."""

    counts: Sequence[FollowerLike]
    times: Sequence[datetime]

    @classmethod
    def of(cls, counts: Iterable[FollowerLike]) -> Followers:
        ordered = sorted(counts, key=lambda c: c.taken_at)
        return cls(ordered, [c.taken_at for c in ordered])


def nearest_followers(followers: Followers, when: datetime) -> tuple[int | None, datetime | None]:
    """The count taken nearest ``when``, either side; a tie takes the earlier."""
    counts = followers.counts
    if not counts:
        return None, None
    i = bisect.bisect_left(followers.times, when)
    near = counts[max(0, i - 1) : i + 1]  # the last before ``when`` and the first after
    pick = min(near, key=lambda c: (abs(c.taken_at - when), c.taken_at))
    return pick.count, pick.taken_at


# ------------------------------------------------------------------------------ the report


def _sum_figure(posts: Sequence[PostFigures], metric: str) -> int | None:
    if not posts or any(metric not in p.counts for p in posts):
        return None
    return sum(p.counts[metric] for p in posts)


def _extremes(rated: Sequence[PostFigures]) -> tuple[PostFigures | None, PostFigures | None]:
    if not rated:
        return None, None

    def score(p: PostFigures) -> int:
        assert p.interactions is not None
        return p.interactions

    best = min(rated, key=lambda p: (-score(p), p.published_at, p.delivery_id))
    if len(rated) < 2:
        return best, None
    # On a tie the best is the earlier post and the worst the later: two posts, two names.
    worst = max(rated, key=lambda p: (-score(p), p.published_at, p.delivery_id))
    return best, worst


def _row(
    account: str,
    network: str,
    period: Period,
    posts: Sequence[PostFigures],
    posting_row: Row,
    followers: Followers,
) -> EngagementRow:
    measured = [p for p in posts if p.status is Status.MEASURED]
    rated = [p for p in measured if p.interactions is not None]
    statuses = {s: sum(1 for p in posts if p.status is s) for s in Status}
    count, taken = nearest_followers(followers, period.end)
    best, worst = _extremes(rated)
    return EngagementRow(
        account=account,
        network=network,
        period=period.label,
        start=period.start,
        end=period.end,
        complete=posting_row.complete,
        posts=len(posts),
        target=posting_row.target,
        met=posting_row.met,
        statuses=statuses,
        figures={m: _sum_figure(measured, m) for m in METRICS},
        interactions=sum(p.interactions or 0 for p in rated) if rated else None,
        rated=len(rated),
        followers=count,
        followers_at=taken,
        best=best,
        worst=worst,
    )


def engagement(
    posting: AuditReport,
    deliveries: Iterable[PublishedLike],
    snapshots: Iterable[SnapshotLike],
    followers: Iterable[FollowerLike],
    *,
    age: timedelta | None = None,
    age_label: str | None = None,
    uncollected: Iterable[str] = (),
) -> EngagementReport:
    """The report, on the posting audit's accounts, periods and ``now``. ``uncollected``
    names the accounts the daemon does not read (said, so their missing posts explain
    themselves)."""
    now = posting.now
    every = published_posts(deliveries, posting.accounts)
    posts = [d for d in every if posting.since <= _at(d) < posting.until]
    snaps = by_delivery(snapshots)
    chosen = choose_age(posts, snaps, now, age, age_label)
    ours = {d.id for d in every}
    all_labels = _labels(s for did, ss in snaps.items() if did in ours for s in ss)
    figures = [figures_at(d, snaps.get(d.id, ()), chosen, now) for d in posts]
    per_account: dict[str, list[PostFigures]] = defaultdict(list)
    for f in figures:
        per_account[f.account].append(f)
    grouped: dict[str, list[FollowerLike]] = defaultdict(list)
    for c in followers:
        grouped[c.account].append(c)
    follower_counts = {name: Followers.of(grouped.get(name, ())) for name in posting.accounts}

    posting_rows = {(r.account, r.period): r for r in posting.rows if r.scope is Scope.ACCOUNT}
    rows: list[EngagementRow] = []
    for name in posting.accounts:
        mine = per_account.get(name, [])  # oldest first, as ``posts``
        times = [f.published_at for f in mine]
        for p in posting.periods:
            prow = posting_rows[(name, p.label)]
            lo, hi = bisect.bisect_left(times, p.start), bisect.bisect_left(times, p.end)
            rows.append(_row(name, prow.network, p, mine[lo:hi], prow, follower_counts[name]))

    sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        if r.rated:
            sums[(r.network, r.period)][0] += r.interactions or 0
            sums[(r.network, r.period)][1] += r.rated
    networks: list[NetworkEngagement] = []
    for net in sorted({r.network for r in rows}):
        series = []
        for p in posting.periods:
            total, rated = sums.get((net, p.label), (0, 0))
            series.append(total / rated if rated else None)
        networks.append(NetworkEngagement(net, tuple(series)))
    return EngagementReport(
        posting=posting,
        age=chosen,
        ages=tuple(all_labels[a] for a in sorted(all_labels)),
        rows=tuple(rows),
        networks=tuple(networks),
        uncollected=tuple(sorted(set(uncollected) & set(posting.accounts))),
    )


# --------------------------------------------------------------------------- serialization


def _num(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _utc_iso(when: datetime | None) -> str | None:
    return None if when is None else when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _post_json(p: PostFigures | None, zone: ZoneInfo) -> dict[str, Any] | None:
    if p is None:
        return None
    return {
        "post": p.post_id,
        "delivery_id": p.delivery_id,
        "published_at": p.published_at.astimezone(zone).isoformat(),
        "interactions": p.interactions,
    }


def age_json(age: Age) -> dict[str, Any]:
    return {
        "label": age.label,
        "seconds": None if age.value is None else round(age.value.total_seconds()),
        "rule": age.rule.value,
    }


def row_json(row: EngagementRow, age: Age, zone: ZoneInfo) -> dict[str, Any]:
    """One row as the stable JSON object of docs/audit.md (engagement schema 1)."""
    return {
        "account": row.account,
        "network": row.network,
        "period": row.period,
        "start": row.start.astimezone(zone).isoformat(),
        "end": row.end.astimezone(zone).isoformat(),
        "complete": row.complete,
        "age": age.label,
        "age_s": None if age.value is None else round(age.value.total_seconds()),
        "posts": row.posts,
        "target": _num(row.target),
        "met": row.met,
        **{s.value: row.statuses[s] for s in Status},
        **dict(row.figures),
        "interactions": row.interactions,
        "rated": row.rated,
        "per_post": _num(row.per_post),
        "followers": row.followers,
        "followers_at": _utc_iso(row.followers_at),
        "per_1000_followers": _num(row.per_1000_followers),
        "best": _post_json(row.best, zone),
        "worst": _post_json(row.worst, zone),
    }


def report_json(report: EngagementReport) -> dict[str, Any]:
    posting = report.posting
    z = posting.zone
    return {
        "schema": SCHEMA_VERSION,
        "generated_at": _utc_iso(posting.now),
        "timezone": z.key,
        "by": posting.by.value,
        "window": {
            "since": posting.since.astimezone(z).isoformat(),
            "until": posting.until.astimezone(z).isoformat(),
            "since_utc": _utc_iso(posting.since),
            "until_utc": _utc_iso(posting.until),
        },
        "age": age_json(report.age),
        "ages": list(report.ages),
        "metrics": list(METRICS),
        "interactions": list(INTERACTIONS),
        "accounts": list(posting.accounts),
        "uncollected": list(report.uncollected),
        "rows": [row_json(r, report.age, z) for r in report.rows],
    }


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        return str(int(value))
    return str(value)


def csv_rows(report: EngagementReport) -> list[list[str]]:
    """The CSV body (without the header): one line per account × period."""
    out = []
    for row in report.rows:
        obj = row_json(row, report.age, report.posting.zone)
        best, worst = obj.pop("best") or {}, obj.pop("worst") or {}
        obj["best_post"], obj["best_interactions"] = best.get("post"), best.get("interactions")
        obj["worst_post"], obj["worst_interactions"] = worst.get("post"), worst.get("interactions")
        out.append([csv_cell(obj[k]) for k in CSV_HEADER])
    return out
