"""What the store hands out and takes in: deliveries, plan entries and changes, results.

Plain values, free of any database: the backends build them from rows, the repository
writes them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from publisher.content import PostContent, RemotePart
from publisher.lifecycle import KEEP, Change
from publisher.states import DeliveryState, Outcome
from publisher.store import hot
from publisher.store.codec import content_from_json, parts_from_json, parts_to_json
from publisher.store.plan import EXPECT_STATE as EXPECT_STATE
from publisher.store.plan import LoadState as LoadState
from publisher.store.plan import PlanChanges as PlanChanges
from publisher.store.plan import PlanEntry as PlanEntry


@dataclass(frozen=True)
class Delivery:
    id: int
    post_id: str
    account: str
    network: str
    state: DeliveryState
    scheduled_at: datetime
    due_at: datetime
    not_after: datetime | None
    from_slot: bool
    content_hash: str
    content_json: str
    attempts: int
    parts: tuple[RemotePart, ...]
    published_hash: str | None
    published_at: datetime | None
    remote_id: str | None
    remote_url: str | None
    last_error: str | None
    error_class: str | None
    reason: str | None
    fence: int
    updated_at: datetime
    lookups: int = 0

    def content(self) -> PostContent:
        return content_from_json(self.content_json)

    @classmethod
    def from_tuple(cls, row: Sequence[Any]) -> Delivery:
        """From a plain SQLite row of ``hot.COLUMNS`` (times as stored text)."""
        (
            id_,
            post_id,
            account,
            network,
            state,
            scheduled_at,
            due_at,
            not_after,
            from_slot,
            content_hash,
            content,
            attempts,
            parts,
            published_hash,
            published_at,
            remote_id,
            remote_url,
            last_error,
            error_class,
            reason,
            fence,
            updated_at,
            lookups,
        ) = row
        return cls(
            id=id_,
            post_id=post_id,
            account=account,
            network=network,
            state=DeliveryState(state),
            scheduled_at=hot.loaded(scheduled_at),  # type: ignore[arg-type]
            due_at=hot.loaded(due_at),  # type: ignore[arg-type]
            not_after=hot.loaded(not_after),
            from_slot=bool(from_slot),
            content_hash=content_hash,
            content_json=content,
            attempts=attempts,
            parts=parts_from_json(parts),
            published_hash=published_hash,
            published_at=hot.loaded(published_at),
            remote_id=remote_id,
            remote_url=remote_url,
            last_error=last_error,
            error_class=error_class,
            reason=reason,
            fence=fence,
            updated_at=hot.loaded(updated_at),  # type: ignore[arg-type]
            lookups=lookups or 0,
        )

    @classmethod
    def from_row(cls, r: Any) -> Delivery:
        return cls(
            id=r.id,
            post_id=r.post_id,
            account=r.account,
            network=r.network,
            state=DeliveryState(r.state),
            scheduled_at=r.scheduled_at,
            due_at=r.due_at,
            not_after=r.not_after,
            from_slot=bool(r.from_slot),
            content_hash=r.content_hash,
            content_json=r.content,
            attempts=r.attempts,
            parts=parts_from_json(r.parts),
            published_hash=r.published_hash,
            published_at=r.published_at,
            remote_id=r.remote_id,
            remote_url=r.remote_url,
            last_error=r.last_error,
            error_class=r.error_class,
            reason=r.reason,
            fence=r.fence,
            updated_at=r.updated_at,
            lookups=r.lookups,
        )


@dataclass(frozen=True)
class Attempt:
    """A ledger row to append."""

    delivery_id: int
    post_id: str
    account: str
    network: str
    number: int
    started_at: datetime
    finished_at: datetime
    outcome: Outcome
    status_code: int | None = None
    error: str | None = None
    remote_id: str | None = None
    remote_url: str | None = None
    worker: str | None = None

    def row(self) -> dict[str, Any]:
        return {
            "delivery_id": self.delivery_id,
            "post_id": self.post_id,
            "account": self.account,
            "network": self.network,
            "number": self.number,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "outcome": self.outcome.value,
            "status_code": self.status_code,
            "error": self.error,
            "remote_id": self.remote_id,
            "remote_url": self.remote_url,
            "worker": self.worker,
        }


@dataclass(frozen=True)
class Transition:
    """A claimed delivery's result: its new state and fields, and the attempt to log."""

    delivery_id: int
    fence: int
    state: DeliveryState
    now: datetime
    due_at: datetime | None = None
    parts: tuple[RemotePart, ...] | None = None
    published_hash: str | None = None
    published_at: datetime | None = None
    remote_id: str | None = None
    remote_url: str | None = None
    last_error: str | None = None
    error_class: str | None = None
    reason: str | None = None
    attempt: Attempt | None = None
    release: bool = True  # drop the lease (a finished attempt)
    attention: str | None = None  # for observers: the account needs a human (not stored here)
    lookups: int | None = None
    attempts: int | None = None  # set: a claim handed back unsent (lifecycle.released)

    @classmethod
    def of(
        cls,
        d: Delivery,
        change: Change,
        now: datetime,
        *,
        parts: tuple[RemotePart, ...] | None = None,
        remote_id: str | None = None,
        remote_url: str | None = None,
        attempt: Attempt | None = None,
        attention: str | None = None,
    ) -> Transition:
        """A lifecycle ``change`` of ``d`` at ``now`` as the result to write, with what
        happened on the network (parts, remote ids) and the attempt for the ledger."""
        # ``values`` writes the error fields of every state but published: kept ones are
        # written back as they are (published: left out).
        state = change.state
        last_error = change.last_error
        if last_error is KEEP:
            last_error = None if state is DeliveryState.PUBLISHED else d.last_error
        error_class = change.error_class
        if error_class is KEEP:
            error_class = None if state is DeliveryState.PUBLISHED else d.error_class
        due_at, reason, lookups = change.due_at, change.reason, change.lookups
        # A sync's part (a plan written afresh, a reason emptied) is written by the sync's
        # own statements, never as a result; a count set here is a claim handed back unsent.
        assert not change.afresh and reason is not None
        publishes = change.publishes
        return cls(
            d.id,
            d.fence,
            state,
            now,
            due_at=None if due_at is KEEP else due_at,
            parts=parts,
            published_hash=d.content_hash if publishes else None,
            published_at=now if publishes else None,
            remote_id=remote_id,
            remote_url=remote_url,
            last_error=last_error,
            error_class=error_class,
            reason=None if reason is KEEP else reason,
            attempt=attempt,
            attention=attention,
            lookups=None if lookups is KEEP else lookups,
            attempts=None if change.attempts is KEEP else change.attempts,
        )

    def values(self) -> dict[str, Any]:
        v: dict[str, Any] = {"state": self.state.value, "updated_at": self.now}
        for name in (
            "lookups",
            "attempts",
            "due_at",
            "published_hash",
            "published_at",
            "remote_id",
            "remote_url",
            "reason",
        ):
            value = getattr(self, name)
            if value is not None:
                v[name] = value
        if self.parts is not None:
            v["parts"] = parts_to_json(self.parts)
        if self.state is not DeliveryState.PUBLISHED or self.last_error is not None:
            v["last_error"] = self.last_error
            v["error_class"] = self.error_class
        if self.release:
            v["lease_owner"] = None
            v["lease_until"] = None
        return v


