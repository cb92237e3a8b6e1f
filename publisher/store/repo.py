"""The store's operations. Each public coroutine is one transaction.

Every write that follows a claim carries the claim's fencing token (``fence``): a worker that
lost its claim (a paused daemon whose lease expired) cannot overwrite a newer owner's result.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from publisher import lifecycle
from publisher.adapters.base import PostContent, RemotePart
from publisher.engine.decide import Triage
from publisher.lifecycle import KEEP, Change, Event
from publisher.states import DeliveryState, Outcome
from publisher.store import hot
from publisher.store.codec import content_from_json, parts_from_json, parts_to_json
from publisher.store.db import SQLiteRunner, is_sqlite, make_engine, migrate, migrate_sync
from publisher.store.models import (
    AccountStateRow,
    AttemptRow,
    DeliveryRow,
    PostRow,
    SyncStateRow,
)
from publisher.store.plan import EXPECT_STATE as EXPECT_STATE
from publisher.store.plan import LoadState, PlanChanges, PlanEntry

T = TypeVar("T")

SYNC_LOCK = 7270452  # the advisory lock held while one daemon applies the queue file

D = DeliveryRow.__table__  # type: ignore[attr-defined]
A = AttemptRow.__table__  # type: ignore[attr-defined]
P = PostRow.__table__  # type: ignore[attr-defined]
S = AccountStateRow.__table__  # type: ignore[attr-defined]
Q = SyncStateRow.__table__  # type: ignore[attr-defined]


def _states(event: Event) -> list[str]:
    """The states ``event`` applies in (``lifecycle.APPLIES``), for a statement's WHERE."""
    return sorted(s.value for s in lifecycle.APPLIES[event])


# Where a statement decides a state change for speed, it reads where the change applies from
# the lifecycle: ``tests/test_lifecycle.py`` checks, state by state, that each statement and
# its lifecycle function agree.
CLAIMABLE = _states(Event.CLAIM)
DEFERRABLE = _states(Event.DEFER)
CANCELABLE = _states(Event.UNPLAN)
INTERRUPTIBLE = _states(Event.CRASH)
LOOKED_UP = _states(Event.TAKE_LOOKUP)
DUE_WORK = sorted(s.value for s in lifecycle.DUE_WORK)


@dataclass(frozen=True)
class Delivery:
    id: int
    post_id: str
    account: str
    network: str
    state: DeliveryState
    scheduled_at: datetime
    due_at: datetime
    not_after: datetime | None
    from_slot: bool
    content_hash: str
    content_json: str
    attempts: int
    parts: tuple[RemotePart, ...]
    published_hash: str | None
    published_at: datetime | None
    remote_id: str | None
    remote_url: str | None
    last_error: str | None
    error_class: str | None
    reason: str | None
    fence: int
    updated_at: datetime
    lookups: int = 0

    def content(self) -> PostContent:
        return content_from_json(self.content_json)

    @classmethod
    def from_tuple(cls, row: Sequence[Any]) -> Delivery:
        """From a plain SQLite row of ``hot.COLUMNS`` (times as stored text)."""
        (
            id_,
            post_id,
            account,
            network,
            state,
            scheduled_at,
            due_at,
            not_after,
            from_slot,
            content_hash,
            content,
            attempts,
            parts,
            published_hash,
            published_at,
            remote_id,
            remote_url,
            last_error,
            error_class,
            reason,
            fence,
            updated_at,
            lookups,
        ) = row
        return cls(
            id=id_,
            post_id=post_id,
            account=account,
            network=network,
            state=DeliveryState(state),
            scheduled_at=hot.loaded(scheduled_at),  # type: ignore[arg-type]
            due_at=hot.loaded(due_at),  # type: ignore[arg-type]
            not_after=hot.loaded(not_after),
            from_slot=bool(from_slot),
            content_hash=content_hash,
            content_json=content,
            attempts=attempts,
            parts=parts_from_json(parts),
            published_hash=published_hash,
            published_at=hot.loaded(published_at),
            remote_id=remote_id,
            remote_url=remote_url,
            last_error=last_error,
            error_class=error_class,
            reason=reason,
            fence=fence,
            updated_at=hot.loaded(updated_at),  # type: ignore[arg-type]
            lookups=lookups or 0,
        )

    @classmethod
    def from_row(cls, r: Any) -> Delivery:
        return cls(
            id=r.id,
            post_id=r.post_id,
            account=r.account,
            network=r.network,
            state=DeliveryState(r.state),
            scheduled_at=r.scheduled_at,
            due_at=r.due_at,
            not_after=r.not_after,
            from_slot=bool(r.from_slot),
            content_hash=r.content_hash,
            content_json=r.content,
            attempts=r.attempts,
            parts=parts_from_json(r.parts),
            published_hash=r.published_hash,
            published_at=r.published_at,
            remote_id=r.remote_id,
            remote_url=r.remote_url,
            last_error=r.last_error,
            error_class=r.error_class,
            reason=r.reason,
            fence=r.fence,
            updated_at=r.updated_at,
            lookups=r.lookups,
        )


