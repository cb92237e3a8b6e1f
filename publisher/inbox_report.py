"""How the inbox was answered, per account and period: the pure core of the audit's inbox
section (issue 20).

No I/O and no clock: the caller passes the posting audit (its accounts, periods and ``now``),
the inbox items, and which accounts listen. Definitions (also in docs/audit.md):

- an item belongs to the period in which we *received* it (``received_at``: when the listener
  stored it), not the one in which it was said: that is when we could first answer it;
- the account's figures count what was said to it (its inbox). Items a watch found (``watch``
  set, kind ``found``) are not addressed to us: they are counted apart (``watched``) and
  never in the share or the median;
- each item is in exactly one of: *answered* (``answered_at`` set: our post with
  ``reply_to:`` was published), else by its state *handled* (marked by a person), *ignored*
  or *open* (``new``). So ``received = answered + handled + ignored + open``;
- share answered: ``answered / (received - ignored)``: an ignored item was decided to need
  nothing, so it is not unanswered; one handled by hand is (we did not answer it). Unknown
  (``None``) when that is 0. Figures are as of ``now``: an item answered in a later period
  (or after the window) counts as answered in the period it was received;
- time to answer: ``answered_at - received_at``; its median by the nearest-rank method, as
  the posting audit's lateness p50 (the value at rank ceil(n/2) of the sorted times: the
  lower of the two middle ones when n is even, always an observed time).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from publisher.audit import ANY, AuditReport, Group, Scope, nearest_rank

ANSWERED = "answered"
HANDLED = "handled"  # the store's ItemState values, repeated: the core sits below the store
IGNORED = "ignored"
OPEN = "open"  # state "new", not answered
NEW = "new"


class ItemLike(Protocol):
    """What the report reads of an inbox item (``publisher.store.inbox.InboxItem`` has it)."""

    @property
    def account(self) -> str: ...
    @property
    def network(self) -> str: ...
    @property
    def watch(self) -> str | None: ...
    @property
    def state(self) -> str: ...
    @property
    def received_at(self) -> datetime: ...
    @property
    def answered_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class InboxRow:
    scope: Scope  # ACCOUNT, or ALL for the window's grand total
    account: str
    network: str
    period: str  # a period's label, or "total"
    start: datetime
    end: datetime
    complete: bool
    listens: bool  # the account listens now (its config's ``listen``)
    published: int  # the posting audit's figure for the same span, beside
    received: int
    answered: int
    handled: int
    ignored: int
    open: int
    watched: int  # items the account's watch searches found: not in the figures above
    answer_times: tuple[timedelta, ...]  # sorted

    @property
    def share_answered(self) -> float | None:
        asked = self.received - self.ignored
        return self.answered / asked if asked else None

    @property
    def median_answer(self) -> timedelta | None:
        return nearest_rank(self.answer_times, 50)


@dataclass(frozen=True)
class NetworkInbox:
    """Share answered per period of one network (its audited accounts merged): the chart's
    inbox panel; None where nothing answerable was received."""

    network: str
    share: tuple[float | None, ...]


@dataclass(frozen=True)
class InboxReport:
    posting: AuditReport
    accounts: tuple[str, ...]
    rows: tuple[InboxRow, ...]
    totals: tuple[InboxRow, ...]
    networks: tuple[NetworkInbox, ...]


def outcome(item: ItemLike) -> str:
    """The one bucket an item is counted in (the module's docstring)."""
    if item.answered_at is not None:
        return ANSWERED
    if item.state == HANDLED:
        return HANDLED
    if item.state == IGNORED:
        return IGNORED
    return OPEN


def _received(item: ItemLike) -> datetime:
    return item.received_at


def _row(
    scope: Scope,
    account: str,
    network: str,
    period: str,
    start: datetime,
    end: datetime,
    items: Sequence[ItemLike],
    *,
    now: datetime,
    listens: bool,
    published: int,
) -> InboxRow:
    """One span's figures from its items (both kinds: inbox and watch)."""
    said = [i for i in items if i.watch is None]
    counts = {k: 0 for k in (ANSWERED, HANDLED, IGNORED, OPEN)}
    times = []
    for i in said:
        counts[outcome(i)] += 1
        if i.answered_at is not None:
            times.append(i.answered_at - i.received_at)
    return InboxRow(
        scope=scope,
        account=account,
        network=network,
        period=period,
        start=start,
        end=end,
        complete=end <= now,
        listens=listens,
        published=published,
        received=len(said),
        answered=counts[ANSWERED],
        handled=counts[HANDLED],
        ignored=counts[IGNORED],
        open=counts[OPEN],
        watched=len(items) - len(said),
        answer_times=tuple(sorted(times)),
    )


def _within(
    items: Sequence[ItemLike], times: Sequence[datetime], start: datetime, end: datetime
) -> Sequence[ItemLike]:
    return items[bisect.bisect_left(times, start) : bisect.bisect_left(times, end)]


def inbox_report(
    posting: AuditReport,
    items: Iterable[ItemLike],
    listening: Iterable[str],
    *,
    accounts: Sequence[str] = (),
    networks: Sequence[str] = (),
) -> InboxReport:
    """The inbox section, on the posting audit's periods and ``now`` (an audit per account:
    the inbox is an account's, never a queue file's).

    Accounts shown: those of the posting audit that listen (``listening``) or received an
    item in the window, plus any account only the inbox still knows (gone from the config,
    never posted) that received one, within the same ``accounts``/``networks`` filters.
    """
    if posting.group is not Group.ACCOUNT:
        raise ValueError("the inbox section sits beside a posting audit per account")
    since, until, now = posting.since, posting.until, posting.now
    listens = set(listening)
    network_of = {r.account: r.network for r in posting.totals if r.scope is Scope.ACCOUNT}
    per_account: dict[str, list[ItemLike]] = defaultdict(list)
    for item in items:
        if since <= item.received_at < until:
            per_account[item.account].append(item)
            network_of.setdefault(item.account, item.network)
    audited = set(posting.accounts)
    chosen = sorted(
        name
        for name, net in network_of.items()
        if (name in audited and (name in listens or name in per_account))
        or (
            name not in audited
            and name in per_account
            and (not accounts or name in accounts)
            and (not networks or net in networks)
        )
    )
    published = {
        (r.account, r.period): r.published
        for r in (*posting.rows, *posting.totals)
        if r.scope is Scope.ACCOUNT
    }
    rows: list[InboxRow] = []
    totals: list[InboxRow] = []
    everything: list[ItemLike] = []
    for name in chosen:
        mine = sorted(per_account.get(name, []), key=_received)
        everything.extend(mine)
        times = [i.received_at for i in mine]
        net, hears = network_of[name], name in listens
        for p in posting.periods:
            rows.append(
                _row(
                    Scope.ACCOUNT,
                    name,
                    net,
                    p.label,
                    p.start,
                    p.end,
                    _within(mine, times, p.start, p.end),
                    now=now,
                    listens=hears,
                    published=published.get((name, p.label), 0),
                )
            )
        totals.append(
            _row(
                Scope.ACCOUNT,
                name,
                net,
                "total",
                since,
                until,
                mine,
                now=now,
                listens=hears,
                published=published.get((name, "total"), 0),
            )
        )
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
                now=now,
                listens=any(n in listens for n in chosen),
                published=sum(t.published for t in totals),
            )
        )
    return InboxReport(
        posting=posting,
        accounts=tuple(chosen),
        rows=tuple(rows),
        totals=tuple(totals),
        networks=_networks(rows, [p.label for p in posting.periods]),
    )


