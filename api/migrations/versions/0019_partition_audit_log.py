"""partition audit_log by month on PostgreSQL (on SQLite nothing changes)

``audit_log`` becomes a table range-partitioned on ``at``, one partition a month (UTC), so
that old months can be detached and archived whole instead of deleted row by row. It has no
foreign keys into it, so it is partitioned alone (README, "Scale"). PostgreSQL wants the
partition key in every primary key and unique constraint: the primary key becomes
``(id, at)`` and the unique hash ``(entry_hash, at)``; ids still come from
``audit_log_id_seq`` and the chain is still walked by id (``api.audit.chain``).

Months are added by ``audit_log_add_months(first, months)``, defined here: a SECURITY
DEFINER function owned by the migrating role, so the server's role (which may not own the
table, and so may not add partitions itself) can keep months ahead through ``vigil db
partitions`` and beat (``api.db.partitions``). Each new month is created as a plain table
and then attached (``ATTACH PARTITION`` locks the parent in SHARE UPDATE EXCLUSIVE mode,
which lets appends go on; ``CREATE TABLE ... PARTITION OF`` would block them), and loses
UPDATE, DELETE and TRUNCATE for the server's role as the parent did in ``0007``.

There is no DEFAULT partition: an entry whose month has no partition fails with its whole
transaction ("no partition of relation "audit_log" found for row"). A default would take such
rows silently, and would then stop that month's partition from ever being created until its
rows are moved by hand; with three months kept ahead by a daily task, the failure means beat
has not run for two months, which the queue and outbox figures already show.

The upgrade locks the table, copies every row into the partitions of the months present plus
the current month and the three after it, and re-applies the old table's grants; schedule it
like any long migration on a large log. The downgrade copies the rows back into a plain table.

Revision ID: 0019_partition_audit_log
Revises: 0018_drop_photo_dhash_index
Create Date: 2026-11-30 02:30:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from api.db.migrate import app_role

revision: str = "0019_partition_audit_log"
down_revision: str | None = "0018_drop_photo_dhash_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONTHS_AHEAD = 3
COLUMNS = """
    id integer NOT NULL DEFAULT nextval('audit_log_id_seq'::regclass),
    at timestamp with time zone NOT NULL,
    actor_id integer,
    actor_role varchar(20),
    action varchar(40) NOT NULL,
    object_type varchar(40) NOT NULL,
    object_id varchar(64) NOT NULL,
    detail json NOT NULL,
    prev_hash varchar(64) NOT NULL,
    entry_hash varchar(64) NOT NULL
"""
NAMES = (
    "id, at, actor_id, actor_role, action, object_type, object_id, detail, prev_hash, entry_hash"
)
INDEXED = ("action", "actor_id", "at")

# Creates (and attaches) the partitions of ``months + 1`` months from ``first``'s month on
# that do not exist yet, and returns their names. ``{app_role}`` is filled in below.
ADD_MONTHS = """
CREATE FUNCTION audit_log_add_months(first date, months integer) RETURNS SETOF text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT
SET lock_timeout = '10s'
AS $$
DECLARE
    month date := date_trunc('month', first)::date;
    name text;
BEGIN
    -- The server's role may call this: it adds at most two years of empty months a call.
    IF months NOT BETWEEN 0 AND 24 THEN
        RAISE EXCEPTION 'months must be 0 to 24, not %', months;
    END IF;
    -- One caller at a time: two would both see a month missing and both create it.
    PERFORM pg_advisory_xact_lock(hashtext('audit_log_add_months'));
    FOR i IN 0..months LOOP
        name := 'audit_log_' || to_char(month, '"y"YYYY"m"MM');
        IF to_regclass(quote_ident(name)) IS NULL THEN
            EXECUTE format('CREATE TABLE %I (LIKE audit_log INCLUDING DEFAULTS)', name);
            EXECUTE format(
                'ALTER TABLE audit_log ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                name,
                month::timestamp AT TIME ZONE 'UTC',
                (month + interval '1 month')::timestamp AT TIME ZONE 'UTC'
            );
            EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON %I FROM {app_role}', name);
            RETURN NEXT name;
        END IF;
        month := month + interval '1 month';
    END LOOP;
