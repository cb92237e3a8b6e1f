"""The daemon's hot statements on SQLite, in plain SQL on the driver's connection.

A burst (thousands of deliveries due at once) spends its database time in a handful of
statements: claim what is due, write results, ask what is due next. Through SQLAlchemy's
expression layer each of these costs ten to twenty times what SQLite itself needs (statement
building, cache keys, bind and result processing), so on SQLite they are written out here,
with the same meaning as the expression versions in ``postgres.py``. The
store's tests run both against the same assertions, and ``SqliteBackend`` calls these.

They run inside the transaction the store's runner opened (``BEGIN IMMEDIATE`` for writers),
in its thread. Each call into SQLite lets go of the GIL and must win it back from a busy event
loop, so every statement here is one step: reads come back as one JSON row
(``json_group_array``), writes go in as one multi-row statement, never row by row.

Times are stored the way SQLAlchemy stores them on SQLite: naive UTC text,
``YYYY-MM-DD HH:MM:SS.ffffff``, so that text order is time order.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy.engine import Connection

from publisher import lifecycle
from publisher.lifecycle import Event

T = TypeVar("T")
Row = Callable[[Sequence[Any]], T]

# Where the lifecycle's events apply (``lifecycle.APPLIES``), as the statements bind them.
_CLAIMABLE = tuple(sorted(s.value for s in lifecycle.APPLIES[Event.CLAIM]))
_LOOKED_UP = tuple(sorted(s.value for s in lifecycle.APPLIES[Event.TAKE_LOOKUP]))
_DUE_WORK = tuple(sorted(s.value for s in lifecycle.DUE_WORK))
_SENDING = lifecycle.CLAIMED.state.value

# The columns a Delivery is built from, in this order (``Delivery.from_tuple``).
COLUMNS = (
    "id",
    "post_id",
    "account",
    "network",
    "state",
    "scheduled_at",
    "due_at",
    "not_after",
    "from_slot",
    "content_hash",
    "content",
    "attempts",
    "parts",
    "published_hash",
    "published_at",
    "remote_id",
    "remote_url",
    "last_error",
    "error_class",
    "reason",
    "fence",
    "updated_at",
    "lookups",
)
_DUE = COLUMNS.index("due_at")
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM deliveries"
_AS_JSON = f"SELECT json_group_array(json_array({', '.join(COLUMNS)})) FROM ({{query}})"
# Bound parameters per statement: SQLite allows 32,766.
_MAX_PARAMS = 30_000


# A burst converts the same few instants (one due time, a claim's time) thousands of times.
@functools.lru_cache(maxsize=4096)
def stored(value: datetime | None) -> str | None:
    """A time as SQLite holds it (naive UTC text); naive input is refused, as everywhere."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the store")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