@dataclass(frozen=True)
class Attempt:
    """A ledger row to append."""

    delivery_id: int
    post_id: str
    account: str
    network: str
    number: int
    started_at: datetime
    finished_at: datetime
    outcome: Outcome
    status_code: int | None = None
    error: str | None = None
    remote_id: str | None = None
    remote_url: str | None = None
    worker: str | None = None

    def row(self) -> dict[str, Any]:
        return {
            "delivery_id": self.delivery_id,
            "post_id": self.post_id,
            "account": self.account,
            "network": self.network,
            "number": self.number,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "outcome": self.outcome.value,
            "status_code": self.status_code,
            "error": self.error,
            "remote_id": self.remote_id,
            "remote_url": self.remote_url,
            "worker": self.worker,
        }


@dataclass(frozen=True)
class Transition:
    """A claimed delivery's result: its new state and fields, and the attempt to log."""

    delivery_id: int
    fence: int
    state: DeliveryState
    now: datetime
    due_at: datetime | None = None
    parts: tuple[RemotePart, ...] | None = None
    published_hash: str | None = None
    published_at: datetime | None = None
    remote_id: str | None = None
    remote_url: str | None = None
    last_error: str | None = None
    error_class: str | None = None
    reason: str | None = None
    attempt: Attempt | None = None
    release: bool = True  # drop the lease (a finished attempt)
    attention: str | None = None  # for observers: the account needs a human (not stored here)
    lookups: int | None = None

    @classmethod
    def of(
        cls,
        d: Delivery,
        change: Change,
        now: datetime,
        *,
        parts: tuple[RemotePart, ...] | None = None,
        remote_id: str | None = None,
        remote_url: str | None = None,
        attempt: Attempt | None = None,
        attention: str | None = None,
    ) -> Transition:
        """A lifecycle ``change`` of ``d`` at ``now`` as the result to write, with what
        happened on the network (parts, remote ids) and the attempt for the ledger."""
        # ``values`` writes the error fields of every state but published: kept ones are
        # written back as they are (published: left out).
        state = change.state
        last_error = change.last_error
        if last_error is KEEP:
            last_error = None if state is DeliveryState.PUBLISHED else d.last_error
        error_class = change.error_class
        if error_class is KEEP:
            error_class = None if state is DeliveryState.PUBLISHED else d.error_class
        due_at, reason, lookups = change.due_at, change.reason, change.lookups
        # A sync's part (a plan written afresh, a count restarted, a reason emptied) is
        # written by the sync's own statements, never as a result.
        assert not change.afresh and change.attempts is KEEP and reason is not None
        publishes = change.publishes
        return cls(
            d.id,
            d.fence,
            state,
            now,
            due_at=None if due_at is KEEP else due_at,
            parts=parts,
            published_hash=d.content_hash if publishes else None,
            published_at=now if publishes else None,
            remote_id=remote_id,
            remote_url=remote_url,
            last_error=last_error,
            error_class=error_class,
            reason=None if reason is KEEP else reason,
            attempt=attempt,
            attention=attention,
            lookups=None if lookups is KEEP else lookups,
        )

    def values(self) -> dict[str, Any]:
        v: dict[str, Any] = {"state": self.state.value, "updated_at": self.now}
        for name in (
            "lookups",
            "due_at",
            "published_hash",
            "published_at",
            "remote_id",
            "remote_url",
            "reason",
        ):
            value = getattr(self, name)
            if value is not None:
                v[name] = value
        if self.parts is not None:
            v["parts"] = parts_to_json(self.parts)
        if self.state is not DeliveryState.PUBLISHED or self.last_error is not None:
            v["last_error"] = self.last_error
            v["error_class"] = self.error_class
        if self.release:
            v["lease_owner"] = None
            v["lease_until"] = None
        return v


