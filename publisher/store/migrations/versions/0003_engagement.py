"""The engagement ledger: readings due, snapshots taken, follower counts (issue 16).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from publisher.store.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "engagement_due",
        sa.Column("delivery_id", sa.Integer(), sa.ForeignKey("deliveries.id"), nullable=False),
        sa.Column("age_seconds", sa.Integer(), nullable=False),
        sa.Column("age_label", sa.String(16), nullable=False),
        sa.Column("post_id", sa.String(128), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("network", sa.String(32), nullable=False),
        sa.Column("remote_id", sa.String(256), nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("until_at", UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("next_at", UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("delivery_id", "age_seconds"),
    )
    op.create_index("ix_engagement_due_state_next", "engagement_due", ["state", "next_at"])
    op.create_index("ix_engagement_due_account", "engagement_due", ["account"])
    op.create_table(
        "engagement_snapshots",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("delivery_id", sa.Integer(), sa.ForeignKey("deliveries.id"), nullable=False),
        sa.Column("post_id", sa.String(128), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("network", sa.String(32), nullable=False),
        sa.Column("remote_id", sa.String(256), nullable=False),
        sa.Column("age_label", sa.String(16), nullable=False),
        sa.Column("age_seconds", sa.Integer(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("taken_at", UTCDateTime(), nullable=False),
        sa.Column("counts", sa.Text(), nullable=False),
        sa.Column("unavailable", sa.Text(), nullable=False),
        sa.Column("extra", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.UniqueConstraint("delivery_id", "age_seconds", name="uq_snapshot_delivery_age"),
    )
    op.create_index("ix_engagement_snapshots_post_id", "engagement_snapshots", ["post_id"])
    op.create_index(
        "ix_engagement_snapshots_account_taken", "engagement_snapshots", ["account", "taken_at"]
    )
    op.create_table(
        "follower_counts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("network", sa.String(32), nullable=False),
        sa.Column("taken_at", UTCDateTime(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
    )
    op.create_index("ix_follower_counts_account_taken", "follower_counts", ["account", "taken_at"])


def downgrade() -> None:
    for table in ("follower_counts", "engagement_snapshots", "engagement_due"):
        op.drop_table(table)
