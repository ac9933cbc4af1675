"""Grouped SQL over the daily aggregates: every function returns sums, never test rows.

Tests count by their date of test (the scan, ``claimed_at``, in UTC) and only while
their result stands (released, or released and corrected since). The aggregates
(:mod:`api.statistics.tables`) are kept by :mod:`api.statistics.upkeep`;
:func:`rebuild` recounts them from the rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, Float, Integer, case, cast, delete, extract, func, insert, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from api.batches.tables import Batch
from api.products.tables import Product
from api.selftests.tables import Proposal, SelfTest
from api.statistics.tables import (
    BUCKET_COLUMNS,
    BUCKETS,
    EDGES,
    FIRST_EDGE_S,
    FLAGS,
    GROWTH,
    daily,
    turnaround,
)
from api.statistics.upkeep import STANDING

LN_GROWTH = math.log(GROWTH)
DAILY_KEY = (daily.c.day, daily.c.region_code, daily.c.product_id, daily.c.batch_id)


@dataclass(frozen=True)
class Selection:
    """Which tests count: tested on a day in ``[since, until)``, in ``regions`` (all when
    ``None``), of one product when ``product_code`` is given."""

    since: date
    until: date
    regions: frozenset[str] | None = None
    product_code: str | None = None


def _where(query: Any, table: Any, selection: Selection) -> Any:
    query = query.where(table.c.day >= selection.since, table.c.day < selection.until)
    if selection.regions is not None:
        query = query.where(table.c.region_code.in_(sorted(selection.regions)))
    if selection.product_code is not None:
        product = select(Product.id).where(Product.product_code == selection.product_code)
        query = query.where(table.c.product_id.in_(product.scalar_subquery()))
    return query


def _tests() -> ColumnElement[Any]:
    return func.sum(daily.c.tests)


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def by_day_query(selection: Selection) -> Any:
    """The SQL of :func:`by_day` (the benchmark shows its plan)."""
    query = select(daily.c.day, daily.c.result, _tests()).group_by(daily.c.day, daily.c.result)
    return _where(query, daily, selection).having(_tests() > 0).order_by(daily.c.day)


def by_day(session: Session, selection: Selection) -> list[tuple[date, str, int]]:
    """(day of test, result, tests), by day."""
    rows = session.execute(by_day_query(selection)).all()
    return [(_day(d), str(r), int(n)) for d, r, n in rows]


def by_region(session: Session, selection: Selection) -> list[tuple[str, str, int]]:
    """(region the test was taken in, result, tests): the service sums them up to a level."""
    query = select(daily.c.region_code, daily.c.result, _tests()).group_by(
        daily.c.region_code, daily.c.result
    )
    query = _where(query, daily, selection).having(_tests() > 0)
    return [(str(c), str(r), int(n)) for c, r, n in session.execute(query).all()]


def by_product(session: Session, selection: Selection) -> list[tuple[str, str, int]]:
    """(product code, result, tests)."""
    counted = _where(
        select(daily.c.product_id, daily.c.result, _tests().label("n")).group_by(
            daily.c.product_id, daily.c.result
        ),
        daily,
        selection,
    ).subquery()
    # Grouped first, joined after: the join touches one row per group.
    query = (
        select(Product.product_code, counted.c.result, counted.c.n)
        .join(counted, counted.c.product_id == Product.id)
        .where(counted.c.n > 0)
    )
    return [(str(p), str(r), int(n)) for p, r, n in session.execute(query).all()]


def by_lot(session: Session, selection: Selection) -> list[tuple[str, str, str, int]]:
    """(product code, lot number, result, tests)."""
    counted = _where(
        select(daily.c.batch_id, daily.c.result, _tests().label("n")).group_by(
            daily.c.batch_id, daily.c.result
        ),
        daily,
        selection,
    ).subquery()
    query = (
        select(Product.product_code, Batch.lot_number, counted.c.result, counted.c.n)
        .join(counted, counted.c.batch_id == Batch.id)
        .join(Product, Product.id == Batch.product_id)
        .where(counted.c.n > 0)
    )
    return [(str(p), str(lot), str(r), int(n)) for p, lot, r, n in session.execute(query).all()]


def last_released(session: Session, regions: frozenset[str] | None) -> datetime | None:
    """When the newest standing result in ``regions`` was released: how fresh the data are."""
    query = select(func.max(SelfTest.released_at)).where(SelfTest.status.in_(STANDING))
    if regions is not None:
        query = query.where(SelfTest.region_code.in_(sorted(regions)))
    value = session.scalar(query)
    if isinstance(value, str):  # SQLite returns the aggregate untyped
        value = datetime.fromisoformat(value)
    return value


# Built once: making the 128 sums anew for each request cost as much as the query.
_HISTOGRAM = select(*[func.coalesce(func.sum(turnaround.c[c]), 0) for c in BUCKET_COLUMNS])


def histogram(session: Session, selection: Selection) -> list[int]:
    """Released tests per turnaround bucket (:data:`api.statistics.tables.EDGES`)."""
    return [int(n) for n in session.execute(_where(_HISTOGRAM, turnaround, selection)).one()]


def _at_rank(counts: Sequence[int], rank: int) -> float:
    """Estimated seconds of the ``rank``-th (0-based) shortest time: the values in its
    bucket are taken as spread evenly over the bucket on a geometric scale."""
    before = 0
    for k, n in enumerate(counts):
        if rank < before + n:
            share = (rank - before + 0.5) / n
            if k == 0:
                return EDGES[0] * share
            if k == len(EDGES):
                return EDGES[-1]  # open-ended: past the last edge, say the edge
            low, high = EDGES[k - 1], EDGES[k]
            return low * (high / low) ** share
        before += n
    raise ValueError(f"rank {rank} beyond {before} values")


def quantiles(counts: Sequence[int], wanted: Sequence[float]) -> list[float | None]:
    """``wanted`` quantiles of a turnaround histogram, interpolated between neighbouring
    ranks as PostgreSQL's ``percentile_cont`` does (``None`` without values)."""
    total = sum(counts)
    out: list[float | None] = []
    for q in wanted:
        if total == 0:
            out.append(None)
            continue
        position = q * (total - 1)
        low = math.floor(position)
        value = _at_rank(counts, low)
        if low + 1 < total:
            value += (_at_rank(counts, low + 1) - value) * (position - low)
        out.append(value)
    return out


