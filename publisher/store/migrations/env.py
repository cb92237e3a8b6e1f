"""Alembic environment: always run on a connection the store hands over (sync or run_sync)."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import publisher.store.models  # noqa: F401  (registers the tables)

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
context.run_migrations()
