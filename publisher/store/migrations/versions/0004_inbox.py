"""The inbox: items heard, the listening cursors, the volume alerts sent (issue 20).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from publisher.store.models import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox_items",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("network", sa.String(32), nullable=False),
        sa.Column("remote_id", sa.String(256), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("watch", sa.String(64), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("author", sa.String(256), nullable=False),
        sa.Column("author_name", sa.String(256), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("answers", sa.String(256), nullable=True),
        sa.Column("answers_post", sa.String(128), nullable=True),
        sa.Column("reply_refs", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("state_at", UTCDateTime(), nullable=True),
        sa.Column("answer_post", sa.String(128), nullable=True),
        sa.Column("answer_account", sa.String(64), nullable=True),
        sa.Column("answered_at", UTCDateTime(), nullable=True),
        sa.Column("alerted_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("network", "remote_id", name="uq_inbox_network_remote"),
    )
    op.create_index("ix_inbox_items_account_received", "inbox_items", ["account", "received_at"])
    op.create_index("ix_inbox_items_state", "inbox_items", ["state"])
    op.create_table(
        "listen_cursors",
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("stream", sa.String(128), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("read_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("account", "stream"),
    )
    op.create_table(
        "inbox_alerts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("window", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.UniqueConstraint("rule", "account", "window", name="uq_inbox_alert"),
    )


def downgrade() -> None:
    for table in ("inbox_alerts", "listen_cursors", "inbox_items"):
        op.drop_table(table)
