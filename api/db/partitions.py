"""Monthly partitions on PostgreSQL: keeping months ahead, and the schema they make.

Migration ``0019_partition_audit_log`` range-partitions ``audit_log`` by month on ``at``
(UTC) on PostgreSQL and defines ``audit_log_add_months``, which creates missing months; the
server's role may call it, so beat's daily :func:`keep_ahead` (and ``vigil db partitions``)
keeps the current month and the next :data:`MONTHS_AHEAD` in place. There is no default
partition: an entry for a month without one fails with its transaction (see the migration).

The models stay one plain table (they are also the SQLite schema, where nothing is
partitioned); :func:`migrated_schema` and :func:`include_name` say how the migrated
PostgreSQL schema differs from them, for the migrations check and for autogenerate.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

from sqlalchemy import Connection, MetaData, UniqueConstraint, text

from api.db.base import utcnow
from api.db.session import Database

MONTHS_AHEAD = 3
"""Months kept in place after the current one."""

PARTITIONED = "audit_log"
# The migration's function names each month so: audit_log_y2026m11.
_PARTITION_NAME = re.compile(r"audit_log_y\d{4}m\d{2}")


def add_months(connection: Connection, today: date, months: int = MONTHS_AHEAD) -> list[str]:
    """Create the partitions of ``today``'s month and the ``months`` after it that are
    missing; the names created (none when all exist, or on SQLite).

    Waits at most 10 s for the locks it needs (a failure is retried on the next day's run).
    """
    if connection.dialect.name != "postgresql":
        return []
    created = connection.scalars(
        text("SELECT audit_log_add_months(:first, :months)"),
        {"first": today.replace(day=1), "months": months},
    )
    return list(created)


def months_ahead(connection: Connection, today: date) -> int | None:
    """How many months after ``today``'s have their partition (None on SQLite): the figure
    to alert on, since an entry in a month without one fails (``vigil_audit_months_ahead``).
    """
    if connection.dialect.name != "postgresql":
        return None
    names = connection.scalars(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = CAST(:parent AS regclass)"
        ),
        {"parent": PARTITIONED},
    )
    have = {name for name in names if _PARTITION_NAME.fullmatch(name)}
    ahead, year, month = 0, today.year, today.month
    while True:  # consecutive months only: a gap is where the writes would fail
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        if f"{PARTITIONED}_y{year}m{month:02d}" not in have:
            return ahead
        ahead += 1


def months_ahead_source(database: Database) -> Callable[[], float | None]:
    """:func:`months_ahead` read in a short transaction of its own (a metrics source)."""

    def source() -> float | None:
        with database.session() as session:
            ahead = months_ahead(session.connection(), utcnow().date())
        return None if ahead is None else float(ahead)

    return source


def keep_ahead(database: Database) -> list[str]:
    """:func:`add_months` from today, in a transaction of its own: what beat runs daily."""
    with database.transaction() as session:
        return add_months(session.connection(), utcnow().date())


def include_name(name: str | None, type_: str, _parents: object) -> bool:
    """For Alembic's comparison: a month's partition is part of its parent's table, which
    the models describe, not a table of its own."""
    return not (type_ == "table" and name is not None and _PARTITION_NAME.fullmatch(name))


def migrated_schema(metadata: MetaData, dialect: str) -> MetaData:
    """``metadata`` as the migrations build it on ``dialect``: on PostgreSQL the partitioned
    table's unique constraint also holds its partition key ``at``, as PostgreSQL requires
    (so does its primary key, ``(id, at)``; Alembic does not compare primary keys)."""
    if dialect != "postgresql":
        return metadata
    schema = MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.sorted_tables:
        table.to_metadata(schema)
    log = schema.tables[PARTITIONED]
    for constraint in [c for c in log.constraints if isinstance(c, UniqueConstraint)]:
        log.constraints.remove(constraint)
        log.append_constraint(UniqueConstraint(*constraint.columns, log.c.at))
    return schema