def _networks(rows: Sequence[InboxRow], labels: Sequence[str]) -> tuple[NetworkInbox, ...]:
    sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        cell = sums[(r.network, r.period)]
        cell[0] += r.answered
        cell[1] += r.received - r.ignored
    out = []
    for net in sorted({r.network for r in rows}):
        shares = []
        for label in labels:
            answered, asked = sums[(net, label)]  # every account has every period
            shares.append(answered / asked if asked else None)
        out.append(NetworkInbox(net, tuple(shares)))
    return tuple(out)


# --------------------------------------------------------------------------- serialization


def _seconds(delta: timedelta | None) -> int | None:
    return None if delta is None else round(delta.total_seconds())


def row_json(row: InboxRow, zone: ZoneInfo) -> dict[str, Any]:
    """One row as the stable JSON object of docs/audit.md (the audit's ``inbox``)."""
    share = row.share_answered
    return {
        "scope": row.scope.value,
        "account": row.account,
        "network": row.network,
        "period": row.period,
        "start": row.start.astimezone(zone).isoformat(),
        "end": row.end.astimezone(zone).isoformat(),
        "complete": row.complete,
        "listens": row.listens,
        "published": row.published,
        "received": row.received,
        "answered": row.answered,
        "handled": row.handled,
        "ignored": row.ignored,
        "open": row.open,
        "share_answered": None if share is None else round(share, 3),
        "median_answer_s": _seconds(row.median_answer),
        "watched": row.watched,
    }


def report_json(report: InboxReport) -> dict[str, Any]:
    """The ``inbox`` object of ``publisher audit --format json``."""
    zone = report.posting.zone
    return {
        "accounts": list(report.accounts),
        "rows": [row_json(r, zone) for r in report.rows],
        "totals": [row_json(r, zone) for r in report.totals],
    }
