"""Monthly partitions on PostgreSQL: keeping months ahead, and the schema they make.

Migration ``0019_partition_audit_log`` range-partitions ``audit_log`` by month on ``at``
(UTC) on PostgreSQL and defines ``audit_log_add_months``, which creates missing months; the
server's role may call it, so beat's daily :func:`keep_ahead` (and ``vigil db partitions``)
keeps the current month and the next :data:`MONTHS_AHEAD` in place. There is no default
partition: an entry for a month without one fails with its transaction (see the migration).
Old months leave through ``api.audit.archive`` (:func:`detach_and_drop`, as the log's owner).

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
_PARTITION_NAME = re.compile(r"audit_log_y(?P<year>\d{4})m(?P<month>\d{2})")


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


def month_partitions(connection: Connection) -> dict[date, str]:
    """The months whose partition is attached: first day -> partition name (PostgreSQL)."""
    names = connection.scalars(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = CAST(:parent AS regclass)"
        ),
        {"parent": PARTITIONED},
    )
    months = {}
    for name in names:
        if found := _PARTITION_NAME.fullmatch(name):
            months[date(int(found["year"]), int(found["month"]), 1)] = name
    return dict(sorted(months.items()))


def partition_name(month: date) -> str:
    """The partition of ``month`` as the migration's function names it.

    >>> partition_name(date(2026, 11, 30))
    'audit_log_y2026m11'
    """
    return f"{PARTITIONED}_y{month.year}m{month.month:02d}"


def months_ahead(connection: Connection, today: date) -> int | None:
    """How many months after ``today``'s have their partition (None on SQLite): the figure
    to alert on, since an entry in a month without one fails (``vigil_audit_months_ahead``).
    """
    if connection.dialect.name != "postgresql":
        return None
    have = month_partitions(connection)
    ahead, month = 0, today.replace(day=1)
    while True:  # consecutive months only: a gap is where the writes would fail
        month = next_month(month)
        if month not in have:
            return ahead
        ahead += 1


def next_month(month: date) -> date:
    """The first day of the month after ``month``'s."""
    return date(month.year + 1, 1, 1) if month.month == 12 else date(month.year, month.month + 1, 1)


def owns_log(connection: Connection) -> bool:
    """Whether this connection's role may detach and drop the log's months: only the table's
    owner (or a member of its role) may; the server's role may not (migration ``0007``)."""
    return bool(
        connection.scalar(
            text(
                "SELECT pg_has_role(current_user, relowner, 'USAGE') FROM pg_class"
                " WHERE oid = CAST(:parent AS regclass)"
            ),
            {"parent": PARTITIONED},
        )
    )


def detach_and_drop(connection: Connection, name: str) -> None:
    """Detach the month's partition ``name`` and drop it, in the caller's transaction.

    A plain ``DETACH`` (not ``CONCURRENTLY``, which cannot run inside a transaction), so
    that the audit entry recording the archive commits with the drop or not at all. It
    takes the log's ACCESS EXCLUSIVE lock for the moment the catalogue change takes: set
    a ``lock_timeout``, since appends queue behind it while it waits.
    """
    if not _PARTITION_NAME.fullmatch(name):
        raise ValueError(f"not a month's partition: {name!r}")
    connection.exec_driver_sql(f"ALTER TABLE {PARTITIONED} DETACH PARTITION {name}")
    connection.exec_driver_sql(f"DROP TABLE {name}")


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
