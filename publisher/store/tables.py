"""The tables as SQLAlchemy sees them, and the statements every backend runs alike.

Where a statement decides a state change for speed, it reads where the change applies from
the lifecycle: ``tests/test_lifecycle.py`` checks, state by state, that each statement and
its lifecycle function agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.engine import Connection

from publisher import lifecycle
from publisher.lifecycle import KEEP, Change, Event
from publisher.states import DeliveryState
from publisher.store.models import (
    AccountStateRow,
    AttemptRow,
    DeliveryRow,
    PostRow,
    SyncStateRow,
)
from publisher.store.records import Delivery

D = DeliveryRow.__table__  # type: ignore[attr-defined]
A = AttemptRow.__table__  # type: ignore[attr-defined]
P = PostRow.__table__  # type: ignore[attr-defined]
S = AccountStateRow.__table__  # type: ignore[attr-defined]
Q = SyncStateRow.__table__  # type: ignore[attr-defined]


def _states(event: Event) -> list[str]:
    """The states ``event`` applies in (``lifecycle.APPLIES``), for a statement's WHERE."""
    return sorted(s.value for s in lifecycle.APPLIES[event])


CLAIMABLE = _states(Event.CLAIM)
DEFERRABLE = _states(Event.DEFER)
CANCELABLE = _states(Event.UNPLAN)
INTERRUPTIBLE = _states(Event.CRASH)
LOOKED_UP = _states(Event.TAKE_LOOKUP)
DUE_WORK = sorted(s.value for s in lifecycle.DUE_WORK)


def written(change: Change) -> dict[str, Any]:
    """The columns a lifecycle change writes (its state, and the fields it does not keep),
    for a statement. No statement publishes: a publication is a result, written with its
    time and content by ``Transition.of``."""
    assert not change.publishes
    values: dict[str, Any] = {"state": change.state.value}
    for name in (
        "due_at",
        "reason",
        "last_error",
        "error_class",
        "lookups",
        "attempts",
    ):
        value = getattr(change, name)
        if value is not KEEP:
            values[name] = value
    return values


def sending(worker: str, now: datetime, lease_until: datetime) -> dict[str, Any]:
    """A claim's values (``lifecycle.claim``): ``sending`` under a new fence and this
    worker's lease, one more attempt counted."""
    return {
        "state": lifecycle.CLAIMED.state.value,
        "attempts": D.c.attempts + 1,
        "fence": D.c.fence + 1,
        "lease_owner": worker,
        "lease_until": lease_until,
        "updated_at": now,
    }


def deliveries(conn: Connection, q: Any) -> list[Delivery]:
    return [Delivery.from_row(r) for r in conn.execute(q)]


def scalar(conn: Connection, q: Any) -> Any:
    return conn.execute(q).scalar()


def recent(conn: Connection, names: Sequence[str], since: datetime) -> dict[str, list[datetime]]:
    """When each account published (or is publishing) since ``since``: for the caps."""
    out: dict[str, list[datetime]] = {a: [] for a in names}
    if not names:
        return out
    q = select(D.c.account, D.c.published_at, D.c.updated_at, D.c.state).where(
        D.c.account.in_(list(names)),
        or_(
            and_(D.c.state == DeliveryState.PUBLISHED.value, D.c.published_at >= since),
            and_(D.c.state == DeliveryState.DRY_RUN.value, D.c.published_at >= since),
            D.c.state.in_([DeliveryState.SENDING.value, DeliveryState.UNKNOWN.value]),
        ),
    )
    for r in conn.execute(q):
        out[r.account].append(r.published_at or r.updated_at)
    for times in out.values():
        times.sort()
    return out


def count_sending(conn: Connection, accounts: Sequence[str]) -> dict[str, int]:
    """Each account's deliveries in ``sending`` now, by whichever daemon."""
    q = (
        select(D.c.account, func.count())
        .where(D.c.account.in_(list(accounts)), D.c.state == DeliveryState.SENDING.value)
        .group_by(D.c.account)
    )
    return {a: n for a, n in conn.execute(q).all()}
