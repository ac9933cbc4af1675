"""learning loop: the challenger's shadow readings of live photos

One row per proposal and challenger version: its reading, the champion it ran
beside, and whether the two agree (the data scientists' disagreements list).

Revision ID: 0010_learning_loop
Revises: 0009_statistics_indexes
Create Date: 2026-11-29 18:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.db.base

revision: str = "0010_learning_loop"
down_revision: str | None = "0009_statistics_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "shadow_readings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("model_version", sa.String(length=200), nullable=False),
        sa.Column("champion_version", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("result", sa.String(length=10), nullable=True),
        sa.Column("confidence", sa.Double(), nullable=False),
        sa.Column("reading", sa.JSON(), nullable=False),
        sa.Column("agrees", sa.Boolean(), nullable=False),
        sa.Column("created_at", api.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["proposal_id"], ["proposals.id"], name=op.f("fk_shadow_readings_proposal_id_proposals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shadow_readings")),
        sa.UniqueConstraint(
            "proposal_id",
            "model_version",
            name=op.f("uq_shadow_readings_proposal_id_model_version"),
        ),
    )
    with op.batch_alter_table("shadow_readings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_shadow_readings_agrees"), ["agrees"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_shadow_readings_proposal_id"), ["proposal_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("shadow_readings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shadow_readings_proposal_id"))
        batch_op.drop_index(batch_op.f("ix_shadow_readings_agrees"))
    op.drop_table("shadow_readings")
