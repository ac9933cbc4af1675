"""The daily aggregates the statistics read, and the indexes of the raw rows.

``statistics_daily`` holds, per day of test (the scan, ``claimed_at`` in UTC), region,
product, lot and result, how many tests stand (released, or released and corrected)
and how many of them needed a retake or were read by eye. ``statistics_turnaround``
holds, per day, region and product, a histogram of the time from scan to release:
column ``bNNN`` counts the standing tests whose time falls in bucket ``NNN`` of
:data:`EDGES`. Both are kept in step with the tests by :mod:`api.statistics.upkeep`, in
the flush (so the transaction) that changes a test; a whole year of statistics then
reads some thousands of aggregate rows instead of every test.

The counts are exact. The turnaround quantiles are read from the histogram: buckets
grow by 10 % from one minute on, and a quantile is placed inside its bucket on a
geometric scale, so it is within 5 % of the exact value (bucket 0, under a minute,
is linear; the last bucket, past ~113 days, answers its lower edge).

``ix_self_tests_statistics`` and ``ix_proposals_status_test`` (migration 0009) still
serve the rebuild of the aggregates from the rows and the freshness figure.
"""

from __future__ import annotations

from sqlalchemy import Column, Date, Index, Integer, String, Table

from api.db.base import Base
from api.selftests.tables import Proposal, SelfTest

Index(
    "ix_self_tests_statistics",
    SelfTest.status,
    SelfTest.claimed_at,
    SelfTest.region_code,
    SelfTest.product_id,
    SelfTest.batch_id,
    SelfTest.result,
    SelfTest.released_at,
)
Index("ix_proposals_status_test", Proposal.status, Proposal.self_test_id)

FIRST_EDGE_S = 60.0
GROWTH = 1.1
BUCKETS = 128
# Lower edges of buckets 1..127 in seconds; bucket 0 is [0, 60 s).
EDGES = tuple(FIRST_EDGE_S * GROWTH**k for k in range(BUCKETS - 1))
BUCKET_COLUMNS = tuple(f"b{k:03d}" for k in range(BUCKETS))
FLAGS = {"retake": "retakes", "by_eye": "by_eye"}  # proposal status -> counting column


def _count(name: str) -> Column[int]:
    return Column(name, Integer, nullable=False, default=0, server_default="0")


daily = Table(
    "statistics_daily",
    Base.metadata,
    Column("day", Date, primary_key=True),
    Column("region_code", String(32), primary_key=True),
    Column("product_id", Integer, primary_key=True),
    Column("batch_id", Integer, primary_key=True),
    Column("result", String(10), primary_key=True),
    _count("tests"),
    *[_count(column) for column in FLAGS.values()],
)

turnaround = Table(
    "statistics_turnaround",
    Base.metadata,
    Column("day", Date, primary_key=True),
    Column("region_code", String(32), primary_key=True),
    Column("product_id", Integer, primary_key=True),
    *[_count(column) for column in BUCKET_COLUMNS],
)
