"""Claims and results: a scheduling pass (``take_due``), a claim one by one, a batch of
results. Transaction bodies of ``Store``, each on the connection its backend opened.

Every write that follows a claim carries the claim's fencing token (``fence``): a worker that
lost its claim (a paused daemon whose lease expired) cannot overwrite a newer owner's result.
What a pass does with the due deliveries is not decided here: the caller's ``Planner`` (the
engine's triage) decides, and the lifecycle says what each decision writes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Protocol

from sqlalchemy import update
from sqlalchemy.engine import Connection

from publisher import lifecycle
from publisher.lifecycle import Change
from publisher.store.backend import Backend
from publisher.store.records import Delivery, LookupAsk, Transition
from publisher.store.tables import CLAIMABLE, D, recent, sending, written
from publisher.triage import Triage


class Planner(Protocol):
    """Decides what a pass does with the deliveries due (the engine passes its triage).

    It gets the candidates (earliest first), their accounts' recent publications and
    requests in flight (``history``, ``in_flight``), the time once the claim holds its
    locks, and the slots left; it returns which go now, which are missed, which wait.
    """

    def __call__(
        self,
        candidates: list[Delivery],
        history: dict[str, list[datetime]],
        in_flight: dict[str, int],
        granted: datetime,
        slots: int,
        /,
    ) -> Triage: ...


@dataclass(frozen=True)
class TakeDue:
    """One scheduling pass, as asked of ``Store.take_due``.

    ``free`` slots are shared: lookups first (up to ``lookups.limit``), then deliveries
    (``decide`` gets the candidates and the slots left). ``exclude_accounts`` are left out
    of both and of the next due time, as are the accounts this pass brings to
    ``per_account`` requests in flight (counted from ``in_flight``, this daemon's own, taken
    as it is when the request is made).

    With ``ahead``, deliveries due up to ``now + ahead`` are claimed too, but those of
    ``capped`` accounts (all accounts if ``capped`` is None), whose caps are reckoned from
    claim times. The caller holds them until their time: a slow commit (a disk that stalls
    an fsync now and then) then delays no post.

    ``decide`` gets the time read again from ``clock`` once the locks are held: waiting for
    them, behind a slow or frozen daemon's claim, can take seconds, and a lease or a cap
    reckoned from before the wait would be stale before it was even committed.
    """

    now: datetime
    free: int
    worker: str
    lease: timedelta
    decide: Planner
    exclude_accounts: frozenset[str] = frozenset()
    ahead: timedelta = timedelta(0)
    lookups: LookupAsk | None = None
    per_account: int | None = None
    capped: frozenset[str] | None = None
    in_flight: Mapping[str, int] | None = None
    clock: Callable[[], datetime] | None = None

    def __post_init__(self) -> None:
        # Taken as they are now: a caller's own dict goes on changing while the pass waits.
        set_ = object.__setattr__
        set_(self, "exclude_accounts", frozenset(self.exclude_accounts))
        if self.capped is not None:
            set_(self, "capped", frozenset(self.capped))
        if self.in_flight is not None:
            set_(self, "in_flight", MappingProxyType(dict(self.in_flight)))


@dataclass
class Pass:
    """What one scheduling pass took: lookups to start, the claim's triage, the next work."""

    lookups: list[Delivery]
    plan: Triage
    next_due: datetime | None


def take_due(conn: Connection, backend: Backend, ask: TakeDue) -> Pass:
    """``Store.take_due``'s transaction: lookups, then the claim, then the next due time."""
    excluded = sorted(ask.exclude_accounts)
    found: list[Delivery] = []
    if ask.lookups is not None and ask.lookups.limit > 0:
        found = [
            d
            for d in backend.due_unknown(conn, ask.now, ask.lookups.limit)
            if d.account in ask.lookups.accounts
            and d.id not in ask.lookups.busy
            and d.account not in ask.exclude_accounts
        ]
    plan = _claim(conn, backend, ask, excluded, found)
    skip = set(excluded)
    if ask.per_account is not None:
        taken = _plus(ask.in_flight or {}, [*found, *plan.chosen])
        skip |= {a for a, n in taken.items() if n >= ask.per_account}
    return Pass(found, plan, backend.next_due(conn, sorted(skip)))


