"""The store on SQLite: one daemon, one writer at a time.

Every transaction runs whole in the store's own thread (``SQLiteRunner``); writers begin with
``BEGIN IMMEDIATE``, which holds the whole file against every other writer until the commit.
So rows and accounts need no lock of their own here, and a daemon alone on its file may trust
its own count of requests in flight. The hot statements are plain SQL (``hot.py``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar, TypeVarTuple

from sqlalchemy.engine import Connection

from publisher.store import hot
from publisher.store.db import SQLiteRunner, upgrade
from publisher.store.records import Delivery
from publisher.store.tables import count_sending

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


def _migrate(conn: Connection) -> None:
    upgrade(conn, trust_head=True)


class SqliteBackend:
    """``Backend`` on one SQLite file."""

    name = "sqlite"
    shared = False

    def __init__(self, runner: SQLiteRunner) -> None:
        self.runner = runner

    @classmethod
    async def open(cls, url: str, *, readonly: bool = False) -> SqliteBackend:
        runner = SQLiteRunner(url, immediate=not readonly)
        try:
            await runner.run(True, _migrate)
        except BaseException:
            await runner.close()
            raise
        return cls(runner)

    async def run(self, write: bool, fn: Callable[[Connection, *Ts], T], *args: *Ts) -> T:
        return await self.runner.run(write, fn, *args)

    async def close(self) -> None:
        await self.runner.close()

    @contextlib.asynccontextmanager
    async def sync_turn(self) -> AsyncIterator[bool]:
        yield True  # one daemon per file: its turn is always now

    async def server_now(self) -> datetime | None:
        return None

    def due_candidates(
        self,
        conn: Connection,
        now: datetime,
        horizon: datetime,
        limit: int,
        excluded: Sequence[str],
    ) -> list[Delivery]:
        return hot.due_candidates(conn, now, horizon, limit, excluded, Delivery.from_tuple)

    def due_unknown(self, conn: Connection, now: datetime, limit: int) -> list[Delivery]:
        return hot.due_unknown(conn, now, limit, Delivery.from_tuple)

    def next_due(self, conn: Connection, excluded: Sequence[str]) -> datetime | None:
        return hot.next_due(conn, excluded)

    def lock_accounts(self, conn: Connection, accounts: Sequence[str]) -> None:
        """Nothing to take: ``BEGIN IMMEDIATE`` already holds the file."""

    def in_flight(
        self, conn: Connection, accounts: Sequence[str], known: Mapping[str, int] | None
    ) -> dict[str, int]:
        return dict(known) if known is not None else count_sending(conn, accounts)

    def mark_sending(
        self,
        conn: Connection,
        ids: Sequence[int],
        worker: str,
        lease_until: datetime,
        now: datetime,
    ) -> None:
        hot.mark_sending(conn, ids, worker, lease_until, now)

    def lock_fences(self, conn: Connection, ids: Sequence[int]) -> dict[int, int]:
        return hot.fences(conn, ids)

    def write_results(
        self, conn: Connection, keys: Sequence[str], rows: Sequence[Mapping[str, Any]]
    ) -> None:
        hot.update_results(conn, keys, rows)

    def insert_attempts(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        hot.insert_attempts(conn, rows)
