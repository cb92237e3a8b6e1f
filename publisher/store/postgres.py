"""The store on PostgreSQL: several daemons on one database.

Daemons never wait on each other's rows: a claim takes them ``FOR UPDATE SKIP LOCKED``. Each
account is serialized with a transaction advisory lock while its caps are reckoned, so
per-account limits hold across daemons, and requests in flight are counted in the database,
where every daemon's are. Results lock their rows ``FOR UPDATE`` before comparing fences.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar, TypeVarTuple

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from publisher.store.db import make_engine, upgrade
from publisher.store.records import Delivery
from publisher.store.tables import (
    CLAIMABLE,
    DUE_WORK,
    LOOKED_UP,
    A,
    D,
    S,
    count_sending,
    deliveries,
    sending,
)

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

SYNC_LOCK = 7270452  # the advisory lock held while one daemon applies the queue file
MIGRATE_LOCK = 7270451  # the advisory lock held while one daemon upgrades the schema


def _one_migrates(conn: Connection) -> None:
    """Several daemons may start at once: one migrates, the others wait."""
    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATE_LOCK})")


def _migrate(conn: Connection) -> None:
    upgrade(conn, trust_head=False, serialize=_one_migrates)


def account_lock(account: str) -> Any:
    """The advisory lock key of an account (another daemon's claim on it takes the same)."""
    return func.pg_advisory_xact_lock(func.hashtext(f"publisher-account:{account}"))


class PostgresBackend:
    """``Backend`` on a PostgreSQL database, through asyncpg."""

    name = "postgresql"
    shared = True

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @classmethod
    async def open(cls, url: str) -> PostgresBackend:
        engine = make_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(_migrate)
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine)

    async def run(self, write: bool, fn: Callable[[Connection, *Ts], T], *args: *Ts) -> T:
        async with self.engine.begin() if write else self.engine.connect() as conn:
            return await conn.run_sync(fn, *args)

    async def close(self) -> None:
        await self.engine.dispose()

    @contextlib.asynccontextmanager
    async def sync_turn(self) -> AsyncIterator[bool]:
        async with self.engine.connect() as conn:
            got = (await conn.execute(select(func.pg_try_advisory_lock(SYNC_LOCK)))).scalar()
            await conn.commit()
            try:
                yield bool(got)
            finally:
                if got:
                    await conn.execute(select(func.pg_advisory_unlock(SYNC_LOCK)))
                    await conn.commit()

    async def server_now(self) -> datetime | None:
        def body(conn: Connection) -> datetime | None:
            value = conn.execute(select(func.now())).scalar()
            return value if isinstance(value, datetime) else None

        return await self.run(False, body)

    def due_candidates(
        self,
        conn: Connection,
        now: datetime,
        horizon: datetime,
        limit: int,
        excluded: Sequence[str],
    ) -> list[Delivery]:
        q = (
            select(D)
            .where(D.c.state.in_(CLAIMABLE), D.c.due_at <= horizon)
            .order_by(D.c.due_at, D.c.id)
            .limit(limit)
            # Accounts held by any daemon (a rate limit's reset, a revoked token) wait.
            .where(D.c.account.not_in(select(S.c.account).where(S.c.limited_until > now)))
            .with_for_update(skip_locked=True)
        )
        if excluded:
            q = q.where(D.c.account.not_in(list(excluded)))
        return deliveries(conn, q)

    def due_unknown(self, conn: Connection, now: datetime, limit: int) -> list[Delivery]:
        q = (
            select(D)
            .where(D.c.state.in_(LOOKED_UP), D.c.due_at <= now)
            .order_by(D.c.due_at, D.c.id)
            .limit(limit)
        )
        return deliveries(conn, q)

    def next_due(self, conn: Connection, excluded: Sequence[str]) -> datetime | None:
        q = select(func.min(D.c.due_at)).where(D.c.state.in_(DUE_WORK))
        if excluded:
            q = q.where(D.c.account.not_in(list(excluded)))
        value = conn.execute(q).scalar()
        return value if isinstance(value, datetime) else None

    def lock_accounts(self, conn: Connection, accounts: Sequence[str]) -> None:
        # Always in one order (sorted): two daemons locking the same accounts never deadlock.
        for a in sorted(set(accounts)):
            conn.execute(select(account_lock(a)))

    def in_flight(
        self, conn: Connection, accounts: Sequence[str], known: Mapping[str, int] | None
    ) -> dict[str, int]:
        # ``known`` is this daemon's own: the others' requests are in the database only.
        return count_sending(conn, accounts)

    def mark_sending(
        self,
        conn: Connection,
        ids: Sequence[int],
        worker: str,
        lease_until: datetime,
        now: datetime,
    ) -> None:
        conn.execute(
            update(D).where(D.c.id.in_(list(ids))).values(**sending(worker, now, lease_until))
        )

    def lock_fences(self, conn: Connection, ids: Sequence[int]) -> dict[int, int]:
        q = select(D.c.id, D.c.fence).where(D.c.id.in_(list(ids))).with_for_update()
        return {r[0]: r[1] for r in conn.execute(q)}

    def write_results(
        self, conn: Connection, keys: Sequence[str], rows: Sequence[Mapping[str, Any]]
    ) -> None:
        conn.execute(_results_statement(tuple(keys)), [dict(r) for r in rows])

    def insert_attempts(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        conn.execute(insert(A), [dict(r) for r in rows])  # one executemany for the batch


@functools.lru_cache(maxsize=64)
def _results_statement(keys: tuple[str, ...]) -> Any:
    """The UPDATE of one shape of result, built once: executemany binds each row."""
    return (
        update(D)
        .where(D.c.id == bindparam("b_id"), D.c.fence == bindparam("b_fence"))
        .values({k: bindparam(k) for k in keys})
    )