@functools.lru_cache(maxsize=4096)
def loaded(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def _cursor(conn: Connection) -> Any:
    return conn.connection.driver_connection.cursor()  # type: ignore[union-attr]


def _rows(conn: Connection, query: str, params: Sequence[Any], make: Row[T]) -> list[T]:
    """The rows of a query over ``COLUMNS``, fetched as one JSON value, in query order."""
    (blob,) = _cursor(conn).execute(_AS_JSON.format(query=query), params).fetchone()
    rows = json.loads(blob)
    rows.sort(key=lambda r: (r[_DUE], r[0]))  # an aggregate's order is not promised
    return [make(r) for r in rows]


def due_candidates(
    conn: Connection,
    now: datetime,
    horizon: datetime,
    limit: int,
    excluded: Iterable[str],
    make: Row[T],
) -> list[T]:
    """Claimable deliveries due by ``horizon``, earliest first, but those of accounts held
    at ``now``."""
    skip = list(excluded)
    sql = (
        f"{_SELECT} WHERE state IN ({_marks(len(_CLAIMABLE))}) AND due_at <= ?"
        " AND account NOT IN (SELECT account FROM account_state WHERE limited_until > ?)"
    )
    if skip:
        sql += f" AND account NOT IN ({_marks(len(skip))})"
    sql += " ORDER BY due_at, id LIMIT ?"
    return _rows(conn, sql, (*_CLAIMABLE, stored(horizon), stored(now), *skip, limit), make)


def due_unknown(conn: Connection, now: datetime, limit: int, make: Row[T]) -> list[T]:
    sql = (
        f"{_SELECT} WHERE state IN ({_marks(len(_LOOKED_UP))}) AND due_at <= ?"
        " ORDER BY due_at, id LIMIT ?"
    )
    return _rows(conn, sql, (*_LOOKED_UP, stored(now), limit), make)


def next_due(conn: Connection, excluded: Sequence[str]) -> datetime | None:
    sql = f"SELECT min(due_at) FROM deliveries WHERE state IN ({_marks(len(_DUE_WORK))})"
    if excluded:
        sql += f" AND account NOT IN ({_marks(len(excluded))})"
    (value,) = _cursor(conn).execute(sql, (*_DUE_WORK, *excluded)).fetchone()
    return loaded(value)


def mark_sending(
    conn: Connection, ids: Sequence[int], worker: str, lease_until: datetime, now: datetime
) -> None:
    """Claim rows this transaction already holds (BEGIN IMMEDIATE): one UPDATE for all
    (``lifecycle.claim``: the caller chose them among the claimable)."""
    _cursor(conn).execute(
        "UPDATE deliveries SET state = ?, attempts = attempts + 1, fence = fence + 1,"
        f" lease_owner = ?, lease_until = ?, updated_at = ? WHERE id IN ({_marks(len(ids))})",
        (_SENDING, worker, stored(lease_until), stored(now), *ids),
    )


def fences(conn: Connection, ids: Sequence[int]) -> dict[int, int]:
    sql = f"SELECT json_group_object(id, fence) FROM deliveries WHERE id IN ({_marks(len(ids))})"
    (blob,) = _cursor(conn).execute(sql, tuple(ids)).fetchone()
    return {int(k): v for k, v in json.loads(blob).items()}


def _sql_value(value: Any) -> Any:
    return stored(value) if isinstance(value, datetime) else value


def _chunks(rows: Sequence[T], width: int) -> Iterator[Sequence[T]]:
    step = max(1, _MAX_PARAMS // width)
    for i in range(0, len(rows), step):
        yield rows[i : i + step]


def update_results(
    conn: Connection, keys: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> None:
    """Results of one shape in one UPDATE ... FROM (VALUES ...), each row fenced by
    ``b_id``/``b_fence``."""
    sets = ", ".join(f"{k} = v.column{i + 3}" for i, k in enumerate(keys))
    width = len(keys) + 2
    for chunk in _chunks(rows, width):
        values = ", ".join([f"({_marks(width)})"] * len(chunk))
        params = [
            p for r in chunk for p in (r["b_id"], r["b_fence"], *(_sql_value(r[k]) for k in keys))
        ]
        _cursor(conn).execute(
            f"UPDATE deliveries SET {sets} FROM (VALUES {values}) AS v"
            " WHERE deliveries.id = v.column1 AND deliveries.fence = v.column2",
            params,
        )


ATTEMPT_COLUMNS = (
    "delivery_id",
    "post_id",
    "account",
    "network",
    "number",
    "started_at",
    "finished_at",
    "outcome",
    "status_code",
    "error",
    "remote_id",
    "remote_url",
    "worker",
)


def insert_attempts(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    width = len(ATTEMPT_COLUMNS)
    for chunk in _chunks(rows, width):
        values = ", ".join([f"({_marks(width)})"] * len(chunk))
        _cursor(conn).execute(
            f"INSERT INTO attempts ({', '.join(ATTEMPT_COLUMNS)}) VALUES {values}",
            [_sql_value(r[k]) for r in chunk for k in ATTEMPT_COLUMNS],
        )
