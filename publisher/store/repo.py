"""The store's operations. Each public coroutine is one transaction.

Every write that follows a claim carries the claim's fencing token (``fence``): a worker that
lost its claim (a paused daemon whose lease expired) cannot overwrite a newer owner's result.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.base import PostContent, RemotePart
from publisher.engine.decide import Triage
from publisher.states import CANCELED_BY_SYNC, PENDING, DeliveryState, Outcome
from publisher.store.codec import content_from_json, parts_from_json, parts_to_json
from publisher.store.db import make_engine, migrate
from publisher.store.models import (
    AccountStateRow,
    AttemptRow,
    DeliveryRow,
    PostRow,
    SyncStateRow,
)

SYNC_LOCK = 7270452  # the advisory lock held while one daemon applies the queue file

D = DeliveryRow.__table__  # type: ignore[attr-defined]
A = AttemptRow.__table__  # type: ignore[attr-defined]
P = PostRow.__table__  # type: ignore[attr-defined]
S = AccountStateRow.__table__  # type: ignore[attr-defined]
Q = SyncStateRow.__table__  # type: ignore[attr-defined]


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
class PlanEntry:
    """What sync needs to know of an existing delivery."""

    id: int
    post_id: str
    account: str
    state: DeliveryState
    scheduled_at: datetime
    due_at: datetime
    not_after: datetime | None
    from_slot: bool
    content_hash: str
    published_hash: str | None
    reason: str | None = None


@dataclass
class PlanChanges:
    """A whole sync, applied in one transaction.

    ``posts_upsert`` and ``inserts`` may be lazy sequences whose rows are built as they are
    read: apply writes them a batch at a time, so a first sync of a big file never holds
    every row (and its content JSON) at once.
    """

    posts_upsert: Sequence[Mapping[str, Any]] = field(default_factory=list)
    posts_removed: list[str] = field(default_factory=list)
    inserts: Sequence[Mapping[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)  # must hold "id"
    cancels: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            self.posts_upsert or self.posts_removed or self.inserts or self.updates or self.cancels
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
class LoadState:
    loaded_at: datetime | None
    ok: bool
    file_hash: str | None
    message: str | None
    applied_at: datetime | None


class Store:
    def __init__(self, engine: AsyncEngine, url: str) -> None:
        self.engine = engine
        self.url = url

    @classmethod
    async def open(cls, url: str, *, readonly: bool = False) -> Store:
        """Open and upgrade the schema (a newer database is refused)."""
        engine = make_engine(url, immediate=not readonly)
        await migrate(engine)
        return cls(engine, url)

    async def close(self) -> None:
        await self.engine.dispose()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    # ------------------------------------------------------------------ sync

    async def plan_index(self) -> dict[tuple[str, str], PlanEntry]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(*_PLAN_COLUMNS))).all()
        return {(r.post_id, r.account): _plan_entry(r) for r in rows}

    async def plan_entries(self, post_ids: Iterable[str]) -> dict[tuple[str, str], PlanEntry]:
        """``plan_index`` for some posts only: what an incremental sync must look at."""
        ids = sorted(set(post_ids))
        out: dict[tuple[str, str], PlanEntry] = {}
        if not ids:
            return out
        q = select(*_PLAN_COLUMNS).where(D.c.post_id.in_(_bind("ids", expanding=True)))
        async with self.engine.connect() as conn:
            for i in range(0, len(ids), IN_BATCH):
                for r in (await conn.execute(q, {"ids": ids[i : i + IN_BATCH]})).all():
                    out[(r.post_id, r.account)] = _plan_entry(r)
        return out

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
        async with self.engine.connect() as conn:
            return set((await conn.execute(q.distinct())).scalars())

    async def post_index(self) -> dict[str, tuple[str, int, datetime | None]]:
        """Each post's (content hash, line, removed_at): sync writes only what changed."""
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(select(P.c.id, P.c.content_hash, P.c.line, P.c.removed_at))
            ).all()
        return {r.id: (r.content_hash, r.line, r.removed_at) for r in rows}

    async def apply(
        self,
        changes: PlanChanges,
        load: LoadState,
        *,
        expect: tuple[str | None, datetime | None] | None = None,
    ) -> bool:
        """Apply a whole plan diff and record the load, atomically.

        With ``expect`` (file hash, applied_at), only if the last applied load is still that
        one (a diff computed against it would be wrong after another apply): False if not,
        and nothing is written.
        """
        try:
            await self._apply(changes, load, expect)
        except _StalePlan:
            return False
        return True

    async def _apply(
        self,
        changes: PlanChanges,
        load: LoadState,
        expect: tuple[str | None, datetime | None] | None,
    ) -> None:
        ids_param = _bind("ids", expanding=True)  # values bound per call, never cached
        async with self.engine.begin() as conn:
            if expect is not None:
                q = select(Q.c.file_hash, Q.c.applied_at).where(Q.c.id == 1)
                r = (await conn.execute(q)).first()
                if r is None or (r.file_hash, r.applied_at) != expect:
                    raise _StalePlan
            if changes.posts_upsert:
                ids = [p["id"] for p in changes.posts_upsert]
                existing: set[str] = set()
                if len(ids) < 30_000:
                    q = select(P.c.id).where(P.c.id.in_(ids_param))
                    for i in range(0, len(ids), IN_BATCH):
                        batch = ids[i : i + IN_BATCH]
                        existing.update((await conn.execute(q, {"ids": batch})).scalars())
                else:
                    existing = set((await conn.execute(select(P.c.id))).scalars())
                new = (dict(p) for p in changes.posts_upsert if p["id"] not in existing)
                for rows in _batches(new):
                    await conn.execute(insert(P), rows)
                old = (
                    {
                        **{k: v for k, v in p.items() if k not in ("id", "created_at")},
                        "b_id": p["id"],
                    }
                    for p in changes.posts_upsert
                    if p["id"] in existing
                )
                for rows in _batches(old):
                    await conn.execute(update(P).where(P.c.id == _bind("b_id")), rows)
            for i in range(0, len(changes.posts_removed), IN_BATCH):
                await conn.execute(
                    update(P).where(P.c.id.in_(ids_param)).values(removed_at=load.loaded_at),
                    {"ids": changes.posts_removed[i : i + IN_BATCH]},
                )
            for rows in _batches(dict(r) for r in changes.inserts):
                await conn.execute(insert(D), rows)
            for upd in changes.updates:
                values = {k: v for k, v in upd.items() if k != "id"}
                await conn.execute(update(D).where(D.c.id == upd["id"]).values(**values))
            pending = [s.value for s in PENDING]
            for i in range(0, len(changes.cancels), IN_BATCH):
                await conn.execute(
                    update(D)
                    .where(D.c.id.in_(ids_param), D.c.state.in_(pending))
                    .values(
                        state=DeliveryState.CANCELED.value,
                        reason=CANCELED_BY_SYNC,
                        updated_at=load.loaded_at,
                    ),
                    {"ids": changes.cancels[i : i + IN_BATCH]},
                )
            await self._write_load(conn, load)

    async def record_load(self, load: LoadState) -> None:
        async with self.engine.begin() as conn:
            await self._write_load(conn, load)

    async def _write_load(self, conn: Any, load: LoadState) -> None:
        values = {
            "loaded_at": load.loaded_at,
            "ok": load.ok,
            "message": load.message,
        }
        if load.ok:
            values["file_hash"] = load.file_hash
            values["applied_at"] = load.applied_at
        result = await conn.execute(update(Q).where(Q.c.id == 1).values(**values))
        if result.rowcount == 0:
            await conn.execute(insert(Q).values(id=1, **values))

    async def load_state(self) -> LoadState | None:
        async with self.engine.connect() as conn:
            r = (await conn.execute(select(Q).where(Q.c.id == 1))).first()
        if r is None:
            return None
        return LoadState(r.loaded_at, bool(r.ok), r.file_hash, r.message, r.applied_at)

    # ---------------------------------------------------------------- engine

    async def next_due(self, exclude_accounts: Iterable[str] = ()) -> datetime | None:
        """The earliest time there is something to do: publish, or look an unknown up."""
        waiting = [s.value for s in PENDING] + [DeliveryState.UNKNOWN.value]
        q = select(func.min(D.c.due_at)).where(D.c.state.in_(waiting))
        excluded = list(exclude_accounts)
        if excluded:
            q = q.where(D.c.account.not_in(excluded))
        async with self.engine.connect() as conn:
            value = (await conn.execute(q)).scalar()
        return value if isinstance(value, datetime) else None

    async def due(
        self, now: datetime, limit: int, exclude_accounts: Iterable[str] = ()
    ) -> list[Delivery]:
        """Pending deliveries whose time has come, earliest first (not claimed yet)."""
        q = (
            select(D)
            .where(D.c.state.in_([s.value for s in PENDING]), D.c.due_at <= now)
            .order_by(D.c.due_at, D.c.id)
            .limit(limit)
        )
        excluded = list(exclude_accounts)
        if excluded:
            q = q.where(D.c.account.not_in(excluded))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).all()
        return [Delivery.from_row(r) for r in rows]

    async def due_unknown(self, now: datetime, limit: int) -> list[Delivery]:
        """Unknown deliveries whose next lookup is due."""
        q = (
            select(D)
            .where(D.c.state == DeliveryState.UNKNOWN.value, D.c.due_at <= now)
            .order_by(D.c.due_at, D.c.id)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).all()
        return [Delivery.from_row(r) for r in rows]

    async def claim_due(
        self,
        now: datetime,
        limit: int,
        exclude_accounts: Iterable[str],
        worker: str,
        lease: timedelta,
        decide: Callable[
            [list[Delivery], dict[str, list[datetime]], dict[str, int], datetime], Triage
        ],
        capped: Iterable[str] | None = None,
        in_flight: Mapping[str, int] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> Triage:
        """Select what is due, decide, and commit ``sending`` for the chosen: one transaction.

        On PostgreSQL the rows are taken ``FOR UPDATE SKIP LOCKED`` (daemons never wait on each
        other's rows) and each account is serialized with a transaction advisory lock while its
        caps are computed, so per-account limits hold across daemons. On SQLite the
        transaction's ``BEGIN IMMEDIATE`` serializes everything.

        ``decide`` gets the time (read again from ``clock``) once the locks are held: waiting
        for them, behind a slow or frozen daemon's claim, can take seconds, and a lease or a
        cap reckoned from before the wait would be stale before it was even committed.
        """
        pending = [s.value for s in PENDING]
        q = (
            select(D)
            .where(D.c.state.in_(pending), D.c.due_at <= now)
            .order_by(D.c.due_at, D.c.id)
            .limit(limit)
        )
        excluded = list(exclude_accounts)
        if excluded:
            q = q.where(D.c.account.not_in(excluded))
        # Accounts held by any daemon (a rate limit's reset, a revoked token) wait.
        held = select(S.c.account).where(S.c.limited_until > now)
        q = q.where(D.c.account.not_in(held))
        postgres = self.dialect == "postgresql"
        if postgres:
            q = q.with_for_update(skip_locked=True)
        async with self.engine.begin() as conn:
            candidates = [Delivery.from_row(r) for r in (await conn.execute(q)).all()]
            if not candidates:
                return Triage()
            accounts = sorted({d.account for d in candidates})
            if postgres:
                for a in accounts:
                    await conn.execute(
                        select(func.pg_advisory_xact_lock(func.hashtext(f"publisher-account:{a}")))
                    )
            if clock is not None:
                now = max(now, clock())
            # Only accounts with caps need their history; a daemon alone on SQLite knows its
            # own requests in flight, several on PostgreSQL ask the database.
            with_caps = accounts if capped is None else sorted(set(accounts) & set(capped))
            history = await self._recent(conn, with_caps, now - timedelta(hours=26))
            if in_flight is None or postgres:
                in_flight = {
                    a: n
                    for a, n in (
                        await conn.execute(
                            select(D.c.account, func.count())
                            .where(
                                D.c.account.in_(accounts),
                                D.c.state == DeliveryState.SENDING.value,
                            )
                            .group_by(D.c.account)
                        )
                    ).all()
                }
            plan = decide(candidates, history, dict(in_flight), now)
            for d, why in plan.missed:
                await conn.execute(
                    update(D)
                    .where(D.c.id == d.id, D.c.fence == d.fence)
                    .values(state=DeliveryState.MISSED.value, reason=why, updated_at=now)
                )
            for d, until, why in plan.deferred:
                await conn.execute(
                    update(D)
                    .where(D.c.id == d.id, D.c.fence == d.fence)
                    .values(due_at=until, reason=why, updated_at=now)
                )
            # The rows are ours for this transaction (BEGIN IMMEDIATE on SQLite, FOR UPDATE on
            # PostgreSQL): one UPDATE claims them all.
            if plan.chosen:
                await conn.execute(
                    update(D)
                    .where(D.c.id.in_([d.id for d in plan.chosen]))
                    .values(
                        state=DeliveryState.SENDING.value,
                        attempts=D.c.attempts + 1,
                        fence=D.c.fence + 1,
                        lease_owner=worker,
                        lease_until=now + lease,
                        updated_at=now,
                    )
                )
            plan.chosen = [
                _replace(
                    d,
                    state=DeliveryState.SENDING,
                    attempts=d.attempts + 1,
                    fence=d.fence + 1,
                    updated_at=now,
                )
                for d in plan.chosen
            ]
        return plan

    async def heartbeat(self, worker: str, until: datetime) -> int:
        """Extend the leases this worker holds; returns how many it still holds."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(D)
                .where(D.c.lease_owner == worker, D.c.state == DeliveryState.SENDING.value)
                .values(lease_until=until)
            )
        return int(result.rowcount)

    @contextlib.asynccontextmanager
    async def sync_turn(self) -> AsyncIterator[bool]:
        """One daemon at a time applies the queue file: yields False if another one is."""
        if self.dialect != "postgresql":
            yield True
            return
        async with self.engine.connect() as conn:
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
        if self.dialect != "postgresql":
            return None
        async with self.engine.connect() as conn:
            value = (await conn.execute(select(func.now()))).scalar()
        return value if isinstance(value, datetime) else None

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
        async with self.engine.begin() as conn:
            won = [await self._claim_one(conn, d, now, worker, lease) for d in candidates]
        return [d for d in won if d is not None]

    async def _claim_one(
        self, conn: Any, d: Delivery, now: datetime, worker: str, lease: timedelta
    ) -> Delivery | None:
        """``sending``, under a new fence and lease, if the delivery is still pending as seen."""
        result = await conn.execute(
            update(D)
            .where(D.c.id == d.id, D.c.fence == d.fence, D.c.state.in_([s.value for s in PENDING]))
            .values(
                state=DeliveryState.SENDING.value,
                attempts=D.c.attempts + 1,
                fence=D.c.fence + 1,
                lease_owner=worker,
                lease_until=now + lease,
                updated_at=now,
            )
        )
        if result.rowcount != 1:
            return None
        return _replace(
            d,
            state=DeliveryState.SENDING,
            attempts=d.attempts + 1,
            fence=d.fence + 1,
            updated_at=now,
        )

    async def finish(self, transitions: Sequence[Transition]) -> list[int]:
        """Write results (one transaction for the batch); returns ids whose fence was stale."""
        stale: list[int] = []
        if not transitions:
            return stale
        async with self.engine.begin() as conn:
            for t in transitions:
                result = await conn.execute(
                    update(D)
                    .where(D.c.id == t.delivery_id, D.c.fence == t.fence)
                    .values(**t.values())
                )
                if result.rowcount != 1:
                    stale.append(t.delivery_id)
            # Every attempt is in the ledger, even one whose result came too late to be written
            # (a paused daemon's): it really happened, and a human may need to see it.
            rows = [
                t.attempt.row()
                if t.delivery_id not in stale
                else {**t.attempt.row(), "error": _late(t.attempt.error)}
                for t in transitions
                if t.attempt is not None
            ]
            if rows:
                await conn.execute(insert(A), rows)  # one executemany for the batch
        return stale

    async def defer_account(self, account: str, until: datetime, why: str) -> None:
        """Every pending delivery of a rate-limited account waits until ``until``."""
        async with self.engine.begin() as conn:
            await conn.execute(
                update(D)
                .where(
                    D.c.account == account,
                    D.c.state.in_([s.value for s in PENDING]),
                    D.c.due_at < until,
                )
                .values(due_at=until, reason=why)
            )

    async def recover_in_flight(
        self,
        now: datetime,
        worker: str | None = None,
        expired_only: bool = False,
        lookup_at: datetime | None = None,
    ) -> list[Delivery]:
        """Deliveries left in ``sending`` by a dead process become ``unknown``."""
        async with self.engine.begin() as conn:
            q = select(D).where(D.c.state == DeliveryState.SENDING.value)
            if expired_only:
                q = q.where(or_(D.c.lease_until.is_(None), D.c.lease_until < now))
            if worker is not None:
                q = q.where(D.c.lease_owner == worker)
            rows = [Delivery.from_row(r) for r in (await conn.execute(q)).all()]
            found = []
            for d in rows:
                result = await conn.execute(
                    update(D)
                    .where(
                        D.c.id == d.id,
                        D.c.fence == d.fence,
                        D.c.state == DeliveryState.SENDING.value,
                    )
                    .values(
                        state=DeliveryState.UNKNOWN.value,
                        fence=D.c.fence + 1,
                        lease_owner=None,
                        lease_until=None,
                        due_at=lookup_at or now,  # when to look it up (timelines lag)
                        reason="the daemon stopped while the request was out",
                        error_class=Outcome.INTERRUPTED.value,  # its daemon may only be paused
                        lookups=0,  # a new unknown: its lookups count afresh
                        updated_at=now,
                    )
                )
                if result.rowcount != 1:
                    continue
                await conn.execute(
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
                            error="the daemon stopped while the request was out",
                        ).row()
                    )
                )
                found.append(_replace(d, state=DeliveryState.UNKNOWN, fence=d.fence + 1))
        return found

    async def by_state(self, *states: DeliveryState, limit: int | None = None) -> list[Delivery]:
        q = select(D).where(D.c.state.in_([s.value for s in states])).order_by(D.c.due_at, D.c.id)
        if limit is not None:
            q = q.limit(limit)
        async with self.engine.connect() as conn:
            return [Delivery.from_row(r) for r in (await conn.execute(q)).all()]

    async def get(self, delivery_id: int) -> Delivery | None:
        async with self.engine.connect() as conn:
            r = (await conn.execute(select(D).where(D.c.id == delivery_id))).first()
        return Delivery.from_row(r) if r is not None else None

    async def find(self, post_id: str, account: str | None = None) -> list[Delivery]:
        q = select(D).where(D.c.post_id == post_id)
        if account is not None:
            q = q.where(D.c.account == account)
        async with self.engine.connect() as conn:
            return [Delivery.from_row(r) for r in (await conn.execute(q.order_by(D.c.id))).all()]

    async def first_attempt_at(self, delivery_id: int) -> datetime | None:
        """When the delivery's first attempt started (the ledger is append-only)."""
        async with self.engine.connect() as conn:
            value = (
                await conn.execute(
                    select(func.min(A.c.started_at)).where(A.c.delivery_id == delivery_id)
                )
            ).scalar()
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
        values: dict[str, Any] = {"fence": D.c.fence + 1, "lease_owner": worker, "updated_at": now}
        if lease is not None:
            values["due_at"] = now + lease
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(D)
                .where(
                    D.c.id == delivery.id,
                    D.c.fence == delivery.fence,
                    D.c.state == DeliveryState.UNKNOWN.value,
                )
                .values(**values)
            )
        if result.rowcount != 1:
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
        async with self.engine.connect() as conn:
            return bool((await conn.execute(q)).scalar())

    async def recent_publications(
        self, accounts: Iterable[str], since: datetime
    ) -> dict[str, list[datetime]]:
        """When each account published (or is publishing) since ``since``: for the caps."""
        async with self.engine.connect() as conn:
            return await self._recent(conn, list(accounts), since)

    async def _recent(
        self, conn: Any, names: list[str], since: datetime
    ) -> dict[str, list[datetime]]:
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
        for r in (await conn.execute(q)).all():
            out[r.account].append(r.published_at or r.updated_at)
        for times in out.values():
            times.sort()
        return out

    # ------------------------------------------------------------- accounts

    async def account_states(self) -> dict[str, AccountState]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(S))).all()
        return {
            r.account: AccountState(r.account, r.limited_until, r.attention, r.attention_reason)
            for r in rows
        }

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
        async with self.engine.begin() as conn:
            result = await conn.execute(update(S).where(S.c.account == account).values(**values))
            if result.rowcount == 0:
                await conn.execute(insert(S).values(account=account, **values))

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
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).all()
        return [AttemptRow.model_validate(dict(r._mapping)) for r in rows]

    async def all_deliveries(self) -> list[Delivery]:
        async with self.engine.connect() as conn:
            return [
                Delivery.from_row(r) for r in (await conn.execute(select(D).order_by(D.c.id))).all()
            ]

    async def count_by_state(self) -> dict[DeliveryState, int]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(D.c.state, func.count()).group_by(D.c.state))).all()
        return {DeliveryState(s): n for s, n in rows}

    async def count_by_account_state(self) -> dict[tuple[str, str], int]:
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(D.c.account, D.c.state, func.count()).group_by(D.c.account, D.c.state)
                )
            ).all()
        return {(a, s): n for a, s, n in rows}

    async def wipe(self) -> None:
        """Empty every table (dry-run rehearsal databases start afresh)."""
        async with self.engine.begin() as conn:
            for table in (A, D, P, S, Q):
                await conn.execute(delete(table))


class _StalePlan(Exception):
    """Another apply came between a diff and its apply."""


def _late(error: str | None) -> str:
    note = "result not recorded: another daemon owned the delivery by then"
    return f"{note}; {error}" if error else note


def _bind(name: str, *, expanding: bool = False) -> Any:
    from sqlalchemy import bindparam

    return bindparam(name, expanding=expanding)


IN_BATCH = 500  # values per IN (...): far below every backend's limit on bound parameters
WRITE_BATCH = 1_000  # rows per executemany of a sync


def _batches(rows: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Rows in lists of WRITE_BATCH, built as they are written."""
    it = iter(rows)
    while batch := list(itertools.islice(it, WRITE_BATCH)):
        yield batch


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


def _replace(d: Delivery, **changes: Any) -> Delivery:
    from dataclasses import replace

    return replace(d, **changes)
