"""The store's seam between what it means and how a database does it.

The repository (``repo.py``, ``claims.py``, ``plans.py``) says what a transaction does; a
``Backend`` says how its database runs transactions and the statements where SQLite and
PostgreSQL differ: how rows are held against other claimers (SQLite's single writer, or
``FOR UPDATE SKIP LOCKED`` and advisory locks), how fenced results are written in bulk, and
what only a server has (its clock, a lock between daemons). ``SqliteBackend`` and
``PostgresBackend`` are the two; ``tests/store/test_backend_contract.py`` runs one table of
cases against both.

The statement methods run inside a transaction the backend itself opened (``run``), on its
connection, and never commit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Protocol, TypeVar, TypeVarTuple

from sqlalchemy.engine import Connection

from publisher.store.db import is_sqlite
from publisher.store.postgres import PostgresBackend
from publisher.store.records import Delivery
from publisher.store.sqlite import SqliteBackend

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class Backend(Protocol):
    """One database, as the repository uses it."""

    @property
    def name(self) -> str:
        """The dialect: ``sqlite`` or ``postgresql``."""

    @property
    def shared(self) -> bool:
        """Several daemons may work on this database at once: leases and locks matter."""

    # -- transactions and the connection

    async def run(self, write: bool, fn: Callable[[Connection, *Ts], T], *args: *Ts) -> T:
        """``fn(connection, *args)`` in one transaction (a write one if ``write``),
        committed if it returns."""

    async def close(self) -> None: ...

    def sync_turn(self) -> AbstractAsyncContextManager[bool]:
        """Held while this daemon applies the queue file: yields False if another one is."""

    async def server_now(self) -> datetime | None:
        """The database server's clock; None where there is no server."""

    # -- statements, inside a transaction of ``run``

    def due_candidates(
        self,
        conn: Connection,
        now: datetime,
        horizon: datetime,
        limit: int,
        excluded: Sequence[str],
    ) -> list[Delivery]:
        """Claimable deliveries due by ``horizon``, earliest first, at most ``limit``, but
        those of ``excluded`` accounts and of accounts held at ``now``. The rows are this
        transaction's until it ends: no other claimer is handed them meanwhile, and where
        the database is shared another claimer passes them over without waiting."""

    def due_unknown(self, conn: Connection, now: datetime, limit: int) -> list[Delivery]:
        """Deliveries whose next lookup is due by ``now``, earliest first."""

    def next_due(self, conn: Connection, excluded: Sequence[str]) -> datetime | None:
        """The earliest due time of any work (a delivery to publish or to look up), but
        that of ``excluded`` accounts."""

    def lock_accounts(self, conn: Connection, accounts: Sequence[str]) -> None:
        """Serialize these accounts until the transaction ends: another transaction that
        locks one of them waits, so caps reckoned meanwhile hold across daemons."""

    def in_flight(
        self, conn: Connection, accounts: Sequence[str], known: Mapping[str, int] | None
    ) -> dict[str, int]:
        """Each account's requests out now. ``known`` is what this daemon counts itself;
        a database no other daemon uses takes it as it is."""

    def mark_sending(
        self,
        conn: Connection,
        ids: Sequence[int],
        worker: str,
        lease_until: datetime,
        now: datetime,
    ) -> None:
        """Claim rows this transaction holds (``lifecycle.claim``): ``sending`` under a new
        fence and ``worker``'s lease, one more attempt counted, all in one statement."""

    def lock_fences(self, conn: Connection, ids: Sequence[int]) -> dict[int, int]:
        """The current fence of each delivery, the rows held until the transaction ends
        (results are compared with these and then written)."""

    def write_results(
        self, conn: Connection, keys: Sequence[str], rows: Sequence[Mapping[str, Any]]
    ) -> None:
        """Results of one shape (the columns ``keys``) in bulk, each row written only where
        the delivery ``b_id`` still has the fence ``b_fence``."""

    def insert_attempts(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Append rows to the ledger (``Attempt.row``), in bulk."""


async def open_backend(url: str, *, readonly: bool = False) -> Backend:
    """The backend of the database at ``url``, its schema upgraded (a newer one refused)."""
    if is_sqlite(url):
        return await SqliteBackend.open(url, readonly=readonly)
    return await PostgresBackend.open(url)
