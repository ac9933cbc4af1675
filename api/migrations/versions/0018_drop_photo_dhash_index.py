"""drop ix_uploads_photo_dhash: since 0017 the same photo is looked up by its indexed bands

No query filters or sorts on the whole hash any more, and every reading's write paid for the
index (about 52 MiB per 10^6 uploads on PostgreSQL, benchmarks/results/same_photo.md).

Revision ID: 0018_drop_photo_dhash_index
Revises: 0017_photo_hash_bands
Create Date: 2026-11-30 01:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018_drop_photo_dhash_index"
down_revision: str | None = "0017_photo_hash_bands"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("uploads", schema=None) as batch_op:
        batch_op.drop_index("ix_uploads_photo_dhash")


def downgrade() -> None:
    with op.batch_alter_table("uploads", schema=None) as batch_op:
        batch_op.create_index("ix_uploads_photo_dhash", ["photo_dhash"], unique=False)
