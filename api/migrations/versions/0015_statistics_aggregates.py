"""daily aggregates for the statistics: counts by day, region, product, lot and result,
and a histogram of the time from scan to release by day, region and product; a partial
index of the tests in review by region (the clinicians' queue counts)

At 10^6 stored tests (50,000 in review) the queue counts of one region took 168 ms
reading every awaiting proposal; from the partial index, 76 ms.

At 10^6 stored tests a year of statistics grouped from the rows took ~10 s on
PostgreSQL; the aggregates are kept in the transaction of each release, correction
and retraction (``api.statistics.upkeep``), and filled here from the existing tests by
``api.statistics.queries.rebuild`` (the one recount, also used after bulk loads).

Revision ID: 0015_statistics_aggregates
Revises: 0014_code_mapping
Create Date: 2026-11-29 21:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

revision: str = "0015_statistics_aggregates"
down_revision: str | None = "0014_code_mapping"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FLAG_COLUMNS = ("retakes", "by_eye")
BUCKETS = 128  # turnaround buckets: under a minute, then 10 % wider each


def _count(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.Integer(), nullable=False, server_default="0")


def upgrade() -> None:
    op.create_table(
        "statistics_daily",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("region_code", sa.String(length=32), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("result", sa.String(length=10), nullable=False),
        _count("tests"),
        *[_count(c) for c in FLAG_COLUMNS],
        sa.PrimaryKeyConstraint(
            "day", "region_code", "product_id", "batch_id", "result", name="pk_statistics_daily"
        ),
    )
    op.create_table(
        "statistics_turnaround",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("region_code", sa.String(length=32), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        *[_count(f"b{k:03d}") for k in range(BUCKETS)],
        sa.PrimaryKeyConstraint(
            "day", "region_code", "product_id", name="pk_statistics_turnaround"
        ),
    )
    op.create_index(
        "ix_self_tests_in_review",
        "self_tests",
        ["region_code", "id"],
        postgresql_where=sa.text("status = 'in_review'"),
        sqlite_where=sa.text("status = 'in_review'"),
    )
    # The app's recount (not a frozen copy): the tables it fills are the ones made above.
    from api.statistics.queries import rebuild

    session = Session(bind=op.get_bind())
    rebuild(session)
    session.flush()


def downgrade() -> None:
    op.drop_index("ix_self_tests_in_review", table_name="self_tests")
    op.drop_table("statistics_turnaround")
    op.drop_table("statistics_daily")
