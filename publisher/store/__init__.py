"""The store: the applied plan and the ledger, in SQLite or PostgreSQL."""

from publisher.store.db import IO_ERRORS, SchemaTooNewError, database_name, io_error
from publisher.store.repo import (
    EXPECT_STATE,
    Attempt,
    Delivery,
    LoadState,
    LookupAsk,
    Pass,
    PlanChanges,
    PlanEntry,
    Planner,
    Store,
    TakeDue,
    Transition,
)

__all__ = [
    "EXPECT_STATE",
    "IO_ERRORS",
    "Attempt",
    "Delivery",
    "LoadState",
    "LookupAsk",
    "Pass",
    "PlanChanges",
    "PlanEntry",
    "Planner",
    "SchemaTooNewError",
    "Store",
    "TakeDue",
    "Transition",
    "database_name",
    "io_error",
]
