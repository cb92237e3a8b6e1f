"""Alembic environment: always run on a connection the store hands over (sync or run_sync)."""

from __future__ import annotations

from alembic import context

from publisher.store.models import SQLModel

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
context.run_migrations()
