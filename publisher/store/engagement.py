"""The engagement ledger's statements: readings due, snapshots, follower counts (issue 16).

Plain functions of a ``Connection``, run by ``Store`` in one transaction each. A reading is
taken once: its snapshot is appended in the transaction that turns its ``engagement_due``
row from ``pending`` to ``taken`` (and the ledger's unique (delivery, age) is the backstop);
a claim moves ``next_at`` past a lease first, so two daemons never read the same post at
the same age.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, insert, select, update
from sqlalchemy.engine import Connection

from publisher.states import DeliveryState
from publisher.store import hot
from publisher.store.models import EngagementDueRow, EngagementSnapshotRow, FollowerCountRow
from publisher.store.records import (
    FollowerCount,
    PublishedPost,
    Reading,
    ReadingChange,
    ReadingGone,
    ReadingMissed,
    ReadingRetry,
    ReadingState,
    ReadingTaken,
    Snapshot,
)
from publisher.store.tables import D

E = EngagementDueRow.__table__  # type: ignore[attr-defined]
N = EngagementSnapshotRow.__table__  # type: ignore[attr-defined]
F = FollowerCountRow.__table__  # type: ignore[attr-defined]

PENDING = ReadingState.PENDING.value


def _published(accounts: Sequence[str], since: datetime) -> Any:
    return select(
        D.c.id, D.c.post_id, D.c.account, D.c.network, D.c.remote_id, D.c.published_at
    ).where(
        D.c.state == DeliveryState.PUBLISHED.value,
        D.c.account.in_(list(accounts)),
        D.c.published_at >= since,
        D.c.remote_id.is_not(None),
    )


def unplanned(
    conn: Connection, accounts: Sequence[str], since: datetime, limit: int
) -> list[PublishedPost]:
    """Published deliveries (since ``since``) with no reading planned yet: what was
    published since the collector last looked."""
    q = (
        _published(accounts, since)
        .where(~exists().where(E.c.delivery_id == D.c.id))
        .order_by(D.c.published_at, D.c.id)
        .limit(limit)
    )
    return [
        PublishedPost(r.id, r.post_id, r.account, r.network, r.remote_id, r.published_at)
        for r in conn.execute(q)
    ]


def published_with_plans(
    conn: Connection, accounts: Sequence[str], since: datetime
) -> list[PublishedPost]:
    """Every published delivery since ``since`` with the ages planned for it: at start, so
    ages added to the configuration are planned for posts still young enough."""
    posts = conn.execute(_published(accounts, since).order_by(D.c.published_at, D.c.id)).all()
    if not posts:
        return []
    planned: dict[int, set[int]] = {}
    gone: set[int] = set()
    q = (
        select(E.c.delivery_id, E.c.age_seconds, E.c.state)
        .select_from(E.join(D, D.c.id == E.c.delivery_id))
        .where(D.c.account.in_(list(accounts)), D.c.published_at >= since)
    )
    for r in conn.execute(q):
        planned.setdefault(r.delivery_id, set()).add(r.age_seconds)
        if r.state == ReadingState.GONE.value:
            gone.add(r.delivery_id)
    return [
        PublishedPost(
            r.id,
            r.post_id,
            r.account,
            r.network,
            r.remote_id,
            r.published_at,
            frozenset(planned.get(r.id, ())),
            r.id in gone,
        )
        for r in posts
    ]


def plan(conn: Connection, readings: Sequence[Reading], now: datetime) -> int:
    """Add readings due; one already there (another daemon planned it) is left as it is."""
    if not readings:
        return 0
    ids = sorted({r.delivery_id for r in readings})
    there = {
        (r.delivery_id, r.age_seconds)
        for r in conn.execute(
            select(E.c.delivery_id, E.c.age_seconds).where(E.c.delivery_id.in_(ids))
        )
    }
    rows = [r.row(now) for r in readings if r.key not in there]
    if rows:
        conn.execute(insert(E), rows)
    return len(rows)


def due(conn: Connection, now: datetime, accounts: Sequence[str], limit: int) -> list[Reading]:
    """Pending readings of these accounts whose time has come, earliest first."""
    if not accounts:
        return []
    q = (
        select(E)
        .where(E.c.state == PENDING, E.c.next_at <= now, E.c.account.in_(list(accounts)))
        .order_by(E.c.next_at, E.c.delivery_id, E.c.age_seconds)
        .limit(limit)
    )
    return [Reading.from_row(r) for r in conn.execute(q)]


def next_at(conn: Connection, accounts: Sequence[str]) -> datetime | None:
    """When the earliest pending reading of these accounts is due."""
    if not accounts:
        return None
    q = select(func.min(E.c.next_at)).where(E.c.state == PENDING, E.c.account.in_(list(accounts)))
    return _aware(conn.execute(q).scalar())


def claim(
    conn: Connection, readings: Sequence[Reading], now: datetime, lease_until: datetime
) -> list[Reading]:
    """Take these readings for one read: each still pending and due moves its ``next_at``
    to ``lease_until`` (if this daemon dies, another reads it then) and counts an attempt.
    Returns those won."""
    won = []
    for r in readings:
        delivery_id, age = r.key
        result = conn.execute(
            update(E)
            .where(
                E.c.delivery_id == delivery_id,
                E.c.age_seconds == age,
                E.c.state == PENDING,
                E.c.next_at <= now,
            )
            .values(next_at=lease_until, attempts=E.c.attempts + 1, updated_at=now)
        )
        if result.rowcount == 1:
            won.append(r)
    return won


def _pending(key: tuple[int, int]) -> Any:
    return and_(E.c.delivery_id == key[0], E.c.age_seconds == key[1], E.c.state == PENDING)


def settle(conn: Connection, changes: Sequence[ReadingChange], now: datetime) -> int:
    """Write readings' results; returns how many snapshots were appended. A result for a
    reading no longer pending (another daemon's, or a stale claim) is dropped."""
    appended = 0
    for change in changes:
        if isinstance(change, ReadingTaken | ReadingGone):
            snap = change.snapshot
            key = (snap.delivery_id, int(snap.age.total_seconds()))
            state = ReadingState.TAKEN if isinstance(change, ReadingTaken) else ReadingState.GONE
            result = conn.execute(
                update(E).where(_pending(key)).values(state=state.value, updated_at=now)
            )
            if result.rowcount != 1:
                continue
            conn.execute(insert(N).values(**snap.row()))
            appended += 1
            if state is ReadingState.GONE:
                conn.execute(
                    update(E)
                    .where(E.c.delivery_id == snap.delivery_id, E.c.state == PENDING)
                    .values(state=ReadingState.GONE.value, last_error=None, updated_at=now)
                )
        elif isinstance(change, ReadingRetry):
            conn.execute(
                update(E)
                .where(_pending(change.key))
                .values(next_at=change.at, last_error=change.error, updated_at=now)
            )
        else:
            assert isinstance(change, ReadingMissed)
            conn.execute(
                update(E)
                .where(_pending(change.key))
                .values(state=ReadingState.MISSED.value, last_error=change.reason, updated_at=now)
            )
    return appended


def hold(conn: Connection, account: str, until: datetime, why: str, now: datetime) -> None:
    """A rate-limited account's pending readings wait until ``until``."""
    conn.execute(
        update(E)
        .where(E.c.account == account, E.c.state == PENDING, E.c.next_at < until)
        .values(next_at=until, last_error=why, updated_at=now)
    )


def _window(q: Any, column: Any, since: datetime | None, until: datetime | None) -> Any:
    if since is not None:
        q = q.where(column >= since)
    if until is not None:
        q = q.where(column < until)
    return q


def snapshots(
    conn: Connection,
    account: str | None,
    since: datetime | None,
    until: datetime | None,
    post_id: str | None = None,
) -> list[Snapshot]:
    q = _window(select(N), N.c.taken_at, since, until)
    if account is not None:
        q = q.where(N.c.account == account)
    if post_id is not None:
        q = q.where(N.c.post_id == post_id)
    q = q.order_by(N.c.taken_at, N.c.id)
    return [Snapshot.from_row(r) for r in conn.execute(q)]


def readings(conn: Connection, post_id: str | None) -> list[Reading]:
    q = select(E).order_by(E.c.due_at, E.c.delivery_id, E.c.age_seconds)
    if post_id is not None:
        q = q.where(E.c.post_id == post_id)
    return [Reading.from_row(r) for r in conn.execute(q)]


def add_followers(conn: Connection, count: FollowerCount) -> None:
    conn.execute(
        insert(F).values(
            account=count.account,
            network=count.network,
            taken_at=count.taken_at,
            count=count.count,
        )
    )


def followers(
    conn: Connection, account: str | None, since: datetime | None, until: datetime | None
) -> list[FollowerCount]:
    q = _window(select(F), F.c.taken_at, since, until)
    if account is not None:
        q = q.where(F.c.account == account)
    q = q.order_by(F.c.taken_at, F.c.id)
    return [
        FollowerCount(r.account, r.network, r.taken_at, r._mapping["count"])
        for r in conn.execute(q)
    ]


def last_followers(conn: Connection, accounts: Sequence[str]) -> dict[str, datetime]:
    """When each account's follower count was last read."""
    if not accounts:
        return {}
    q = (
        select(F.c.account, func.max(F.c.taken_at))
        .where(F.c.account.in_(list(accounts)))
        .group_by(F.c.account)
    )
    out: dict[str, datetime] = {}
    for account, when in conn.execute(q):
        aware = _aware(when)
        assert aware is not None
        out[account] = aware
    return out


def _aware(value: Any) -> datetime | None:
    """An aggregate's time: SQLite's MIN()/MAX() hand back the stored text."""
    if isinstance(value, str):
        return hot.loaded(value)
    assert value is None or isinstance(value, datetime)
    return value