@dataclass(frozen=True)
class AccountState:
    account: str
    limited_until: datetime | None
    attention: str | None
    attention_reason: str | None


@dataclass(frozen=True)
class LookupAsk:
    """Which unknown deliveries a pass may start looking up."""

    limit: int
    accounts: frozenset[str]  # accounts with an adapter here, not held
    busy: frozenset[int]  # deliveries this daemon already has in flight


@dataclass
class Pass:
    """What one scheduling pass took: lookups to start, the claim's triage, the next work."""

    lookups: list[Delivery]
    plan: Triage
    next_due: datetime | None


class Store:
    """The store's operations; each public coroutine is one transaction.

    The bodies are plain functions of a SQLAlchemy ``Connection``: on SQLite they run whole in
    the runner's thread, on PostgreSQL through ``run_sync`` on an asyncpg connection.
    """

    def __init__(self, url: str, *, sqlite: SQLiteRunner | None, engine: AsyncEngine | None):
        self.url = url
        self._sqlite = sqlite
        self._engine = engine

    @classmethod
    async def open(cls, url: str, *, readonly: bool = False) -> Store:
        """Open and upgrade the schema (a newer database is refused)."""
        if is_sqlite(url):
            runner = SQLiteRunner(url, immediate=not readonly)
            try:
                await runner.run(True, migrate_sync)
            except BaseException:
                await runner.close()
                raise
            return cls(url, sqlite=runner, engine=None)
        engine = make_engine(url)
        try:
            await migrate(engine)
        except BaseException:
            await engine.dispose()
            raise
        return cls(url, sqlite=None, engine=engine)

    async def close(self) -> None:
        if self._sqlite is not None:
            await self._sqlite.close()
        if self._engine is not None:
            await self._engine.dispose()

    @property
    def dialect(self) -> str:
        return "sqlite" if self._sqlite is not None else "postgresql"

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(connection, *args)`` in a read transaction."""
        return await self._run(False, fn, *args)

    async def transaction(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(connection, *args)`` in a write transaction, committed if it returns."""
        return await self._run(True, fn, *args)

    async def _run(self, write: bool, fn: Callable[..., T], *args: Any) -> T:
        if self._sqlite is not None:
            return await self._sqlite.run(write, fn, *args)
        assert self._engine is not None
        async with self._engine.begin() if write else self._engine.connect() as conn:
            return await conn.run_sync(fn, *args)

    # ------------------------------------------------------------------ sync

    async def plan_index(self) -> dict[tuple[str, str], PlanEntry]:
        def body(conn: Connection) -> dict[tuple[str, str], PlanEntry]:
            rows = conn.execute(select(*_PLAN_COLUMNS))
            return {(r.post_id, r.account): _plan_entry(r) for r in rows}

        return await self.read(body)

    async def plan_entries(self, post_ids: Iterable[str]) -> dict[tuple[str, str], PlanEntry]:
        """``plan_index`` for some posts only: what an incremental sync must look at."""
        ids = sorted(set(post_ids))
        if not ids:
            return {}
        q = select(*_PLAN_COLUMNS).where(D.c.post_id.in_(bindparam("ids", expanding=True)))

        def body(conn: Connection) -> dict[tuple[str, str], PlanEntry]:
            out: dict[tuple[str, str], PlanEntry] = {}
            for i in range(0, len(ids), IN_BATCH):
                for r in conn.execute(q, {"ids": ids[i : i + IN_BATCH]}):
                    out[(r.post_id, r.account)] = _plan_entry(r)
            return out

        return await self.read(body)

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
            await self.transaction(_apply, changes, load, expect)
        except _StalePlan:
            return False
        return True

    async def record_load(self, load: LoadState) -> None:
        await self.transaction(_write_load, load)

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
        if self._sqlite is not None:
            return await self.read(hot.next_due, list(exclude_accounts))
        return await self.read(_next_due, list(exclude_accounts))

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
        return await self.read(_deliveries, q)

    async def due_unknown(self, now: datetime, limit: int) -> list[Delivery]:
        """Unknown deliveries whose next lookup is due."""
        if self._sqlite is not None:
            return await self.read(hot.due_unknown, now, limit, Delivery.from_tuple)
        return await self.read(_due_unknown, now, limit)

    async def take_due(
        self,
        now: datetime,
        free: int,
        exclude_accounts: Iterable[str],
        worker: str,
        lease: timedelta,
        decide: Callable[
            [list[Delivery], dict[str, list[datetime]], dict[str, int], datetime, int], Triage
        ],
        *,
        ahead: timedelta = timedelta(0),
        lookups: LookupAsk | None = None,
        per_account: int | None = None,
        capped: Iterable[str] | None = None,
        in_flight: Mapping[str, int] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> Pass:
        """One scheduling pass in one transaction: the unknown deliveries to look up, what is
        due decided on and claimed (``sending`` committed for the chosen), and when the next
        work is due once these are out.

        One transaction rather than three: under a burst the daemon's passes are its
        critical path, and each call waits its turn behind the result writes.

        ``free`` slots are shared: lookups first (up to ``lookups.limit``), then deliveries
        (``decide`` gets the candidates, their accounts' recent history and requests in
        flight, the time once the locks are held, and the slots left). ``next_due`` leaves
        out ``exclude_accounts`` and the accounts this pass brings to ``per_account``.

        With ``ahead``, deliveries due up to ``now + ahead`` are claimed too, but those of
        ``capped`` accounts (all accounts if ``capped`` is None), whose caps are reckoned from
        claim times. The caller holds them until their time: a slow commit (a disk that
        stalls an fsync now and then) then delays no post.

        On PostgreSQL the rows are taken ``FOR UPDATE SKIP LOCKED`` (daemons never wait on each
        other's rows) and each account is serialized with a transaction advisory lock while its
        caps are computed, so per-account limits hold across daemons. On SQLite the
        transaction's ``BEGIN IMMEDIATE`` serializes everything.

        ``decide`` gets the time (read again from ``clock``) once the locks are held: waiting
        for them, behind a slow or frozen daemon's claim, can take seconds, and a lease or a
        cap reckoned from before the wait would be stale before it was even committed.
        """
        excluded = list(exclude_accounts)
        postgres = self.dialect == "postgresql"
        capped_set = None if capped is None else set(capped)
        seen_in_flight = None if in_flight is None else dict(in_flight)

        def body(conn: Connection) -> Pass:
            found: list[Delivery] = []
            if lookups is not None and lookups.limit > 0:
                if postgres:
                    rows = _due_unknown(conn, now, lookups.limit)
                else:
                    rows = hot.due_unknown(conn, now, lookups.limit, Delivery.from_tuple)
                found = [
                    d
                    for d in rows
                    if d.account in lookups.accounts
                    and d.id not in lookups.busy
                    and d.account not in excluded
                ]
            plan = _claim(
                conn,
                now,
                now + ahead,
                free - len(found),
                excluded,
                worker,
                lease,
                decide,
                postgres,
                capped_set,
                seen_in_flight,
                found,
                clock,
            )
            skip = set(excluded)
            if per_account is not None:
                taken = _plus(seen_in_flight or {}, [*found, *plan.chosen])
                skip |= {a for a, n in taken.items() if n >= per_account}
            waiting = sorted(skip)
            upcoming = hot.next_due(conn, waiting) if not postgres else _next_due(conn, waiting)
            return Pass(found, plan, upcoming)

        return await self.transaction(body)

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

    @contextlib.asynccontextmanager
    async def sync_turn(self) -> AsyncIterator[bool]:
        """One daemon at a time applies the queue file: yields False if another one is."""
        if self._engine is None:
            yield True
            return
        async with self._engine.connect() as conn:
            got = (await conn.execute(select(func.pg_try_advisory_lock(SYNC_LOCK)))).scalar()
            await conn.commit()
            try:
                yield bool(got)
            finally:
                if got:
                    await conn.execute(select(func.pg_advisory_unlock(SYNC_LOCK)))
                    await conn.commit()

    async def db_now(self) -> datetime | None:
        """The database server's clock (PostgreSQL); None where there is no server."""
        if self._engine is None:
            return None

        def body(conn: Connection) -> datetime | None:
            value = conn.execute(select(func.now())).scalar()
            return value if isinstance(value, datetime) else None

        return await self.read(body)

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

        def body(conn: Connection) -> list[Delivery]:
            won = [_claim_one(conn, d, now, worker, lease) for d in candidates]
            return [d for d in won if d is not None]

        return await self.transaction(body)

    async def finish(self, transitions: Sequence[Transition]) -> list[int]:
        """Write results (one transaction for the batch); returns ids whose fence was stale."""
        if not transitions:
            return []
        return await self.transaction(_finish, transitions)

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
                        **_written(change),
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
                found.append(_replace(d, state=change.state, fence=d.fence + 1))
            return found

        return await self.transaction(body)

    async def by_state(self, *states: DeliveryState, limit: int | None = None) -> list[Delivery]:
        q = select(D).where(D.c.state.in_([s.value for s in states])).order_by(D.c.due_at, D.c.id)
        if limit is not None:
            q = q.limit(limit)
        return await self.read(_deliveries, q)

    async def get(self, delivery_id: int) -> Delivery | None:
        found = await self.read(_deliveries, select(D).where(D.c.id == delivery_id))
        return found[0] if found else None

    async def find(self, post_id: str, account: str | None = None) -> list[Delivery]:
        q = select(D).where(D.c.post_id == post_id)
        if account is not None:
            q = q.where(D.c.account == account)
        return await self.read(_deliveries, q.order_by(D.c.id))

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
            **_written(change),
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
        return _replace(delivery, fence=delivery.fence + 1)

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
        return bool(await self.read(_scalar, q))

    async def recent_publications(
        self, accounts: Iterable[str], since: datetime
    ) -> dict[str, list[datetime]]:
        """When each account published (or is publishing) since ``since``: for the caps."""
        return await self.read(_recent, list(accounts), since)

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
        return await self.read(_deliveries, select(D).order_by(D.c.id))

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
            for table in (A, D, P, S, Q):
                conn.execute(delete(table))

        await self.transaction(body)


# ---------------------------------------------------------------------------
# Transaction bodies shared by several operations.


class _StalePlan(Exception):
    """Another apply came between a diff and its apply."""


IN_BATCH = 500  # values per IN (...): far below every backend's limit on bound parameters
WRITE_BATCH = 1_000  # rows per executemany of a sync

_PLAN_COLUMNS = (
    D.c.id,
    D.c.post_id,
    D.c.account,
    D.c.state,
    D.c.scheduled_at,
    D.c.due_at,
    D.c.not_after,
    D.c.from_slot,
    D.c.content_hash,
    D.c.published_hash,
    D.c.reason,
)


def _plan_entry(r: Any) -> PlanEntry:
    return PlanEntry(
        r.id,
        r.post_id,
        r.account,
        DeliveryState(r.state),
        r.scheduled_at,
        r.due_at,
        r.not_after,
        bool(r.from_slot),
        r.content_hash,
        r.published_hash,
        r.reason,
    )


def _batches(rows: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Rows in lists of WRITE_BATCH, built as they are written."""
    it = iter(rows)
    while batch := list(itertools.islice(it, WRITE_BATCH)):
        yield batch


def _apply(
    conn: Connection,
    changes: PlanChanges,
    load: LoadState,
    expect: tuple[str | None, datetime | None] | None,
) -> None:
    # Bound IN lists are expanding parameters: with literal values, SQLAlchemy's statement
    # cache kept a first sync's 10,000 post ids alive.
    ids_param: Any = bindparam("ids", expanding=True)
    if expect is not None:
        r = conn.execute(select(Q.c.file_hash, Q.c.applied_at).where(Q.c.id == 1)).first()
        if r is None or (r.file_hash, r.applied_at) != expect:
            raise _StalePlan
    if changes.posts_upsert:
        ids = [p["id"] for p in changes.posts_upsert]
        existing: set[str] = set()
        if len(ids) < 30_000:
            q = select(P.c.id).where(P.c.id.in_(ids_param))
            for i in range(0, len(ids), IN_BATCH):
                existing.update(conn.execute(q, {"ids": ids[i : i + IN_BATCH]}).scalars())
        else:
            existing = set(conn.execute(select(P.c.id)).scalars())
        for rows in _batches(dict(p) for p in changes.posts_upsert if p["id"] not in existing):
            conn.execute(insert(P), rows)
        old = (
            {**{k: v for k, v in p.items() if k not in ("id", "created_at")}, "b_id": p["id"]}
            for p in changes.posts_upsert
            if p["id"] in existing
        )
        for rows in _batches(old):
            conn.execute(update(P).where(P.c.id == bindparam("b_id")), rows)
    for i in range(0, len(changes.posts_removed), IN_BATCH):
        conn.execute(
            update(P).where(P.c.id.in_(ids_param)).values(removed_at=load.loaded_at),
            {"ids": changes.posts_removed[i : i + IN_BATCH]},
        )
    for rows in _batches(dict(r) for r in changes.inserts):
        conn.execute(insert(D), rows)
    # A diff is computed from a reading of the store, and the engine goes on claiming
    # meanwhile: each change holds only if its delivery is still in the state read (else the
    # whole apply is undone and the caller reads again). Unguarded, an edit could put back to
    # `scheduled` a delivery a `publisher resolve` had just sent off again.
    for upd in changes.updates:
        values = {k: v for k, v in upd.items() if k not in ("id", EXPECT_STATE)}
        stmt = update(D).where(D.c.id == upd["id"])
        if EXPECT_STATE in upd:
            stmt = stmt.where(D.c.state == upd[EXPECT_STATE])
        if conn.execute(stmt.values(**values)).rowcount != 1:
            raise _StalePlan
    # What ``lifecycle.unplanned`` writes, where it applies.
    cancel = {**_written(lifecycle.UNPLANNED), "updated_at": load.loaded_at}
    for i in range(0, len(changes.cancels), IN_BATCH):
        batch = changes.cancels[i : i + IN_BATCH]
        result = conn.execute(
            update(D).where(D.c.id.in_(ids_param), D.c.state.in_(CANCELABLE)).values(**cancel),
            {"ids": batch},
        )
        if result.rowcount != len(set(batch)):
            raise _StalePlan  # claimed since: the next reading reports it as in flight
    _write_load(conn, load)


def _write_load(conn: Connection, load: LoadState) -> None:
    values = {
        "loaded_at": load.loaded_at,
        "ok": load.ok,
        "message": load.message,
    }
    if load.ok:
        values["file_hash"] = load.file_hash
        values["applied_at"] = load.applied_at
    result = conn.execute(update(Q).where(Q.c.id == 1).values(**values))
    if result.rowcount == 0:
        conn.execute(insert(Q).values(id=1, **values))


def _deliveries(conn: Connection, q: Any) -> list[Delivery]:
    return [Delivery.from_row(r) for r in conn.execute(q)]


def _scalar(conn: Connection, q: Any) -> Any:
    return conn.execute(q).scalar()


def _plus(counts: Mapping[str, int], more: Iterable[Delivery]) -> dict[str, int]:
    out = dict(counts)
    for d in more:
        out[d.account] = out.get(d.account, 0) + 1
    return out


def _sending(worker: str, now: datetime, lease: timedelta) -> dict[str, Any]:
    """A claim's values (``lifecycle.claim``): ``sending`` under a new fence and this
    worker's lease, one more attempt counted."""
    return {
        "state": lifecycle.CLAIMED.state.value,
        "attempts": D.c.attempts + 1,
        "fence": D.c.fence + 1,
        "lease_owner": worker,
        "lease_until": now + lease,
        "updated_at": now,
    }


def _claim(
    conn: Connection,
    now: datetime,
    horizon: datetime,
    free: int,
    excluded: list[str],
    worker: str,
    lease: timedelta,
    decide: Callable[
        [list[Delivery], dict[str, list[datetime]], dict[str, int], datetime, int], Triage
    ],
    postgres: bool,
    capped: set[str] | None,
    seen_in_flight: dict[str, int] | None,
    lookups: list[Delivery],
    clock: Callable[[], datetime] | None,
) -> Triage:
    """The claim part of ``Store.take_due``; ``lookups`` start in the same pass (they hold
    their accounts' slots too)."""
    if free <= 0:
        return Triage()
    if postgres:
        q = (
            select(D)
            .where(D.c.state.in_(CLAIMABLE), D.c.due_at <= horizon)
            .order_by(D.c.due_at, D.c.id)
            .limit(free * 2)
            # Accounts held by any daemon (a rate limit's reset, a revoked token) wait.
            .where(D.c.account.not_in(select(S.c.account).where(S.c.limited_until > now)))
            .with_for_update(skip_locked=True)
        )
        if excluded:
            q = q.where(D.c.account.not_in(excluded))
        candidates = [Delivery.from_row(r) for r in conn.execute(q)]
    else:
        candidates = hot.due_candidates(
            conn, now, horizon, free * 2, excluded, Delivery.from_tuple
        )
    if horizon > now:
        # Claimed ahead of their time only where no cap is reckoned from the claim's time.
        candidates = [
            d
            for d in candidates
            if d.due_at <= now or (capped is not None and d.account not in capped)
        ]
    if not candidates:
        return Triage()
    accounts = sorted({d.account for d in candidates})
    if postgres:
        for a in accounts:
            conn.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"publisher-account:{a}"))))
    granted = max(now, clock()) if clock is not None else now
    # Only accounts with caps need their history; a daemon alone on SQLite knows its own
    # requests in flight, several on PostgreSQL ask the database.
    with_caps = accounts if capped is None else sorted(set(accounts) & capped)
    history = _recent(conn, with_caps, granted - timedelta(hours=26))
    counts = seen_in_flight
    if counts is None or postgres:
        counts = {
            a: n
            for a, n in conn.execute(
                select(D.c.account, func.count())
                .where(D.c.account.in_(accounts), D.c.state == DeliveryState.SENDING.value)
                .group_by(D.c.account)
            ).all()
        }
    plan = decide(candidates, history, _plus(counts, lookups), granted, free)
    for d, why in plan.missed:
        missed = lifecycle.missed(d.state, why=why)
        if isinstance(missed, Change):
            conn.execute(
                update(D)
                .where(D.c.id == d.id, D.c.fence == d.fence)
                .values(**_written(missed), updated_at=granted)
            )
    for d, until, why in plan.deferred:
        later = lifecycle.deferred(d.state, until=until, why=why)
        if isinstance(later, Change):
            conn.execute(
                update(D)
                .where(D.c.id == d.id, D.c.fence == d.fence)
                .values(**_written(later), updated_at=granted)
            )
    # The rows are ours for this transaction (BEGIN IMMEDIATE on SQLite, FOR UPDATE on
    # PostgreSQL): one UPDATE claims them all.
    if plan.chosen and not postgres:
        hot.mark_sending(conn, [d.id for d in plan.chosen], worker, granted + lease, granted)
    elif plan.chosen:
        conn.execute(
            update(D)
            .where(D.c.id.in_([d.id for d in plan.chosen]))
            .values(**_sending(worker, granted, lease))
        )
    plan.chosen = [
        _replace(
            d,
            state=lifecycle.CLAIMED.state,
            attempts=d.attempts + 1,
            fence=d.fence + 1,
            updated_at=granted,
        )
        for d in plan.chosen
    ]
    return plan


