"""The store: the applied plan and the ledger, in SQLite or PostgreSQL.

Its names are loaded when first asked for (PEP 562): ``publisher.store.plan`` and
``publisher.store.dburl`` need no SQLAlchemy, so ``validate`` and ``dry-run`` on a queue with
no database yet never load the database layer (``tests/test_fast_start.py``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from publisher.store.claims import Pass, Planner, TakeDue
    from publisher.store.db import IO_ERRORS, SchemaTooNewError, database_name, io_error
    from publisher.store.plan import EXPECT_STATE, LoadState, PlanChanges, PlanEntry
    from publisher.store.records import (
        Attempt,
        Delivery,
        FollowerCount,
        LookupAsk,
        Reading,
        ReadingState,
        Snapshot,
        SnapshotOutcome,
        Transition,
    )
    from publisher.store.repo import Store

_HOME = {
    "IO_ERRORS": "db",
    "SchemaTooNewError": "db",
    "database_name": "db",
    "io_error": "db",
    "EXPECT_STATE": "plan",
    "LoadState": "plan",
    "PlanChanges": "plan",
    "PlanEntry": "plan",
    "Attempt": "records",
    "Delivery": "records",
    "LookupAsk": "records",
    "Transition": "records",
    "FollowerCount": "records",
    "Reading": "records",
    "ReadingState": "records",
    "Snapshot": "records",
    "SnapshotOutcome": "records",
    "Pass": "claims",
    "Planner": "claims",
    "TakeDue": "claims",
    "Store": "repo",
}

__all__ = [
    "EXPECT_STATE",
    "IO_ERRORS",
    "Attempt",
    "Delivery",
    "FollowerCount",
    "LoadState",
    "LookupAsk",
    "Pass",
    "PlanChanges",
    "PlanEntry",
    "Planner",
    "Reading",
    "ReadingState",
    "SchemaTooNewError",
    "Snapshot",
    "SnapshotOutcome",
    "Store",
    "TakeDue",
    "Transition",
    "database_name",
    "io_error",
]

if not TYPE_CHECKING:  # mypy reads the imports above; an unknown name stays an error for it

    def __getattr__(name: str) -> Any:
        home = _HOME.get(name)
        if home is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
        globals()[name] = value
        return value