END
$$
"""


def _rebuild(partitioned: bool) -> None:
    """Replace ``audit_log`` by a copy, partitioned or plain, keeping rows, ids and grants."""
    bind = op.get_bind()
    role = app_role(bind)
    op.execute("LOCK TABLE audit_log IN ACCESS EXCLUSIVE MODE")
    op.execute("ALTER TABLE audit_log RENAME TO audit_log_old")
    # Its keys' and indexes' names go to the new table; its sequence stays.
    old_unique = "uq_audit_log_entry_hash" + ("" if partitioned else "_at")
    for constraint in ("pk_audit_log", old_unique, "fk_audit_log_actor_id_users"):
        op.execute(f"ALTER TABLE audit_log_old DROP CONSTRAINT {constraint}")
    for column in INDEXED:
        op.execute(f"DROP INDEX ix_audit_log_{column}")
    op.execute("ALTER SEQUENCE audit_log_id_seq OWNED BY NONE")
    if partitioned:
        op.execute(f"CREATE TABLE audit_log ({COLUMNS}) PARTITION BY RANGE (at)")
        op.execute(ADD_MONTHS.format(app_role=role))
        op.execute("REVOKE ALL ON FUNCTION audit_log_add_months(date, integer) FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION audit_log_add_months(date, integer) TO {role}")
        months = bind.scalars(
            sa.text("SELECT DISTINCT date_trunc('month', at AT TIME ZONE 'UTC') FROM audit_log_old")
        ).all()
        add = sa.text("SELECT audit_log_add_months(:first, :months)")
        for month in months:
            bind.execute(add, {"first": month.date(), "months": 0})
        bind.execute(add, {"first": datetime.now(UTC).date(), "months": MONTHS_AHEAD})
    else:
        op.execute("DROP FUNCTION audit_log_add_months(date, integer)")
        op.execute(f"CREATE TABLE audit_log ({COLUMNS})")
    op.execute(f"INSERT INTO audit_log ({NAMES}) SELECT {NAMES} FROM audit_log_old")
    # Keys and indexes after the copy: built once over the rows, not kept up row by row.
    key = "id, at" if partitioned else "id"
    unique = "entry_hash, at" if partitioned else "entry_hash"
    op.execute(
        f"ALTER TABLE audit_log ADD CONSTRAINT pk_audit_log PRIMARY KEY ({key}),"
        f" ADD CONSTRAINT uq_audit_log_{unique.replace(', ', '_')} UNIQUE ({unique}),"
        " ADD CONSTRAINT fk_audit_log_actor_id_users FOREIGN KEY (actor_id) REFERENCES users (id)"
    )
    for column in INDEXED:
        op.execute(f"CREATE INDEX ix_audit_log_{column} ON audit_log ({column})")
    op.execute("ALTER SEQUENCE audit_log_id_seq OWNED BY audit_log.id")
    _copy_grants(bind, "audit_log_old", "audit_log")
    op.execute("DROP TABLE audit_log_old")
    # 0007's rule, on the new table whatever the old one's grants were.
    op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM {role}")


def _copy_grants(bind: sa.Connection, source: str, target: str) -> None:
    """Grant on ``target`` what was granted on ``source`` (to roles, or to PUBLIC)."""
    grants = bind.execute(
        sa.text(
            "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END,"
            " a.privilege_type, a.is_grantable"
            " FROM pg_class c, aclexplode(c.relacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee"
            " WHERE c.oid = CAST(:source AS regclass)"
        ),
        {"source": source},
    ).all()
    for grantee, privilege, grantable in grants:
        option = " WITH GRANT OPTION" if grantable else ""
        op.execute(f"GRANT {privilege} ON {target} TO {grantee}{option}")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _rebuild(partitioned=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _rebuild(partitioned=False)