def _next_due(conn: Connection, excluded: list[str]) -> datetime | None:
    q = select(func.min(D.c.due_at)).where(D.c.state.in_(DUE_WORK))
    if excluded:
        q = q.where(D.c.account.not_in(excluded))
    value = conn.execute(q).scalar()
    return value if isinstance(value, datetime) else None


def _due_unknown(conn: Connection, now: datetime, limit: int) -> list[Delivery]:
    q = (
        select(D)
        .where(D.c.state.in_(LOOKED_UP), D.c.due_at <= now)
        .order_by(D.c.due_at, D.c.id)
        .limit(limit)
    )
    return _deliveries(conn, q)


def _claim_one(
    conn: Connection, d: Delivery, now: datetime, worker: str, lease: timedelta
) -> Delivery | None:
    """``sending``, under a new fence and lease, if the delivery is still pending as seen."""
    result = conn.execute(
        update(D)
        .where(D.c.id == d.id, D.c.fence == d.fence, D.c.state.in_(CLAIMABLE))
        .values(**_sending(worker, now, lease))
    )
    if result.rowcount != 1:
        return None
    return _replace(
        d,
        state=lifecycle.CLAIMED.state,
        attempts=d.attempts + 1,
        fence=d.fence + 1,
        updated_at=now,
    )


