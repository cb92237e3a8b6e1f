"""The tables: posts (the applied plan), deliveries (post × account), attempts (the ledger).

Times are stored as UTC; ``UTCDateTime`` makes SQLite hand back aware datetimes too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, Index, Text, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every backend. Naive ones are refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _when(nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class PostRow(SQLModel, table=True):
    __tablename__ = "posts"

    id: str = Field(primary_key=True, max_length=128)
    content_hash: str = Field(max_length=64)
    line: int = 0
    removed_at: datetime | None = _when(nullable=True)
    created_at: datetime = _when()
    updated_at: datetime = _when()


class DeliveryRow(SQLModel, table=True):
    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("post_id", "account", name="uq_delivery_post_account"),
        Index("ix_deliveries_state_due", "state", "due_at"),
        Index("ix_deliveries_account_published", "account", "published_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    post_id: str = Field(max_length=128, index=True)
    account: str = Field(max_length=64)
    network: str = Field(max_length=32)
    state: str = Field(max_length=16)
    scheduled_at: datetime = _when()  # what the plan says
    due_at: datetime = _when()  # when to act next (deferred, retry)
    not_after: datetime | None = _when(nullable=True)
    from_slot: bool = False
    content_hash: str = Field(max_length=64)
    content: str = Field(sa_column=Column(Text, nullable=False))  # JSON PostContent
    attempts: int = 0
    parts: str = Field(default="[]", sa_column=Column(Text, nullable=False))  # JSON RemoteParts
    published_hash: str | None = Field(default=None, max_length=64)
    published_at: datetime | None = _when(nullable=True)
    remote_id: str | None = Field(default=None, max_length=256)
    remote_url: str | None = Field(default=None, max_length=1024)
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    error_class: str | None = Field(default=None, max_length=16)
    reason: str | None = Field(
        default=None, sa_column=Column(Text, nullable=True)
    )  # why deferred/missed/canceled
    lease_owner: str | None = Field(default=None, max_length=128)
    lease_until: datetime | None = _when(nullable=True)
    fence: int = 0
    lookups: int = Field(default=0, sa_column_kwargs={"server_default": "0"})  # to resolve unknown
    updated_at: datetime = _when()


class AttemptRow(SQLModel, table=True):
    """The append-only ledger: one row per attempt, never updated."""

    __tablename__ = "attempts"

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(index=True, foreign_key="deliveries.id")
    post_id: str = Field(max_length=128, index=True)
    account: str = Field(max_length=64, index=True)
    network: str = Field(max_length=32)
    number: int
    started_at: datetime = _when()
    finished_at: datetime = _when(index=True)
    outcome: str = Field(max_length=16)
    status_code: int | None = None
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    remote_id: str | None = Field(default=None, max_length=256)
    remote_url: str | None = Field(default=None, max_length=1024)
    worker: str | None = Field(default=None, max_length=128)


class AccountStateRow(SQLModel, table=True):
    """Per-account runtime facts shared by every daemon: rate limits and needed attention."""

    __tablename__ = "account_state"

    account: str = Field(primary_key=True, max_length=64)
    limited_until: datetime | None = _when(nullable=True)
    attention: str | None = Field(default=None, max_length=32)
    attention_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    updated_at: datetime = _when()


class SyncStateRow(SQLModel, table=True):
    """The last queue load: shown by status and /healthz."""

    __tablename__ = "sync_state"

    id: int = Field(default=1, primary_key=True)
    loaded_at: datetime | None = _when(nullable=True)
    ok: bool = True
    file_hash: str | None = Field(default=None, max_length=64)
    message: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    applied_at: datetime | None = _when(nullable=True)


class EngagementDueRow(SQLModel, table=True):
    """One reading to take of a published delivery: its age, its window, its retry state.

    Written when the collector first sees the delivery published; the reading's snapshot
    (``engagement_snapshots``) is appended in the same transaction that turns ``pending``
    into ``taken``, so a reading is never taken twice, by this daemon or another.
    """

    __tablename__ = "engagement_due"
    __table_args__ = (Index("ix_engagement_due_state_next", "state", "next_at"),)

    delivery_id: int = Field(primary_key=True, foreign_key="deliveries.id")
    age_seconds: int = Field(primary_key=True)
    age_label: str = Field(max_length=16)
    post_id: str = Field(max_length=128)
    account: str = Field(max_length=64, index=True)
    network: str = Field(max_length=32)
    remote_id: str = Field(max_length=256)
    published_at: datetime = _when()
    due_at: datetime = _when()  # published_at + age
    until_at: datetime = _when()  # past this the reading would not be of its age: missed
    state: str = Field(max_length=16)  # ReadingState
    next_at: datetime = _when()  # the next try (due_at, a retry, or a claim's lease)
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    updated_at: datetime = _when()


class EngagementSnapshotRow(SQLModel, table=True):
    """The engagement ledger: one row per reading taken (or post found gone), never updated."""

    __tablename__ = "engagement_snapshots"
    __table_args__ = (
        UniqueConstraint("delivery_id", "age_seconds", name="uq_snapshot_delivery_age"),
        Index("ix_engagement_snapshots_account_taken", "account", "taken_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="deliveries.id")
    post_id: str = Field(max_length=128, index=True)
    account: str = Field(max_length=64)
    network: str = Field(max_length=32)
    remote_id: str = Field(max_length=256)
    age_label: str = Field(max_length=16)
    age_seconds: int
    due_at: datetime = _when()
    taken_at: datetime = _when()
    counts: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # JSON name: int
    unavailable: str = Field(default="[]", sa_column=Column(Text, nullable=False))  # JSON list
    extra: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # JSON name: int
    outcome: str = Field(max_length=16)  # SnapshotOutcome


class FollowerCountRow(SQLModel, table=True):
    """Each account's follower count, read once a day; never updated."""

    __tablename__ = "follower_counts"
    __table_args__ = (Index("ix_follower_counts_account_taken", "account", "taken_at"),)

    id: int | None = Field(default=None, primary_key=True)
    account: str = Field(max_length=64)
    network: str = Field(max_length=32)
    taken_at: datetime = _when()
    count: int


