"""The indexer's Alembic migrations create exactly the tables indexer/models.py declares."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from indexer.db import open_engine, sqlite_url, upgrade
from indexer.models import Base


def test_upgrade_head_creates_every_table_the_models_declare(tmp_path: Path) -> None:
    engine = open_engine(sqlite_url(tmp_path / "sub" / "indexer.db"))
    upgrade(engine)
    assert set(inspect(engine).get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def test_upgrade_head_twice_changes_nothing(tmp_path: Path) -> None:
    engine = open_engine(sqlite_url(tmp_path / "indexer.db"))
    upgrade(engine)
    upgrade(engine)
    with engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == "0001"
