"""Alembic, driven from code: ``upgrade(settings)`` is what ``vigil db upgrade`` runs."""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

from api.config import Settings

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
APP_ROLE_VARIABLE = "DATABASE_APP_ROLE"


def alembic_config(url: str, connection: Connection | None = None) -> Config:
    """An Alembic configuration for ``url``; no ``alembic.ini`` needed."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # Percent signs in passwords would be taken for interpolation.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Create or upgrade the schema of ``settings``' database to ``revision``."""
    url = settings.resolved_database_url
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)


def upgrade_connection(connection: Connection, revision: str = "head") -> None:
    """Upgrade through an open connection (tests run migrations inside their transaction)."""
    url = connection.engine.url.render_as_string(hide_password=False)
    command.upgrade(alembic_config(url, connection), revision)


def app_role(connection: Connection) -> str:
    """The server's role on PostgreSQL, quoted for SQL: ``DATABASE_APP_ROLE`` when set, else
    the role running the migration (when one role does both; see ``0007_audit_chain``)."""
    role = os.environ.get(APP_ROLE_VARIABLE) or connection.scalar(sa.text("SELECT current_user"))
    return connection.dialect.identifier_preparer.quote(str(role))