class InboxItemRow(SQLModel, table=True):
    """What people said to an account or about it (issue 20): one row per item, unique per
    network and remote id, whichever of our accounts or watches heard it first."""

    __tablename__ = "inbox_items"
    __table_args__ = (
        UniqueConstraint("network", "remote_id", name="uq_inbox_network_remote"),
        Index("ix_inbox_items_account_received", "account", "received_at"),
        Index("ix_inbox_items_state", "state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    network: str = Field(max_length=32)
    remote_id: str = Field(max_length=256)
    account: str = Field(max_length=64)  # the account that heard it
    watch: str | None = Field(default=None, max_length=64)  # the watch that found it
    kind: str = Field(max_length=16)  # ItemKind
    author: str = Field(max_length=256)
    author_name: str = Field(default="", max_length=256)
    text: str = Field(default="", sa_column=Column(Text, nullable=False))
    url: str = Field(default="", max_length=2048)
    created_at: datetime = _when()
    received_at: datetime = _when()
    answers: str | None = Field(default=None, max_length=256)  # remote id of our post
    answers_post: str | None = Field(default=None, max_length=128)  # its post id, if ours
    reply_refs: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # JSON
    state: str = Field(max_length=16)  # ItemState
    state_at: datetime | None = _when(nullable=True)
    # Our answer (``reply_to:``): written before it is sent; handled once it is published.
    answer_post: str | None = Field(default=None, max_length=128)
    answer_account: str | None = Field(default=None, max_length=64)
    answered_at: datetime | None = _when(nullable=True)
    alerted_at: datetime | None = _when(nullable=True)


class ListenCursorRow(SQLModel, table=True):
    """Where an account's next read resumes, per stream (its inbox, each watch)."""

    __tablename__ = "listen_cursors"

    account: str = Field(primary_key=True, max_length=64)
    stream: str = Field(primary_key=True, max_length=128)  # "inbox" or "watch:<name>"
    cursor: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    read_at: datetime = _when()


class InboxAlertRow(SQLModel, table=True):
    """A volume alert sent, once per rule, account and hour."""

    __tablename__ = "inbox_alerts"
    __table_args__ = (UniqueConstraint("rule", "account", "window", name="uq_inbox_alert"),)

    id: int | None = Field(default=None, primary_key=True)
    rule: str = Field(max_length=64)
    account: str = Field(max_length=64)
    window: datetime = _when()
    sent_at: datetime = _when()
    count: int
