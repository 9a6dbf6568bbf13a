"""Alembic's environment for the indexer's tables: the engine or URL comes from indexer/db.py."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from indexer.models import Base


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    with create_engine(context.config.get_main_option("sqlalchemy.url") or "").connect() as opened:
        _run(opened)
