"""index for the CDC's newest confirmed positives

The live view lists released positives newest first; an index on
(result, released_at) lets the database read them in order instead of
sorting every released test.

Revision ID: 0003_cdc
Revises: 0002
Create Date: 2026-11-26 12:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003_cdc"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("self_tests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_self_tests_result_released_at", ["result", "released_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("self_tests", schema=None) as batch_op:
        batch_op.drop_index("ix_self_tests_result_released_at")
