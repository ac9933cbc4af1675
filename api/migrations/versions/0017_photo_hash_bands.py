"""the photo hash cut into three indexed bands, so that the same photo sent for another unit
is found by equality look-ups instead of reading every upload's hash of 30 days

At a million self-tests a day the check read 3 x 10^7 hashes into Python for each photo.
Two hashes within 6 bits agree within 2 bits in one of the bands (21, 21 and 22 bits), so
718 exact band values find every candidate (``api.readings.photo_bands``). Each band's
index carries the upload time: the look-up wants only the last 30 days. Existing hashes
are cut here, by the same function the worker uses.

Revision ID: 0017_photo_hash_bands
Revises: 0016_units_batch_index
Create Date: 2026-11-30 00:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from api.readings.photo_bands import bands

revision: str = "0017_photo_hash_bands"
down_revision: str | None = "0016_units_batch_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BAND_COLUMNS = ("photo_band0", "photo_band1", "photo_band2")
BACKFILL_ROWS = 10_000  # per round trip; keeps memory flat on a large table


def upgrade() -> None:
    with op.batch_alter_table("uploads") as batch:
        for name in BAND_COLUMNS:
            batch.add_column(sa.Column(name, sa.Integer(), nullable=True))
    uploads = sa.table(
        "uploads",
        sa.column("id", sa.Integer()),
        sa.column("photo_dhash", sa.String()),
        *(sa.column(name, sa.Integer()) for name in BAND_COLUMNS),
    )
    conn = op.get_bind()
    update = (
        sa.update(uploads)
        .where(uploads.c.id == sa.bindparam("upload_id"))
        .values({name: sa.bindparam(f"new_{name}") for name in BAND_COLUMNS})
    )
    after = 0
    while True:
        rows = conn.execute(
            sa.select(uploads.c.id, uploads.c.photo_dhash)
            .where(uploads.c.photo_dhash.is_not(None), uploads.c.id > after)
            .order_by(uploads.c.id)
            .limit(BACKFILL_ROWS)
        ).all()
        if not rows:
            break
        conn.execute(
            update,
            [
                {
                    "upload_id": upload_id,
                    **{f"new_{n}": v for n, v in zip(BAND_COLUMNS, bands(dhash), strict=True)},
                }
                for upload_id, dhash in rows
            ],
        )
        after = rows[-1][0]
    # After the backfill: the indexes are built once, not kept up row by row.
    for name in BAND_COLUMNS:
        op.create_index(f"ix_uploads_{name}_uploaded_at", "uploads", [name, "uploaded_at"])


def downgrade() -> None:
    for name in BAND_COLUMNS:
        op.drop_index(f"ix_uploads_{name}_uploaded_at", table_name="uploads")
    with op.batch_alter_table("uploads") as batch:
        for name in BAND_COLUMNS:
            batch.drop_column(name)
