"""The migrations build exactly the schema the models describe, and can be undone."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

import api.db.tables  # noqa: F401  (all tables)
from api.config import Settings, new_secrets
from api.db import Base, upgrade
from api.db.migrate import alembic_config
from api.db.session import make_engine


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_upgrade_from_settings_then_downgrade(tmp_path: Path) -> None:
    settings = Settings(mode="test", data_dir=tmp_path / "data", **new_secrets())
    upgrade(settings)
    url = settings.resolved_database_url
    engine = make_engine(url)
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    command.downgrade(alembic_config(url), "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