def seconds_to_release(
    session: Session, selection: Selection, wanted: Sequence[float]
) -> tuple[int, list[float | None]]:
    """How many tests were released, and the ``wanted`` quantiles of the time from scan
    to release in seconds (within 5 %, see :mod:`api.statistics.tables`)."""
    counts = histogram(session, selection)
    return sum(counts), quantiles(counts, wanted)


def flagged(session: Session, selection: Selection) -> dict[str, int]:
    """For each flagged pipeline status (``retake``: a photo had to be taken again;
    ``by_eye``), how many of the tests counted had a photo read with it."""
    sums = [func.coalesce(func.sum(daily.c[column]), 0) for column in FLAGS.values()]
    row = session.execute(_where(select(*sums), daily, selection)).one()
    return {status: int(n) for status, n in zip(FLAGS, row, strict=True)}


# Rebuild ---------------------------------------------------------------------------


def _is_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def _test_day(session: Session) -> ColumnElement[Any]:
    if _is_sqlite(session):
        return func.date(SelfTest.claimed_at)  # stored as naive UTC
    return cast(func.timezone("UTC", SelfTest.claimed_at), Date)


def _seconds_to_release(session: Session) -> ColumnElement[float]:
    if _is_sqlite(session):
        days = func.julianday(SelfTest.released_at) - func.julianday(SelfTest.claimed_at)
        return cast(days * 86400.0, Float)
    return cast(extract("epoch", SelfTest.released_at - SelfTest.claimed_at), Float)


def rebuild(session: Session) -> None:
    """Recounts both aggregate tables from the tests and their proposals (after a bulk
    load that bypassed the ORM, or to repair): the same figures the upkeep keeps."""
    session.execute(delete(daily))
    session.execute(delete(turnaround))
    standing = SelfTest.status.in_(STANDING) & SelfTest.result.is_not(None)
    marks = (
        select(
            Proposal.self_test_id.label("test_id"),
            *[
                func.max(case((Proposal.status == status, 1), else_=0)).label(column)
                for status, column in FLAGS.items()
            ],
        )
        .where(Proposal.status.in_(list(FLAGS)))
        .group_by(Proposal.self_test_id)
        .subquery()
    )
    day = _test_day(session).label("day")
    key = (day, SelfTest.region_code, SelfTest.product_id, SelfTest.batch_id, SelfTest.result)
    counts = (
        select(
            *key,
            func.count(),
            *[func.coalesce(func.sum(marks.c[column]), 0) for column in FLAGS.values()],
        )
        .outerjoin(marks, marks.c.test_id == SelfTest.id)
        .where(standing)
        .group_by(*key)
    )
    session.execute(
        insert(daily).from_select(
            [*(c.name for c in DAILY_KEY), "result", "tests", *FLAGS.values()], counts
        )
    )
    seconds = _seconds_to_release(session)
    least = func.min if _is_sqlite(session) else func.least  # SQLite's min of two values
    bucket = case(
        (seconds < FIRST_EDGE_S, 0),
        else_=least(
            len(EDGES), cast(func.floor(func.ln(seconds / FIRST_EDGE_S) / LN_GROWTH), Integer) + 1
        ),
    )
    place = (day, SelfTest.region_code, SelfTest.product_id)
    # Grouped by bucket first (the bucket computed once per test), spread into columns after.
    per_bucket = (
        select(*place, bucket.label("k"), func.count().label("n"))
        .where(standing, SelfTest.released_at.is_not(None))
        .group_by(*place, bucket)
        .subquery()
    )
    histograms = select(
        per_bucket.c.day,
        per_bucket.c.region_code,
        per_bucket.c.product_id,
        *[func.sum(case((per_bucket.c.k == k, per_bucket.c.n), else_=0)) for k in range(BUCKETS)],
    ).group_by(per_bucket.c.day, per_bucket.c.region_code, per_bucket.c.product_id)
    session.execute(
        insert(turnaround).from_select(
            ["day", "region_code", "product_id", *BUCKET_COLUMNS], histograms
        )
    )
