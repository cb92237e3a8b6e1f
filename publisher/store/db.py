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
import collections
import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from publisher.secrets import REDACTOR
from publisher.store.dburl import DatabaseURLError as DatabaseURLError
from publisher.store.dburl import driver_url
from publisher.store.dburl import is_sqlite as is_sqlite
from publisher.store.dburl import redact_url as redact_url

T = TypeVar("T")

MIGRATIONS = Path(__file__).parent / "migrations"
BUSY_TIMEOUT_MS = 10_000
IDLE_TX_TIMEOUT_MS = 30_000


# Errors of the disk or the database (full, read-only, away): they pass, so what met one is
# tried again, unlike a file's mistakes or a bug.
IO_ERRORS = (OSError, DBAPIError)


def io_error(err: BaseException) -> str:
    """One line for an error of the disk or the database, secrets scrubbed."""
    if isinstance(err, DBAPIError):
        detail = str(err.orig) if err.orig is not None else str(err)
        text = f"database error: {detail.splitlines()[0] if detail else type(err.orig).__name__}"
    elif isinstance(err, OSError) and err.strerror:
        text = f"{err.filename}: {err.strerror}" if err.filename else err.strerror
    else:
        text = f"{type(err).__name__}: {err}".splitlines()[0]
    return REDACTOR.scrub(text)


def database_name(url: str) -> str:
    """The database as a message may name it: never a password in a URL."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "the configured database"


class SchemaTooNewError(RuntimeError):
    """The database was migrated by a newer publisher than this one."""


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


@dataclass
class _Job:
    write: bool
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]


class SQLiteRunner:
    """One SQLite connection, used by one thread of its own; each call is a whole transaction.

    Writers begin with ``BEGIN IMMEDIATE`` (when ``immediate``), readers with a plain
    ``BEGIN``. Calls are served in order. Write calls waiting together share one transaction
    and so one commit (group commit): each runs in a savepoint of its own, so one that fails
    is rolled back alone and only its caller sees the error; none is told it succeeded before
    the commit is durable. With ``synchronous=FULL`` a commit is an fsync, and a busy daemon
    would otherwise pay one for its claims and another for its results, pass after pass.
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
        self._jobs: collections.deque[_Job] = collections.deque()
        self._ready = threading.Condition()
        self._closed = False
        self._hooks()
        self._thread = threading.Thread(target=self._serve, name="publisher-sqlite", daemon=True)
        self._thread.start()

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

    async def run(self, write: bool, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        job = _Job(write, fn, args, loop, loop.create_future())
        with self._ready:
            if self._closed:
                raise RuntimeError("the store is closed")
            self._jobs.append(job)
            self._ready.notify()
        return cast(T, await job.future)

    # -- in the runner's thread

    def _serve(self) -> None:
        while True:
            with self._ready:
                while not self._jobs and not self._closed:
                    self._ready.wait()
                if not self._jobs:
                    self.engine.dispose()
                    return
                group = [self._jobs.popleft()]
                while group[0].write and self._jobs and self._jobs[0].write:
                    group.append(self._jobs.popleft())
            try:
                outcomes = self._writes(group) if group[0].write else [self._read(group[0])]
            except BaseException as err:  # BEGIN or COMMIT failed: no job took effect
                outcomes = [(False, err)] * len(group)
            _settle(group, outcomes)

    def _read(self, job: _Job) -> tuple[bool, Any]:
        self._writing = False
        try:
            with self.engine.connect() as conn:
                return True, job.fn(conn, *job.args)
        except Exception as err:
            return False, err

    def _writes(self, group: list[_Job]) -> list[tuple[bool, Any]]:
        self._writing = self.immediate
        if len(group) == 1:
            job = group[0]
            try:
                with self.engine.begin() as conn:
                    return [(True, job.fn(conn, *job.args))]
            except Exception as err:
                return [(False, err)]
        outcomes: list[tuple[bool, Any]] = []
        with self.engine.begin() as conn:
            for job in group:
                savepoint = conn.begin_nested()
                try:
                    value = job.fn(conn, *job.args)
                except Exception as err:
                    savepoint.rollback()
                    outcomes.append((False, err))
                else:
                    savepoint.commit()
                    outcomes.append((True, value))
        return outcomes

    async def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify()
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join)


def _settle(group: list[_Job], outcomes: list[tuple[bool, Any]]) -> None:
    """Hand the results back to the waiting coroutines, in one call per event loop."""
    loops: dict[asyncio.AbstractEventLoop, list[tuple[_Job, tuple[bool, Any]]]] = {}
    for job, outcome in zip(group, outcomes, strict=True):
        loops.setdefault(job.loop, []).append((job, outcome))
    for loop, items in loops.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            loop.call_soon_threadsafe(_deliver, items)


def _deliver(items: list[tuple[_Job, tuple[bool, Any]]]) -> None:
    for job, (ok, value) in items:
        if job.future.done():  # its caller was cancelled meanwhile
            continue
        if ok:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)


# The newest migration. A database already there needs no Alembic at all (which keeps ~11 MB
# out of a long-running daemon); a test checks this equals Alembic's own head.
HEAD = "0004"


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


def upgrade(
    connection: Connection,
    *,
    trust_head: bool,
    serialize: Callable[[Connection], None] | None = None,
) -> None:
    """Bring the schema to this publisher's head, in the connection's transaction.

    With ``trust_head``, a database that says it is at ``HEAD`` is left as it is without
    loading Alembic. ``serialize`` runs just before Alembic does, for a database several
    daemons may start on at once (one migrates, the others wait). The backends choose.
    """
    if trust_head and _current(connection) == HEAD:
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
    if serialize is not None:
        serialize(connection)
    command.upgrade(_alembic_config(connection), "head")