def _claim(
    conn: Connection, backend: Backend, ask: TakeDue, excluded: list[str], lookups: list[Delivery]
) -> Triage:
    """The claim part of a pass; ``lookups`` start in the same pass (they hold their
    accounts' slots too)."""
    now, free = ask.now, ask.free - len(lookups)
    if free <= 0:
        return Triage()
    horizon = now + ask.ahead
    candidates = backend.due_candidates(conn, now, horizon, free * 2, excluded)
    if horizon > now:
        # Claimed ahead of their time only where no cap is reckoned from the claim's time.
        capped = ask.capped
        candidates = [
            d
            for d in candidates
            if d.due_at <= now or (capped is not None and d.account not in capped)
        ]
    if not candidates:
        return Triage()
    accounts = sorted({d.account for d in candidates})
    backend.lock_accounts(conn, accounts)
    granted = max(now, ask.clock()) if ask.clock is not None else now
    # Only accounts with caps need their history.
    with_caps = accounts if ask.capped is None else sorted(set(accounts) & ask.capped)
    history = recent(conn, with_caps, granted - timedelta(hours=26))
    counts = backend.in_flight(conn, accounts, ask.in_flight)
    plan = ask.decide(candidates, history, _plus(counts, lookups), granted, free)
    for d, why in plan.missed:
        missed = lifecycle.missed(d.state, why=why)
        if isinstance(missed, Change):
            _write_change(conn, d, missed, granted)
    for d, until, why in plan.deferred:
        later = lifecycle.deferred(d.state, until=until, why=why)
        if isinstance(later, Change):
            _write_change(conn, d, later, granted)
    # The rows are this transaction's (``due_candidates``): one statement claims them all.
    if plan.chosen:
        backend.mark_sending(
            conn, [d.id for d in plan.chosen], ask.worker, granted + ask.lease, granted
        )
    plan.chosen = [_claimed(d, granted) for d in plan.chosen]
    return plan


def _write_change(conn: Connection, d: Delivery, change: Change, now: datetime) -> None:
    conn.execute(
        update(D)
        .where(D.c.id == d.id, D.c.fence == d.fence)
        .values(**written(change), updated_at=now)
    )


def _claimed(d: Delivery, now: datetime) -> Delivery:
    """``d`` as a claim at ``now`` left it (``lifecycle.claim``)."""
    return dataclasses.replace(
        d,
        state=lifecycle.CLAIMED.state,
        attempts=d.attempts + 1,
        fence=d.fence + 1,
        updated_at=now,
    )


def _plus(counts: Mapping[str, int], more: Iterable[Delivery]) -> dict[str, int]:
    out = dict(counts)
    for d in more:
        out[d.account] = out.get(d.account, 0) + 1
    return out


def claim(
    conn: Connection,
    candidates: Sequence[Delivery],
    now: datetime,
    worker: str,
    lease: timedelta,
) -> list[Delivery]:
    """``sending``, under a new fence and lease, for each delivery still pending as seen."""
    won = []
    for d in candidates:
        result = conn.execute(
            update(D)
            .where(D.c.id == d.id, D.c.fence == d.fence, D.c.state.in_(CLAIMABLE))
            .values(**sending(worker, now, now + lease))
        )
        if result.rowcount == 1:
            won.append(_claimed(d, now))
    return won


def finish(conn: Connection, backend: Backend, transitions: Sequence[Transition]) -> list[int]:
    """A batch of results: one read of the fences, one bulk write per shape of result.

    The rows are read and held first (``lock_fences``), so the fences compared are the ones
    the writes meet. Returns the ids whose fence was stale.
    """
    ids = [t.delivery_id for t in transitions]
    if len(set(ids)) < len(ids):  # one delivery twice: its results apply in order
        return [i for t in transitions for i in finish(conn, backend, [t])]
    fences = backend.lock_fences(conn, ids)
    stale = [t.delivery_id for t in transitions if fences.get(t.delivery_id) != t.fence]
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for t in transitions:
        if t.delivery_id in stale:
            continue
        values = t.values()
        shapes.setdefault(tuple(sorted(values)), []).append(
            {**values, "b_id": t.delivery_id, "b_fence": t.fence}
        )
    for keys, rows in shapes.items():
        backend.write_results(conn, keys, rows)
    # Every attempt is in the ledger, even one whose result came too late to be written
    # (a paused daemon's): it really happened, and a human may need to see it.
    attempts = [
        t.attempt.row()
        if t.delivery_id not in stale
        else {**t.attempt.row(), "error": _late(t.attempt.error)}
        for t in transitions
        if t.attempt is not None
    ]
    if attempts:
        backend.insert_attempts(conn, attempts)
    return stale


def _late(error: str | None) -> str:
    note = "result not recorded: another daemon owned the delivery by then"
    return f"{note}; {error}" if error else note
