"""The daily aggregates equal a recount from the rows after any mix of changes.

Tests go through the services (claims, photos with retakes and reads by eye, releases,
corrections, a retraction, a test moved in time through the ORM); the aggregate tables
are then compared with a count over the test and proposal rows made here in Python, and
with the database's own recount (``rebuild``). Runs on SQLite and, with
``VIGIL_TEST_DATABASE_URL``, on PostgreSQL.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from api.accounts import service as accounts
from api.accounts.tables import Role
from api.reports import releases
from api.reports.schemas import CorrectionIn
from api.scope import scope_for
from api.selftests.tables import Proposal, SelfTest
from api.statistics import queries
from api.statistics.tables import BUCKET_COLUMNS, EDGES, daily, turnaround
from api.statistics.upkeep import bucket


def _recount(session: Any) -> tuple[Counter[tuple[Any, ...]], Counter[tuple[Any, ...]]]:
    """(day, region, product, lot, result, what) -> n and (day, region, product, bucket) -> n,
    counted test by test from the rows."""
    flags: dict[int, set[str]] = {}
    for test_id, status in session.execute(select(Proposal.self_test_id, Proposal.status)):
        flags.setdefault(test_id, set()).add(status)
    counts: Counter[tuple[Any, ...]] = Counter()
    times: Counter[tuple[Any, ...]] = Counter()
    for t in session.scalars(select(SelfTest)):
        if t.status not in ("released", "corrected"):
            continue
        day = t.claimed_at.astimezone(UTC).date()
        key = (day, t.region_code, t.product_id, t.batch_id, t.result)
        counts[(*key, "tests")] += 1
        for status, column in (("retake", "retakes"), ("by_eye", "by_eye")):
            if status in flags.get(t.id, set()):
                counts[(*key, column)] += 1
        seconds = (t.released_at - t.claimed_at).total_seconds()
        times[(day, t.region_code, t.product_id, bucket(seconds))] += 1
    return counts, times


def _stored(session: Any) -> tuple[Counter[tuple[Any, ...]], Counter[tuple[Any, ...]]]:
    counts: Counter[tuple[Any, ...]] = Counter()
    for row in session.execute(select(daily)).mappings():
        key = (row["day"], row["region_code"], row["product_id"], row["batch_id"], row["result"])
        for column in ("tests", "retakes", "by_eye"):
            if row[column]:
                counts[(*key, column)] = row[column]
    times: Counter[tuple[Any, ...]] = Counter()
    for row in session.execute(select(turnaround)).mappings():
        for k, column in enumerate(BUCKET_COLUMNS):
            if row[column]:
                times[(row["day"], row["region_code"], row["product_id"], k)] = row[column]
    return counts, times


def test_aggregates_equal_a_recount_after_claims_releases_and_corrections(
    world: Any, flow: Any
) -> None:
    session, reader = world.session, world.ctx.vision.reader
    flow.released("positive", code_index=0)
    corrected = flow.released("negative", code_index=1, where="b")
    retaken = flow.claim(code_index=2)
    reader.queue.extend(["retake", "negative"])
    flow.upload(retaken)
    flow.upload(retaken)
    flow.decide(retaken)
    by_eye = flow.claim(code_index=3, where="b")
    reader.queue.append("by_eye")
    flow.upload(by_eye)
    flow.decide(by_eye, result="positive")
    second = accounts.create_user(
        session,
        username="second-reader",
        password="correct horse battery",
        role=Role.clinician,
        display_name="Second Reader",
        institution_id=world.institution_b.id,
    )
    session.commit()
    flow.decide(by_eye, clinician=second, result="positive")
    retracted = flow.released("invalid", code_index=4)
    in_review = flow.claim(code_index=5)
    reader.queue.append("positive")
    flow.upload(in_review)  # proposed, not released: counts nowhere
    flow.claim(code_index=6)  # claimed only
    moved = flow.released("positive", code_index=7)
    twice = flow.released("positive", code_index=8, where="b")
    assert _stored(session) == _recount(session)

    def amend(test: Any, clinician: Any, **change: Any) -> None:
        scope = scope_for(session, world.ctx, clinician)
        releases.amend(
            session, world.ctx, clinician, scope, test.id, CorrectionIn(reason="x", **change)
        )
        session.commit()

    amend(corrected, world.clinician_b, result="positive")
    amend(twice, world.clinician_b, result="invalid")
    amend(twice, world.clinician_b, result="negative")
    amend(retracted, world.clinician_a, entered_in_error=True)
    # Moved to another day (and turnaround) through the ORM: old and new day both follow.
    test = session.get(SelfTest, moved.id)
    scanned = datetime.now(UTC) - timedelta(days=3, hours=5)
    test.claimed_at, test.released_at = scanned, scanned + timedelta(hours=7)
    session.commit()

    counts, times = _recount(session)
    assert _stored(session) == (counts, times)
    # What the mix should leave, by hand: six results stand (the retracted one does not).
    assert sum(n for key, n in counts.items() if key[-1] == "tests") == 6
    assert sum(n for key, n in counts.items() if key[-1] == "retakes") == 1
    assert sum(n for key, n in counts.items() if key[-1] == "by_eye") == 1
    results = Counter(key[4] for key, n in counts.items() if key[-1] == "tests" for _ in range(n))
    assert results == {"positive": 4, "negative": 2}  # 0, 1 (corrected), 3, 7; 2, 8
    # The database's recount from the rows says the same.
    queries.rebuild(session)
    assert _stored(session) == (counts, times)


def test_quantiles_from_the_histogram_are_within_five_percent() -> None:
    rng = np.random.default_rng(7)
    for size in (1, 2, 9, 500):
        seconds = rng.lognormal(np.log(7200), 1.0, size)
        counts = [0] * len(BUCKET_COLUMNS)
        for s in seconds:
            counts[bucket(float(s))] += 1
        for q, found in zip((0.5, 0.9), queries.quantiles(counts, (0.5, 0.9)), strict=True):
            exact = float(np.percentile(seconds, 100 * q))
            assert found == pytest.approx(exact, rel=0.05)
    assert queries.quantiles([0] * len(BUCKET_COLUMNS), (0.5,)) == [None]


def test_buckets_grow_by_ten_percent_from_a_minute() -> None:
    assert bucket(0) == 0
    assert bucket(59.9) == 0
    assert bucket(60) == 1
    assert bucket(66.1) == 2
    assert bucket(10**9) == len(EDGES)
