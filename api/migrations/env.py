"""Alembic environment: the models' metadata, offline and online, or a given connection."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

import api.db.tables  # noqa: F401  (fills Base.metadata)
from api.db.base import Base
from api.db.partitions import include_name, migrated_schema
from api.db.session import make_engine

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        # What the migrations build there: on PostgreSQL audit_log is partitioned by month.
        target_metadata=migrated_schema(target_metadata, connection.dialect.name),
        include_name=include_name,
        # SQLite cannot ALTER most things; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    given = config.attributes.get("connection")
    if given is not None:
        _run(given)
        return
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