@dataclass(frozen=True)
class AccountState:
    account: str
    limited_until: datetime | None
    attention: str | None
    attention_reason: str | None


@dataclass(frozen=True)
class LookupAsk:
    """Which unknown deliveries a pass may start looking up."""

    limit: int
    accounts: frozenset[str]  # accounts with an adapter here, not held
    busy: frozenset[int]  # deliveries this daemon already has in flight


# ------------------------------------------------------------------ engagement (issue 16)


class SnapshotOutcome(StrEnum):
    """What a reading found: the post's figures, or the post gone from the network."""

    TAKEN = "taken"
    GONE = "gone"


class ReadingState(StrEnum):
    """Where a reading due of a delivery stands (``engagement_due.state``)."""

    PENDING = "pending"  # to take at ``next_at`` (its age, a retry, or after a claim's lease)
    TAKEN = "taken"  # its snapshot is in the ledger
    GONE = "gone"  # the post is gone: read no more
    MISSED = "missed"  # not taken within its window (too late to be of its age), or dropped


@dataclass(frozen=True)
class Snapshot:
    """One row of the engagement ledger: a post's figures at one age (or the post gone)."""

    delivery_id: int
    post_id: str
    account: str
    network: str
    remote_id: str
    age: timedelta
    age_label: str
    due_at: datetime
    taken_at: datetime
    counts: Mapping[str, int]
    unavailable: tuple[str, ...] = ()
    extra: Mapping[str, int] = field(default_factory=dict)
    outcome: SnapshotOutcome = SnapshotOutcome.TAKEN

    @property
    def gone(self) -> bool:
        return self.outcome is SnapshotOutcome.GONE

    def row(self) -> dict[str, Any]:
        return {
            "delivery_id": self.delivery_id,
            "post_id": self.post_id,
            "account": self.account,
            "network": self.network,
            "remote_id": self.remote_id,
            "age_label": self.age_label,
            "age_seconds": int(self.age.total_seconds()),
            "due_at": self.due_at,
            "taken_at": self.taken_at,
            "counts": json.dumps(dict(self.counts), sort_keys=True),
            "unavailable": json.dumps(list(self.unavailable)),
            "extra": json.dumps(dict(self.extra), sort_keys=True),
            "outcome": self.outcome.value,
        }

    @classmethod
    def from_row(cls, r: Any) -> Snapshot:
        return cls(
            delivery_id=r.delivery_id,
            post_id=r.post_id,
            account=r.account,
            network=r.network,
            remote_id=r.remote_id,
            age=timedelta(seconds=r.age_seconds),
            age_label=r.age_label,
            due_at=r.due_at,
            taken_at=r.taken_at,
            counts={str(k): int(v) for k, v in json.loads(r.counts).items()},
            unavailable=tuple(str(n) for n in json.loads(r.unavailable)),
            extra={str(k): int(v) for k, v in json.loads(r.extra).items()},
            outcome=SnapshotOutcome(r.outcome),
        )


