"""What a sync reads from and hands to the store: plain values, no SQLAlchemy, so ``validate``
and ``dry-run`` diff a queue against no database without loading the database layer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from publisher.states import DeliveryState

# In a ``PlanChanges.updates`` row: the state the diff read; the update holds only in it.
EXPECT_STATE = "expect_state"


@dataclass(frozen=True)
class PlanEntry:
    """What sync needs to know of an existing delivery."""

    id: int
    post_id: str
    account: str
    state: DeliveryState
    scheduled_at: datetime
    due_at: datetime
    not_after: datetime | None
    from_slot: bool
    content_hash: str
    published_hash: str | None
    reason: str | None = None
    published_at: datetime | None = None  # when it went out: evergreen posts' order and gap


@dataclass
class PlanChanges:
    """A whole sync, applied in one transaction.

    ``posts_upsert`` and ``inserts`` may be lazy sequences whose rows are built as they are
    read: apply writes them a batch at a time, so a first sync of a big file never holds
    every row (and its content JSON) at once.
    """

    posts_upsert: Sequence[Mapping[str, Any]] = field(default_factory=list)
    posts_removed: list[str] = field(default_factory=list)
    inserts: Sequence[Mapping[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)  # must hold "id"
    cancels: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            self.posts_upsert or self.posts_removed or self.inserts or self.updates or self.cancels
        )


@dataclass(frozen=True)
class LoadState:
    loaded_at: datetime | None
    ok: bool
    file_hash: str | None
    message: str | None
    applied_at: datetime | None
