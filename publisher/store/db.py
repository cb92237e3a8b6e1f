"""Database engines and migrations.

SQLite: WAL, ``synchronous=FULL`` (a published post must survive a power cut), a busy
timeout, and ``BEGIN IMMEDIATE`` for writers so two writers never deadlock on lock upgrade.
Each SQLite transaction runs whole in one thread of the store's own (``SQLiteRunner``): one
hand-off between the event loop and a thread per transaction, where an async driver
(aiosqlite) pays three or four per statement; those hand-offs were most of the daemon's CPU
in a burst. PostgreSQL (asyncpg) for several daemons. The schema is upgraded by Alembic at
start; a database written by a newer publisher is refused rather than misread.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

T = TypeVar("T")

MIGRATIONS = Path(__file__).parent / "migrations"
BUSY_TIMEOUT_MS = 10_000
IDLE_TX_TIMEOUT_MS = 30_000


class SchemaTooNewError(RuntimeError):
    """The database was migrated by a newer publisher than this one."""


class DatabaseURLError(ValueError):
    pass


def driver_url(url: str) -> str:
    """Map the config's URL to the driver SQLAlchemy uses: pysqlite, or asyncpg."""
    if url.startswith(("sqlite+pysqlite:", "postgresql+asyncpg:")):
        return url
    if m := re.match(r"^sqlite(?:\+aiosqlite)?:(//.*)$", url):
        return f"sqlite+pysqlite:{m.group(1)}"
    if m := re.match(r"^postgres(?:ql)?:(//.*)$", url):
        return f"postgresql+asyncpg:{m.group(1)}"
    raise DatabaseURLError(
        f"unsupported database URL {redact_url(url)!r} "
        "(use sqlite:///path/queue.db or postgresql://user@host/db)"
    )


def redact_url(url: str) -> str:
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def is_sqlite(url: str) -> bool:
    return driver_url(url).startswith("sqlite")


def make_engine(url: str) -> AsyncEngine:
    """PostgreSQL's engine (asyncpg); SQLite goes through ``SQLiteRunner``."""
    durl = driver_url(url)
    if durl.startswith("sqlite"):
        raise ValueError("SQLite databases are opened with SQLiteRunner")
    return create_async_engine(
        durl,
        # A daemon frozen mid-transaction (SIGSTOP, a paused VM) must not hold its row and
        # account locks, and so every other daemon, for the whole pause.
        connect_args={
            "server_settings": {"idle_in_transaction_session_timeout": str(IDLE_TX_TIMEOUT_MS)}
        },
        pool_size=10,
        max_overflow=20,
        pool_pre_ping=True,
    )


class SQLiteRunner:
    """One SQLite connection, used by one thread of its own; each call is a whole transaction.

    Writers begin with ``BEGIN IMMEDIATE`` (when ``immediate``), readers with a plain
    ``BEGIN``. Calls queue up in order; SQLite serializes writers anyway, and a single
    connection needs no pool.
    """

    def __init__(self, url: str, *, immediate: bool = True) -> None:
        durl = driver_url(url)
        memory = durl.endswith(":memory:") or durl.endswith("://")
        if not memory:
            path = Path(durl.split(":///", 1)[1])
            path.parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(
            durl,
            poolclass=StaticPool,
            connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )
        self.immediate = immediate
        self._writing = False  # read by the "begin" hook, in the runner's thread only
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="publisher-sqlite")
        self._hooks()

    def _hooks(self) -> None:
        @event.listens_for(self.engine, "connect")
        def _connect(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's implicit BEGIN is
            # DEFERRED and would upgrade locks late).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(self.engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if self._writing else "BEGIN")

    def _call(self, write: bool, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        self._writing = write and self.immediate
        if write:
            with self.engine.begin() as conn:
                return fn(conn, *args)
        with self.engine.connect() as conn:
            return fn(conn, *args)

    async def run(self, write: bool, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, functools.partial(self._call, write, fn, args)
        )

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self.engine.dispose)
        self._executor.shutdown(wait=True)


# The newest migration. A database already there needs no Alembic at all (which keeps ~11 MB
# out of a long-running daemon); a test checks this equals Alembic's own head.
HEAD = "0002"


def _alembic_config(connection: Connection) -> Any:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(MIGRATIONS))
    head = script.get_current_head()
    assert head is not None
    return head


def _current(connection: Connection) -> str | None:
    try:
        row = connection.execute(text("SELECT version_num FROM alembic_version")).first()
    except Exception:  # no table yet: a new database
        return None
    return None if row is None else str(row[0])


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name != "postgresql" and _current(connection) == HEAD:
        return
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(MIGRATIONS))
    current = MigrationContext.configure(connection).get_current_revision()
    if current is not None:
        try:
            script.get_revision(current)
        except Exception as err:  # alembic raises several types for an unknown revision
            raise SchemaTooNewError(
                f"the database is at schema revision {current}, which this publisher "
                f"(schema {head_revision()}) does not know: it was written by a newer "
                "publisher. Upgrade publisher, or point `database` at another file."
            ) from err
    if connection.dialect.name == "postgresql":
        # Several daemons may start at once: one migrates, the others wait.
        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7270451)")
    command.upgrade(_alembic_config(connection), "head")


async def migrate(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)


def migrate_sync(connection: Connection) -> None:
    """The same upgrade, on a connection already in a transaction (SQLite's runner)."""
    _upgrade(connection)
