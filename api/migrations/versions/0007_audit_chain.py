"""audit chain: each audit entry hashes the one before it; the application may only append

Existing entries are chained in id order. On PostgreSQL the application's role loses
UPDATE, DELETE and TRUNCATE on ``audit_log`` (it keeps SELECT and INSERT). That role is
``DATABASE_APP_ROLE`` when set -- run migrations as the tables' owner and the server as
that role -- and otherwise the role running the migration, i.e. the server's own when one
role does both (the owner could grant itself the rights back, a superuser ignores them:
use a separate role in production).

Revision ID: 0007_audit_chain
Revises: 0005_model_registry
Create Date: 2026-11-29 18:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.db.base
from api.audit.chain import GENESIS, Fields, link
from api.db.migrate import app_role

revision: str = "0007_audit_chain"
down_revision: str | None = "0005_model_registry"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _chain_existing(bind: sa.Connection) -> None:
    log = sa.table(
        "audit_log",
        sa.column("id", sa.Integer),
        sa.column("at", api.db.base.UTCDateTime(timezone=True)),
        sa.column("actor_id", sa.Integer),
        sa.column("actor_role", sa.String),
        sa.column("action", sa.String),
        sa.column("object_type", sa.String),
        sa.column("object_id", sa.String),
        sa.column("detail", sa.JSON),
        sa.column("prev_hash", sa.String),
        sa.column("entry_hash", sa.String),
    )
    previous = GENESIS
    rows = bind.execute(sa.select(log).order_by(log.c.id)).mappings().all()
    for row in rows:
        fields = Fields(
            row["at"],
            row["actor_id"],
            row["actor_role"],
            row["action"],
            row["object_type"],
            row["object_id"],
            row["detail"] or {},
        )
        current = link(previous, fields)
        bind.execute(
            log.update().where(log.c.id == row["id"]).values(prev_hash=previous, entry_hash=current)
        )
        previous = current


def upgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("entry_hash", sa.String(length=64), nullable=True))
    bind = op.get_bind()
    _chain_existing(bind)
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("entry_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_audit_log_entry_hash"), ["entry_hash"])
    if bind.dialect.name == "postgresql":
        op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM {app_role(bind)}")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(f"GRANT UPDATE, DELETE, TRUNCATE ON audit_log TO {app_role(bind)}")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_audit_log_entry_hash"), type_="unique")
        batch_op.drop_column("entry_hash")
        batch_op.drop_column("prev_hash")