@dataclass(frozen=True)
class FollowerCount:
    """An account's follower count at one moment."""

    account: str
    network: str
    taken_at: datetime
    count: int


@dataclass(frozen=True)
class PublishedPost:
    """A published delivery as engagement collection sees it, with the ages already planned
    for it (``gone``: a reading found the post deleted; nothing more is planned)."""

    delivery_id: int
    post_id: str
    account: str
    network: str
    remote_id: str
    published_at: datetime
    planned: frozenset[int] = frozenset()  # age seconds with a row in engagement_due
    gone: bool = False


@dataclass(frozen=True)
class Reading:
    """A reading due of one delivery at one age (a row of ``engagement_due``)."""

    delivery_id: int
    age: timedelta
    age_label: str
    post_id: str
    account: str
    network: str
    remote_id: str
    published_at: datetime
    due_at: datetime
    until_at: datetime
    state: ReadingState = ReadingState.PENDING
    next_at: datetime | None = None  # None: at due_at
    attempts: int = 0
    last_error: str | None = None

    @property
    def key(self) -> tuple[int, int]:
        return (self.delivery_id, int(self.age.total_seconds()))

    def row(self, now: datetime) -> dict[str, Any]:
        return {
            "delivery_id": self.delivery_id,
            "age_seconds": int(self.age.total_seconds()),
            "age_label": self.age_label,
            "post_id": self.post_id,
            "account": self.account,
            "network": self.network,
            "remote_id": self.remote_id,
            "published_at": self.published_at,
            "due_at": self.due_at,
            "until_at": self.until_at,
            "state": self.state.value,
            "next_at": self.next_at or self.due_at,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "updated_at": now,
        }

    @classmethod
    def from_row(cls, r: Any) -> Reading:
        return cls(
            delivery_id=r.delivery_id,
            age=timedelta(seconds=r.age_seconds),
            age_label=r.age_label,
            post_id=r.post_id,
            account=r.account,
            network=r.network,
            remote_id=r.remote_id,
            published_at=r.published_at,
            due_at=r.due_at,
            until_at=r.until_at,
            state=ReadingState(r.state),
            next_at=r.next_at,
            attempts=r.attempts,
            last_error=r.last_error,
        )

    def snapshot(
        self,
        taken_at: datetime,
        counts: Mapping[str, int],
        unavailable: tuple[str, ...] = (),
        extra: Mapping[str, int] | None = None,
        outcome: SnapshotOutcome = SnapshotOutcome.TAKEN,
    ) -> Snapshot:
        return Snapshot(
            self.delivery_id,
            self.post_id,
            self.account,
            self.network,
            self.remote_id,
            self.age,
            self.age_label,
            self.due_at,
            taken_at,
            counts,
            unavailable,
            extra or {},
            outcome,
        )


@dataclass(frozen=True)
class ReadingTaken:
    """A reading's result: its snapshot appended, the reading ``taken``."""

    snapshot: Snapshot


@dataclass(frozen=True)
class ReadingGone:
    """The post is gone: this snapshot (outcome ``gone``) appended, every reading of the
    delivery still pending marked ``gone``."""

    snapshot: Snapshot


@dataclass(frozen=True)
class ReadingRetry:
    """A reading failed: try again at ``at``."""

    key: tuple[int, int]
    at: datetime
    error: str


@dataclass(frozen=True)
class ReadingMissed:
    """A reading that will not be taken: too late to be of its age, gave up, or dropped."""

    key: tuple[int, int]
    reason: str


ReadingChange = ReadingTaken | ReadingGone | ReadingRetry | ReadingMissed
