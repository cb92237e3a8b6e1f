"""The applied plan: what a sync reads of it and how a whole diff is written, in one
transaction. Transaction bodies of ``Store``; the same statements on every backend.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection

from publisher import lifecycle
from publisher.states import DeliveryState
from publisher.store.records import EXPECT_STATE, LoadState, PlanChanges, PlanEntry
from publisher.store.tables import CANCELABLE, D, P, Q, written

IN_BATCH = 500  # values per IN (...): far below every backend's limit on bound parameters
WRITE_BATCH = 1_000  # rows per executemany of a sync


class StalePlan(Exception):
    """Another apply came between a diff and its apply."""


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
    D.c.published_at,
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
        r.published_at,
    )


def plan_index(conn: Connection) -> dict[tuple[str, str], PlanEntry]:
    rows = conn.execute(select(*_PLAN_COLUMNS))
    return {(r.post_id, r.account): _plan_entry(r) for r in rows}


def plan_entries(conn: Connection, ids: list[str]) -> dict[tuple[str, str], PlanEntry]:
    q = select(*_PLAN_COLUMNS).where(D.c.post_id.in_(bindparam("ids", expanding=True)))
    out: dict[tuple[str, str], PlanEntry] = {}
    for i in range(0, len(ids), IN_BATCH):
        for r in conn.execute(q, {"ids": ids[i : i + IN_BATCH]}):
            out[(r.post_id, r.account)] = _plan_entry(r)
    return out


def _batches(rows: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Rows in lists of WRITE_BATCH, built as they are written."""
    it = iter(rows)
    while batch := list(itertools.islice(it, WRITE_BATCH)):
        yield batch


def apply(
    conn: Connection,
    changes: PlanChanges,
    load: LoadState,
    expect: tuple[str | None, datetime | None] | None,
) -> None:
    """Write a whole diff and its load; ``StalePlan`` if what it was computed from changed
    (the transaction is then rolled back whole)."""
    # Bound IN lists are expanding parameters: with literal values, SQLAlchemy's statement
    # cache kept a first sync's 10,000 post ids alive.
    ids_param: Any = bindparam("ids", expanding=True)
    if expect is not None:
        r = conn.execute(select(Q.c.file_hash, Q.c.applied_at).where(Q.c.id == 1)).first()
        if r is None or (r.file_hash, r.applied_at) != expect:
            raise StalePlan
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
            raise StalePlan
    # What ``lifecycle.unplanned`` writes, where it applies.
    cancel = {**written(lifecycle.UNPLANNED), "updated_at": load.loaded_at}
    for i in range(0, len(changes.cancels), IN_BATCH):
        batch = changes.cancels[i : i + IN_BATCH]
        result = conn.execute(
            update(D).where(D.c.id.in_(ids_param), D.c.state.in_(CANCELABLE)).values(**cancel),
            {"ids": batch},
        )
        if result.rowcount != len(set(batch)):
            raise StalePlan  # claimed since: the next reading reports it as in flight
    write_load(conn, load)


def write_load(conn: Connection, load: LoadState) -> None:
    values = {
        "loaded_at": load.loaded_at,
        "ok": load.ok,
        "message": load.message,
    }
    # A failed load leaves the last applied plan's marks; one that applied some files of a
    # queue pattern (not ok, but applied) sets them: other daemons' sync caches then know
    # the stored plan changed.
    if load.ok or load.applied_at is not None:
        values["file_hash"] = load.file_hash
        values["applied_at"] = load.applied_at
    result = conn.execute(update(Q).where(Q.c.id == 1).values(**values))
    if result.rowcount == 0:
        conn.execute(insert(Q).values(id=1, **values))
