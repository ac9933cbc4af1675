"""gold-standard items: known answers seeded into the readers' flow, and their scores

Revision ID: 0012_gold_items
Revises: 0011_patient_channel
Create Date: 2026-11-29 21:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.db.base

revision: str = "0012_gold_items"
down_revision: str | None = "0011_patient_channel"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gold_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("known_result", sa.String(length=10), nullable=False),
        sa.Column("region_code", sa.String(length=32), nullable=False),
        sa.Column("seeded_by", sa.Integer(), nullable=False),
        sa.Column("created_at", api.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("retired_at", api.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["proposal_id"], ["proposals.id"], name=op.f("fk_gold_items_proposal_id_proposals")
        ),
        sa.ForeignKeyConstraint(
            ["seeded_by"], ["users.id"], name=op.f("fk_gold_items_seeded_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gold_items")),
        sa.UniqueConstraint("proposal_id", name=op.f("uq_gold_items_proposal_id")),
    )
    with op.batch_alter_table("gold_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gold_items_region_code"), ["region_code"])
    op.create_table(
        "gold_readings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("gold_item_id", sa.Integer(), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("correct", sa.Boolean(), nullable=False),
        sa.Column("seconds_spent", sa.Double(), nullable=True),
        sa.Column("created_at", api.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["gold_item_id"],
            ["gold_items.id"],
            name=op.f("fk_gold_readings_gold_item_id_gold_items"),
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"], ["users.id"], name=op.f("fk_gold_readings_reviewer_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gold_readings")),
        sa.UniqueConstraint(
            "gold_item_id", "reviewer_id", name=op.f("uq_gold_readings_gold_item_id_reviewer_id")
        ),
    )
    with op.batch_alter_table("gold_readings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gold_readings_reviewer_id"), ["reviewer_id"])


def downgrade() -> None:
    with op.batch_alter_table("gold_readings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gold_readings_reviewer_id"))
    op.drop_table("gold_readings")
    with op.batch_alter_table("gold_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gold_items_region_code"))
    op.drop_table("gold_items")
