"""The migrations build exactly the schema the models describe, and can be undone."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, text

import api.db.tables  # noqa: F401  (all tables)
from api.config import Settings, new_secrets
from api.db import Base, upgrade
from api.db.migrate import alembic_config, upgrade_connection
from api.db.partitions import include_name, migrated_schema
from api.db.session import make_engine
from api.readings.photo_bands import bands


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    # On PostgreSQL audit_log is partitioned by month (0019): its months are tables of their
    # own (left out: they are the parent's storage) and its unique hash holds ``at`` too,
    # which PostgreSQL requires; the model stays one plain table, the SQLite schema.
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": include_name})
        diff = compare_metadata(context, migrated_schema(Base.metadata, engine.dialect.name))
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


def test_0017_cuts_the_stored_photo_hashes_into_bands(tmp_path: Path) -> None:
    # A bare engine: SQLite without foreign keys, so one upload row needs no test behind it.
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as conn:
        upgrade_connection(conn, "0016_units_batch_index")
        for upload_id, dhash in ((1, "0123456789abcdef"), (2, None)):
            conn.execute(
                text(
                    "INSERT INTO uploads (id, self_test_id, photo_sha256, content_type, size_bytes,"
                    " taken_at, uploaded_at, queued_at, attempts, minutes_after_claim,"
                    " photo_dhash) VALUES (:id, 1, 'x', 'image/jpeg', 1, '2026-11-01',"
                    " '2026-11-01', '2026-11-01', 0, 1.0, :dhash)"
                ),
                {"id": upload_id, "dhash": dhash},
            )
        upgrade_connection(conn)
        rows = conn.execute(
            text("SELECT photo_band0, photo_band1, photo_band2 FROM uploads ORDER BY id")
        ).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [bands("0123456789abcdef"), (None, None, None)]
