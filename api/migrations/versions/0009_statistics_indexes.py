"""indexes for the statistics: grouped counts by date of test, retake and by-eye shares

``ix_self_tests_statistics`` holds every column the statistics filter or group on
(status, date of test, region, product, lot, result, release time), so PostgreSQL
answers them from the index; ``ix_proposals_status_test`` lists the proposals with a
given pipeline status (retake, by eye) without reading the others.

On PostgreSQL, extended statistics on the day of test (``claimed_at`` in UTC, as a
date) tell the planner how few days there are: it then groups by day with a hash
instead of sorting every test (measured 720 -> 177 ms for 300,000 tests).

Revision ID: 0009_statistics_indexes
Revises: 0008_read_time
Create Date: 2026-11-29 18:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009_statistics_indexes"
down_revision: str | None = "0008_read_time"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATISTICS_COLUMNS = [
    "status",
    "claimed_at",
    "region_code",
    "product_id",
    "batch_id",
    "result",
    "released_at",
]


DAY_STATISTICS = "st_self_tests_test_day"


def upgrade() -> None:
    with op.batch_alter_table("self_tests", schema=None) as batch_op:
        batch_op.create_index("ix_self_tests_statistics", STATISTICS_COLUMNS, unique=False)
    with op.batch_alter_table("proposals", schema=None) as batch_op:
        batch_op.create_index("ix_proposals_status_test", ["status", "self_test_id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE STATISTICS {DAY_STATISTICS} "
            "ON ((timezone('UTC', claimed_at))::date) FROM self_tests"
        )
        op.execute("ANALYZE self_tests")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP STATISTICS IF EXISTS {DAY_STATISTICS}")
    with op.batch_alter_table("proposals", schema=None) as batch_op:
        batch_op.drop_index("ix_proposals_status_test")
    with op.batch_alter_table("self_tests", schema=None) as batch_op:
        batch_op.drop_index("ix_self_tests_statistics")
