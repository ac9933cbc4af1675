"""read time and the right unit: when the sample was applied, minutes from it to the
photo, the photo's perceptual hash, and whether the photo shows the unit claimed

Revision ID: 0008_read_time
Revises: 0007_audit_chain
Create Date: 2026-11-29 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.db.base

revision: str = "0008_read_time"
down_revision: str | None = "0007_audit_chain"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("self_tests") as batch:
        batch.add_column(
            sa.Column("sample_applied_at", api.db.base.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("uploads") as batch:
        batch.add_column(sa.Column("minutes_after_sample", sa.Double(), nullable=True))
        batch.add_column(sa.Column("photo_dhash", sa.String(length=16), nullable=True))
        batch.create_index("ix_uploads_photo_dhash", ["photo_dhash"])
    with op.batch_alter_table("proposals") as batch:
        batch.add_column(sa.Column("unit_check", sa.String(length=12), nullable=True))
        batch.add_column(sa.Column("same_photo_test_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_proposals_same_photo_test_id_self_tests",
            "self_tests",
            ["same_photo_test_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("proposals") as batch:
        batch.drop_constraint("fk_proposals_same_photo_test_id_self_tests", type_="foreignkey")
        batch.drop_column("same_photo_test_id")
        batch.drop_column("unit_check")
    with op.batch_alter_table("uploads") as batch:
        batch.drop_index("ix_uploads_photo_dhash")
        batch.drop_column("photo_dhash")
        batch.drop_column("minutes_after_sample")
    with op.batch_alter_table("self_tests") as batch:
        batch.drop_column("sample_applied_at")