def _finish(conn: Connection, transitions: Sequence[Transition]) -> list[int]:
    """A batch of results: one read of the fences, one executemany per shape of result.

    The rows are read first (locked ``FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN
    IMMEDIATE`` holds the whole file), so the fences compared are the ones the updates meet.
    """
    ids = [t.delivery_id for t in transitions]
    if len(set(ids)) < len(ids):  # one delivery twice: its results apply in order
        return [i for t in transitions for i in _finish(conn, [t])]
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:
        fences = hot.fences(conn, ids)
    else:
        q = select(D.c.id, D.c.fence).where(D.c.id.in_(ids)).with_for_update()
        fences = {r[0]: r[1] for r in conn.execute(q)}
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
        if sqlite:
            hot.update_results(conn, keys, rows)
        else:
            conn.execute(_finish_statement(keys), rows)
    # Every attempt is in the ledger, even one whose result came too late to be written
    # (a paused daemon's): it really happened, and a human may need to see it.
    attempts = [
        t.attempt.row()
        if t.delivery_id not in stale
        else {**t.attempt.row(), "error": _late(t.attempt.error)}
        for t in transitions
        if t.attempt is not None
    ]
    if attempts and sqlite:
        hot.insert_attempts(conn, attempts)
    elif attempts:
        conn.execute(insert(A), attempts)  # one executemany for the batch
    return stale


@functools.lru_cache(maxsize=64)
def _finish_statement(keys: tuple[str, ...]) -> Any:
    """The UPDATE of one shape of result, built once: executemany binds each row."""
    return (
        update(D)
        .where(D.c.id == bindparam("b_id"), D.c.fence == bindparam("b_fence"))
        .values({k: bindparam(k) for k in keys})
    )


def _recent(conn: Connection, names: list[str], since: datetime) -> dict[str, list[datetime]]:
    out: dict[str, list[datetime]] = {a: [] for a in names}
    if not names:
        return out
    q = select(D.c.account, D.c.published_at, D.c.updated_at, D.c.state).where(
        D.c.account.in_(names),
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


def _written(change: Change) -> dict[str, Any]:
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


def _late(error: str | None) -> str:
    note = "result not recorded: another daemon owned the delivery by then"
    return f"{note}; {error}" if error else note


def _replace(d: Delivery, **changes: Any) -> Delivery:
    from dataclasses import replace

    return replace(d, **changes)
