"""The indexer's Alembic migrations create exactly the tables indexer/models.py declares."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from indexer.db import alembic_config, open_engine, sqlite_url, upgrade
from indexer.models import Base


def test_upgrade_head_creates_every_table_the_models_declare(tmp_path: Path) -> None:
    engine = open_engine(sqlite_url(tmp_path / "sub" / "indexer.db"))
    upgrade(engine)
    assert set(inspect(engine).get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def test_upgrade_head_twice_changes_nothing(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "indexer.db")
    engine = open_engine(url)
    upgrade(engine)
    upgrade(engine)
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    with engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == head == "0002"


def test_a_database_of_the_first_release_keeps_its_positions_through_the_upgrade(tmp_path: Path) -> None:
    """0002 adds positions.funding_index; a position stored before it counts from genesis's index."""
    url = sqlite_url(tmp_path / "indexer.db")
    engine = open_engine(url)
    command.upgrade(alembic_config(url), "0001")
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO positions VALUES ('0x01/0', 1, -30, 7)"))
    upgrade(engine)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT size, funding_index, updated_height FROM positions")).all() == \
            [(-30, 0, 7)]
