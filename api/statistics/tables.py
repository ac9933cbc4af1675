"""Indexes that let the statistics be grouped queries over an index, not table scans.

The statistics read standing results (released or corrected) by date of test; every
column they group or filter on is in ``ix_self_tests_statistics``, so PostgreSQL can
answer from the index alone. The retake and by-eye shares read the few proposals
with those statuses from ``ix_proposals_status_test`` and join them to the tests.
"""

from __future__ import annotations

from sqlalchemy import Index

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
