"""The store's operations. Each public coroutine is one transaction.

The operations say what a transaction does; the ``Backend`` runs it and holds what differs
between SQLite and PostgreSQL. Claims and results are in ``claims.py``, the applied plan's
reading and writing in ``plans.py``, the values handed in and out in ``records.py``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, TypeVarTuple

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection

from publisher import lifecycle
from publisher.states import DeliveryState, Outcome
from publisher.store import claims, inbox, plans
from publisher.store import engagement as eng
from publisher.store.backend import Backend, open_backend
from publisher.store.claims import Pass, Planner, TakeDue
from publisher.store.models import AttemptRow
from publisher.store.records import (
    EXPECT_STATE,
    AccountState,
    Attempt,
    Delivery,
    FollowerCount,
    LoadState,
    LookupAsk,
    PlanChanges,
    PlanEntry,
    PublishedPost,
    Reading,
    ReadingChange,
    Snapshot,
    Transition,
)
from publisher.store.tables import (
    CLAIMABLE,
    DEFERRABLE,
    INTERRUPTIBLE,
    LOOKED_UP,
    A,
    D,
    P,
    Q,
    S,
    deliveries,
    recent,
    scalar,
    written,
)

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

__all__ = [
    "EXPECT_STATE",
    "AccountState",
    "Attempt",
    "Delivery",
    "LoadState",
    "LookupAsk",
    "Pass",
    "PlanChanges",
    "PlanEntry",
    "Planner",
    "Store",
    "TakeDue",
    "Transition",
]


class Store:
    """The store's operations; each public coroutine is one transaction.

    The bodies are plain functions of a SQLAlchemy ``Connection``, run in a transaction of
    the ``Backend``; where SQLite and PostgreSQL differ, they ask the backend.
    """

    def __init__(self, url: str, backend: Backend) -> None:
        self.url = url
        self.backend = backend

    @classmethod
    async def open(cls, url: str, *, readonly: bool = False) -> Store:
        """Open and upgrade the schema (a newer database is refused)."""
        return cls(url, await open_backend(url, readonly=readonly))

    async def close(self) -> None:
        await self.backend.close()

    @property
    def dialect(self) -> str:
        return self.backend.name

    @property
    def shared(self) -> bool:
        """Several daemons may share this database: leases matter."""
        return self.backend.shared

    async def read(self, fn: Callable[[Connection, *Ts], T], *args: *Ts) -> T:
        """Run ``fn(connection, *args)`` in a read transaction."""
        return await self.backend.run(False, fn, *args)

    async def transaction(self, fn: Callable[[Connection, *Ts], T], *args: *Ts) -> T:
        """Run ``fn(connection, *args)`` in a write transaction, committed if it returns."""
        return await self.backend.run(True, fn, *args)

    # ------------------------------------------------------------------ sync

    async def plan_index(self) -> dict[tuple[str, str], PlanEntry]:
        return await self.read(plans.plan_index)

    async def plan_entries(self, post_ids: Iterable[str]) -> dict[tuple[str, str], PlanEntry]:
        """``plan_index`` for some posts only: what an incremental sync must look at."""
        ids = sorted(set(post_ids))
        if not ids:
            return {}
        return await self.read(plans.plan_entries, ids)

    async def plan_exception_posts(self, sync_reason: str) -> set[str]:
        """Posts with a delivery a sync must look at although its plan did not change: one
        canceled other than by a sync (dropped by hand), or one published with other content
        than the stored plan (an edit raced the send)."""
        q = select(D.c.post_id).where(
            or_(
                and_(
                    D.c.state == DeliveryState.CANCELED.value,
                    or_(D.c.reason.is_(None), D.c.reason != sync_reason),
                ),
                and_(
                    D.c.state.in_([DeliveryState.PUBLISHED.value, DeliveryState.DRY_RUN.value]),
                    D.c.published_hash.is_not(None),
                    D.c.published_hash != D.c.content_hash,
                ),
            )
        )
        return await self.read(lambda conn: set(conn.execute(q.distinct()).scalars()))

    async def post_index(self) -> dict[str, tuple[str, int, datetime | None]]:
        """Each post's (content hash, line, removed_at): sync writes only what changed."""

        def body(conn: Connection) -> dict[str, tuple[str, int, datetime | None]]:
            rows = conn.execute(select(P.c.id, P.c.content_hash, P.c.line, P.c.removed_at))
            return {r.id: (r.content_hash, r.line, r.removed_at) for r in rows}

        return await self.read(body)

    async def apply(
        self,
        changes: PlanChanges,
        load: LoadState,
        *,
        expect: tuple[str | None, datetime | None] | None = None,
    ) -> bool:
        """Apply a whole plan diff and record the load, atomically.

        With ``expect`` (file hash, applied_at), only if the last applied load is still that
        one (a diff computed against it would be wrong after another apply); and only if each
        delivery it updates or cancels is still in the state the diff read. False if not, and
        nothing is written.
        """
        try:
            await self.transaction(plans.apply, changes, load, expect)
        except plans.StalePlan:
            return False
        return True

    async def record_load(self, load: LoadState) -> None:
        await self.transaction(plans.write_load, load)

    async def load_state(self) -> LoadState | None:
        def body(conn: Connection) -> LoadState | None:
            r = conn.execute(select(Q).where(Q.c.id == 1)).first()
            if r is None:
                return None
            return LoadState(r.loaded_at, bool(r.ok), r.file_hash, r.message, r.applied_at)

        return await self.read(body)

    # ---------------------------------------------------------------- engine

    async def next_due(self, exclude_accounts: Iterable[str] = ()) -> datetime | None:
        """The earliest time there is something to do: publish, or look an unknown up."""
        return await self.read(self.backend.next_due, sorted(set(exclude_accounts)))

    async def due(
        self, now: datetime, limit: int, exclude_accounts: Iterable[str] = ()
    ) -> list[Delivery]:
        """Pending deliveries whose time has come, earliest first (not claimed yet)."""
        q = (
            select(D)
            .where(D.c.state.in_(CLAIMABLE), D.c.due_at <= now)
            .order_by(D.c.due_at, D.c.id)
            .limit(limit)
        )
        excluded = list(exclude_accounts)
        if excluded:
            q = q.where(D.c.account.not_in(excluded))
        return await self.read(deliveries, q)

    async def due_unknown(self, now: datetime, limit: int) -> list[Delivery]:
        """Unknown deliveries whose next lookup is due."""
        return await self.read(self.backend.due_unknown, now, limit)

    async def take_due(self, ask: TakeDue) -> Pass:
        """One scheduling pass in one transaction: the unknown deliveries to look up, what is
        due decided on (by ``ask.decide``) and claimed (``sending`` committed for the chosen),
        and when the next work is due once these are out.

        One transaction rather than three: under a burst the daemon's passes are its
        critical path, and each call waits its turn behind the result writes. The backend
        keeps concurrent passes apart: on PostgreSQL rows taken ``FOR UPDATE SKIP LOCKED``
        (daemons never wait on each other's rows) and each account's caps reckoned under its
        advisory lock; on SQLite the transaction's ``BEGIN IMMEDIATE`` serializes everything.
        """
        return await self.transaction(claims.take_due, self.backend, ask)

    async def heartbeat(self, worker: str, until: datetime) -> int:
        """Extend the leases this worker holds; returns how many it still holds."""

        def body(conn: Connection) -> int:
            result = conn.execute(
                update(D)
                .where(D.c.lease_owner == worker, D.c.state == DeliveryState.SENDING.value)
                .values(lease_until=until)
            )
            return int(result.rowcount)

        return await self.transaction(body)

    def sync_turn(self) -> AbstractAsyncContextManager[bool]:
        """One daemon at a time applies the queue file: yields False if another one is."""
        return self.backend.sync_turn()

    async def db_now(self) -> datetime | None:
        """The database server's clock (PostgreSQL); None where there is no server."""
        return await self.backend.server_now()

    async def claim(
        self,
        candidates: Sequence[Delivery],
        now: datetime,
        worker: str,
        lease: timedelta,
    ) -> list[Delivery]:
        """Commit ``sending`` for these deliveries (if still pending); returns those won."""
        if not candidates:
            return []

        return await self.transaction(claims.claim, list(candidates), now, worker, lease)

    async def finish(self, transitions: Sequence[Transition]) -> list[int]:
        """Write results (one transaction for the batch); returns ids whose fence was stale."""
        if not transitions:
            return []
        return await self.transaction(claims.finish, self.backend, transitions)

    async def defer_account(self, account: str, until: datetime, why: str) -> None:
        """Every pending delivery of a rate-limited account waits until ``until``: what
        ``lifecycle.deferred`` writes, for all of them in one statement."""

        def body(conn: Connection) -> None:
            conn.execute(
                update(D)
                .where(
                    D.c.account == account,
                    D.c.state.in_(DEFERRABLE),
                    D.c.due_at < until,
                )
                .values(due_at=until, reason=why)
            )

        await self.transaction(body)

    async def recover_in_flight(
        self,
        now: datetime,
        worker: str | None = None,
        expired_only: bool = False,
        lookup_at: datetime | None = None,
    ) -> list[Delivery]:
        """Deliveries left in ``sending`` by a dead process become ``unknown``
        (``lifecycle.interrupted``), looked up at ``lookup_at``."""

        def body(conn: Connection) -> list[Delivery]:
            q = select(D).where(D.c.state.in_(INTERRUPTIBLE))
            if expired_only:
                q = q.where(or_(D.c.lease_until.is_(None), D.c.lease_until < now))
            if worker is not None:
                q = q.where(D.c.lease_owner == worker)
            rows = [Delivery.from_row(r) for r in conn.execute(q)]
            found = []
            for d in rows:
                change = lifecycle.interrupted(d.state, lookup_at=lookup_at or now)
                if isinstance(change, lifecycle.Refused):
                    continue
                result = conn.execute(
                    update(D)
                    .where(D.c.id == d.id, D.c.fence == d.fence, D.c.state == d.state.value)
                    .values(
                        fence=D.c.fence + 1,
                        lease_owner=None,
                        lease_until=None,
                        updated_at=now,
                        **written(change),
                    )
                )
                if result.rowcount != 1:
                    continue
                conn.execute(
                    insert(A).values(
                        **Attempt(
                            d.id,
                            d.post_id,
                            d.account,
                            d.network,
                            d.attempts,
                            d.updated_at,
                            now,
                            Outcome.INTERRUPTED,
                            error=lifecycle.INTERRUPTED,
                        ).row()
                    )
                )
                found.append(dataclasses.replace(d, state=change.state, fence=d.fence + 1))
            return found

        return await self.transaction(body)

    async def by_state(self, *states: DeliveryState, limit: int | None = None) -> list[Delivery]:
        q = select(D).where(D.c.state.in_([s.value for s in states])).order_by(D.c.due_at, D.c.id)
        if limit is not None:
            q = q.limit(limit)
        return await self.read(deliveries, q)

    async def get(self, delivery_id: int) -> Delivery | None:
        found = await self.read(deliveries, select(D).where(D.c.id == delivery_id))
        return found[0] if found else None

    async def find(self, post_id: str, account: str | None = None) -> list[Delivery]:
        q = select(D).where(D.c.post_id == post_id)
        if account is not None:
            q = q.where(D.c.account == account)
        return await self.read(deliveries, q.order_by(D.c.id))

    async def first_attempt_at(self, delivery_id: int) -> datetime | None:
        """When the delivery's first attempt started (the ledger is append-only)."""

        def body(conn: Connection) -> Any:
            return conn.execute(
                select(func.min(A.c.started_at)).where(A.c.delivery_id == delivery_id)
            ).scalar()

        value = await self.read(body)
        if isinstance(value, str):  # SQLite's MIN() hands back the stored text
            value = datetime.fromisoformat(value)
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        return None

    async def take_unknown(
        self, delivery: Delivery, now: datetime, worker: str, lease: timedelta | None = None
    ) -> Delivery | None:
        """Claim an unknown delivery for resolution (bumps the fence).

        With ``lease``, its next lookup moves that far ahead while this one runs, so other
        daemons do not take it over mid-lookup (each would refuse the last one's result);
        if this daemon dies meanwhile, another looks it up once that time has come.
        """
        change = lifecycle.taken_for_lookup(
            delivery.state, next_lookup=None if lease is None else now + lease
        )
        if isinstance(change, lifecycle.Refused):
            return None
        values: dict[str, Any] = {
            "fence": D.c.fence + 1,
            "lease_owner": worker,
            "updated_at": now,
            **written(change),
        }

        def body(conn: Connection) -> int:
            result = conn.execute(
                update(D)
                .where(
                    D.c.id == delivery.id,
                    D.c.fence == delivery.fence,
                    D.c.state.in_(LOOKED_UP),
                )
                .values(**values)
            )
            return int(result.rowcount)

        if await self.transaction(body) != 1:
            return None
        return dataclasses.replace(delivery, fence=delivery.fence + 1)

    async def lease_holds(self, delivery: Delivery, until: datetime) -> bool:
        """Is this claim still the current one (same fence, still sending), leased past
        ``until``? Asked just before a send that may come late."""
        q = (
            select(func.count())
            .select_from(D)
            .where(
                D.c.id == delivery.id,
                D.c.fence == delivery.fence,
                D.c.state == DeliveryState.SENDING.value,
                D.c.lease_until > until,
            )
        )
        return bool(await self.read(scalar, q))

    async def recent_publications(
        self, accounts: Iterable[str], since: datetime
    ) -> dict[str, list[datetime]]:
        """When each account published (or is publishing) since ``since``: for the caps."""
        return await self.read(recent, list(accounts), since)

    # ------------------------------------------------------------- accounts

    async def account_states(self) -> dict[str, AccountState]:
        def body(conn: Connection) -> dict[str, AccountState]:
            return {
                r.account: AccountState(r.account, r.limited_until, r.attention, r.attention_reason)
                for r in conn.execute(select(S))
            }

        return await self.read(body)

    async def set_account_state(
        self,
        account: str,
        now: datetime,
        *,
        limited_until: datetime | None = None,
        attention: str | None = None,
        attention_reason: str | None = None,
    ) -> None:
        values = {
            "limited_until": limited_until,
            "attention": attention,
            "attention_reason": attention_reason,
            "updated_at": now,
        }

        def body(conn: Connection) -> None:
            result = conn.execute(update(S).where(S.c.account == account).values(**values))
            if result.rowcount == 0:
                conn.execute(insert(S).values(account=account, **values))

        await self.transaction(body)

    # --------------------------------------------------------------- reading

    async def attempts(
        self,
        *,
        account: str | None = None,
        post_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[AttemptRow]:
        q = select(AttemptRow).order_by(A.c.finished_at, A.c.id)
        if account is not None:
            q = q.where(A.c.account == account)
        if post_id is not None:
            q = q.where(A.c.post_id == post_id)
        if since is not None:
            q = q.where(A.c.finished_at >= since)
        if until is not None:
            q = q.where(A.c.finished_at < until)

        def body(conn: Connection) -> list[AttemptRow]:
            return [AttemptRow.model_validate(dict(r._mapping)) for r in conn.execute(q)]

        return await self.read(body)

    async def all_deliveries(self) -> list[Delivery]:
        return await self.read(deliveries, select(D).order_by(D.c.id))

    async def count_by_state(self) -> dict[DeliveryState, int]:
        def body(conn: Connection) -> dict[DeliveryState, int]:
            rows = conn.execute(select(D.c.state, func.count()).group_by(D.c.state)).all()
            return {DeliveryState(s): n for s, n in rows}

        return await self.read(body)

    async def count_by_account_state(self) -> dict[tuple[str, str], int]:
        def body(conn: Connection) -> dict[tuple[str, str], int]:
            rows = conn.execute(
                select(D.c.account, D.c.state, func.count()).group_by(D.c.account, D.c.state)
            ).all()
            return {(a, s): n for a, s, n in rows}

        return await self.read(body)

    async def wipe(self) -> None:
        """Empty every table (dry-run rehearsal databases start afresh)."""

        def body(conn: Connection) -> None:
            for table in (eng.N, eng.E, eng.F, A, D, P, S, Q):
                conn.execute(delete(table))

        await self.transaction(body)

    # ------------------------------------------------------------ engagement

    async def snapshots(
        self,
        account: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Snapshot]:
        """The engagement ledger (taken in [since, until)), oldest first."""
        return await self.read(eng.snapshots, account, since, until)

    async def snapshots_of_post(self, post_id: str) -> list[Snapshot]:
        """One post's snapshots, every account, oldest first."""
        return await self.read(eng.snapshots, None, None, None, post_id)

    async def follower_counts(
        self,
        account: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[FollowerCount]:
        """Follower counts read in [since, until), oldest first."""
        return await self.read(eng.followers, account, since, until)

    async def readings(self, post_id: str | None = None) -> list[Reading]:
        """Readings planned (pending, taken, gone, missed): what is still to come."""
        return await self.read(eng.readings, post_id)

    async def unplanned_posts(
        self, accounts: Sequence[str], since: datetime, limit: int
    ) -> list[PublishedPost]:
        """Published deliveries with no reading planned yet."""
        return await self.read(eng.unplanned, list(accounts), since, limit)

    async def published_posts(
        self, accounts: Sequence[str], since: datetime, *, after: int = 0, limit: int = 1000
    ) -> list[PublishedPost]:
        """Published deliveries since ``since`` with the ages planned for each: ``limit`` of
        them, by delivery id after ``after``."""
        return await self.read(eng.published_with_plans, list(accounts), since, after, limit)

    async def plan_readings(self, readings: Sequence[Reading], now: datetime) -> int:
        """Add readings due (those already planned are left); returns how many were added."""
        return await self.transaction(eng.plan, list(readings), now)

    async def due_readings(
        self, now: datetime, accounts: Sequence[str], limit: int
    ) -> list[Reading]:
        return await self.read(eng.due, now, list(accounts), limit)

    async def next_reading_at(self, accounts: Sequence[str]) -> datetime | None:
        return await self.read(eng.next_at, list(accounts))

    async def claim_readings(
        self, readings: Sequence[Reading], now: datetime, lease_until: datetime
    ) -> list[Reading]:
        """Take these readings for one read (each still pending and due); returns those won."""
        if not readings:
            return []
        return await self.transaction(eng.claim, list(readings), now, lease_until)

    async def settle_readings(self, changes: Sequence[ReadingChange], now: datetime) -> int:
        """Write readings' results in one transaction; returns the snapshots appended."""
        if not changes:
            return 0
        return await self.transaction(eng.settle, list(changes), now)

    async def hold_readings(self, account: str, until: datetime, why: str, now: datetime) -> None:
        """A rate-limited account's pending readings wait until ``until``."""
        await self.transaction(eng.hold, account, until, why, now)

    async def add_follower_count(self, count: FollowerCount, gap: timedelta = timedelta(0)) -> int:
        """Append a follower count, unless one of the account's is less than ``gap`` older
        (several daemons on one database); returns the rows added."""
        return await self.transaction(eng.add_followers, count, gap)

    async def last_follower_counts(self, accounts: Sequence[str]) -> dict[str, datetime]:
        """When each account's follower count was last read."""
        return await self.read(eng.last_followers, list(accounts))

    # ------------------------------------------------------------ inbox (issue 20)

    async def hear(
        self,
        account: str,
        network: str,
        stream: str,
        items: Sequence[inbox.NewItem],
        cursor: str | None,
        now: datetime,
    ) -> list[int]:
        """Keep what ``account`` heard on ``stream`` and its cursor, together; the ids of the
        items new to the inbox."""
        return await self.transaction(inbox.hear, account, network, stream, items, cursor, now)

    async def listen_cursors(self) -> dict[tuple[str, str], tuple[str | None, datetime]]:
        return await self.read(inbox.cursors)

    async def listen_cursor(self, account: str, stream: str) -> str | None:
        return await self.read(inbox.cursor, account, stream)

    async def inbox_items(
        self,
        *,
        states: Sequence[inbox.ItemState] = (),
        accounts: Sequence[str] = (),
        watch: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[inbox.InboxItem]:
        """Items by the time they were said, newest first."""

        def body(conn: Connection) -> list[inbox.InboxItem]:
            return inbox.items(
                conn,
                states=states,
                accounts=accounts,
                watch=watch,
                since=since,
                until=until,
                limit=limit,
            )

        return await self.read(body)

    async def inbox_item(self, ref: str) -> inbox.InboxItem | None:
        """The item an inbox id or an item's URL names."""
        return await self.read(inbox.find, ref)

    async def set_item_state(self, item_id: int, state: inbox.ItemState, now: datetime) -> bool:
        return await self.transaction(inbox.set_state, item_id, state, now)

    async def plan_answer(self, item_id: int, post_id: str, account: str) -> None:
        await self.transaction(inbox.plan_answer, item_id, post_id, account)

    async def settle_answers(self, now: datetime) -> list[int]:
        return await self.transaction(inbox.settle_answers, now)

    async def own_posts(
        self, account: str, since: datetime, limit: int
    ) -> list[tuple[str, datetime]]:
        return await self.read(inbox.own_posts, account, since, limit)

    async def unalerted_items(self, since: datetime) -> list[inbox.InboxItem]:
        return await self.read(inbox.unalerted, since)

    async def mark_alerted(self, ids: Sequence[int], now: datetime) -> None:
        await self.transaction(inbox.mark_alerted, list(ids), now)

    async def received_times(self, since: datetime, until: datetime) -> dict[str, list[datetime]]:
        return await self.read(inbox.received_counts, since, until)

    async def alert_once(
        self, rule: str, account: str, window: datetime, count: int, now: datetime
    ) -> bool:
        return await self.transaction(inbox.alert_once, rule, account, window, count, now)
