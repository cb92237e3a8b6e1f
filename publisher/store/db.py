"""Database engines and migrations.

SQLite: WAL, ``synchronous=FULL`` (a published post must survive a power cut), a busy
timeout, and ``BEGIN IMMEDIATE`` for writers so two writers never deadlock on lock upgrade.
PostgreSQL (asyncpg) for several daemons. The schema is upgraded by Alembic at start; a
database written by a newer publisher is refused rather than misread.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

MIGRATIONS = Path(__file__).parent / "migrations"
BUSY_TIMEOUT_MS = 10_000
IDLE_TX_TIMEOUT_MS = 30_000


class SchemaTooNewError(RuntimeError):
    """The database was migrated by a newer publisher than this one."""


class DatabaseURLError(ValueError):
    pass


def async_url(url: str) -> str:
    """Map the config's URL to the async driver SQLAlchemy needs."""
    if url.startswith(("sqlite+aiosqlite:", "postgresql+asyncpg:")):
        return url
    if m := re.match(r"^sqlite:(//.*)$", url):
        return f"sqlite+aiosqlite:{m.group(1)}"
    if m := re.match(r"^postgres(?:ql)?:(//.*)$", url):
        return f"postgresql+asyncpg:{m.group(1)}"
    raise DatabaseURLError(
        f"unsupported database URL {redact_url(url)!r} "
        "(use sqlite:///path/queue.db or postgresql://user@host/db)"
    )


def redact_url(url: str) -> str:
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def is_sqlite(url: str) -> bool:
    return async_url(url).startswith("sqlite")


def make_engine(url: str, *, immediate: bool = True) -> AsyncEngine:
    """An engine whose transactions are ``BEGIN IMMEDIATE`` on SQLite when ``immediate``."""
    aurl = async_url(url)
    kwargs: dict[str, Any] = {}
    if aurl.startswith("sqlite"):
        memory = aurl.endswith(":memory:") or aurl.endswith("://")
        if memory:
            kwargs["poolclass"] = StaticPool
        else:
            # A pool: every new aiosqlite connection is a thread and a file open.
            kwargs["pool_size"] = 4
            kwargs["max_overflow"] = 4
        kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT_MS / 1000}
        if not memory:
            path = Path(aurl.split(":///", 1)[1])
            path.parent.mkdir(parents=True, exist_ok=True)
    else:
        # A daemon frozen mid-transaction (SIGSTOP, a paused VM) must not hold its row and
        # account locks, and so every other daemon, for the whole pause.
        kwargs["connect_args"] = {
            "server_settings": {"idle_in_transaction_session_timeout": str(IDLE_TX_TIMEOUT_MS)}
        }
        kwargs["pool_size"] = 10
        kwargs["max_overflow"] = 20
        kwargs["pool_pre_ping"] = True
    engine = create_async_engine(aurl, **kwargs)
    if aurl.startswith("sqlite"):
        _sqlite_pragmas(engine, immediate=immediate)
    return engine


def _sqlite_pragmas(engine: AsyncEngine, *, immediate: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
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

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


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
