"""The store: the applied plan and the ledger, in SQLite or PostgreSQL."""

from publisher.store.db import SchemaTooNewError
from publisher.store.repo import (
    EXPECT_STATE,
    Attempt,
    Delivery,
    LoadState,
    LookupAsk,
    Pass,
    PlanChanges,
    PlanEntry,
    Store,
    Transition,
)

__all__ = [
    "EXPECT_STATE",
    "Attempt",
    "Delivery",
    "LoadState",
    "LookupAsk",
    "Pass",
    "PlanChanges",
    "PlanEntry",
    "SchemaTooNewError",
    "Store",
    "Transition",
]
