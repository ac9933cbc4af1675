"""Grouped SQL for the statistics: every function returns aggregates, never test rows.

Tests count by their date of test (the scan, ``claimed_at``, in UTC) and only while
their result stands (released, or released and corrected since).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, Float, cast, extract, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from api.batches.tables import Batch
from api.products.tables import Product
from api.selftests.tables import Proposal, SelfTest, TestStatus

STANDING = (TestStatus.released, TestStatus.corrected)


@dataclass(frozen=True)
class Selection:
    """Which tests count: tested in ``[since, until)``, in ``regions`` (all when ``None``),
    of one product when ``product_code`` is given."""

    since: datetime
    until: datetime
    regions: frozenset[str] | None = None
    product_code: str | None = None


def _where(query: Any, selection: Selection) -> Any:
    query = query.where(
        SelfTest.status.in_(STANDING),
        SelfTest.claimed_at >= selection.since,
        SelfTest.claimed_at < selection.until,
    )
    if selection.regions is not None:
        query = query.where(SelfTest.region_code.in_(sorted(selection.regions)))
    if selection.product_code is not None:
        # A sub-select keeps the filter on self_tests' own index (no join per test).
        product = select(Product.id).where(Product.product_code == selection.product_code)
        query = query.where(SelfTest.product_id.in_(product.scalar_subquery()))
    return query


def _is_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def _day(session: Session) -> ColumnElement[Any]:
    if _is_sqlite(session):
        return func.date(SelfTest.claimed_at)  # stored as naive UTC
    return cast(func.timezone("UTC", SelfTest.claimed_at), Date)


def by_day_query(session: Session, selection: Selection) -> Any:
    """The SQL of :func:`by_day` (the benchmark shows its plan)."""
    day = _day(session)
    return _where(
        select(day, SelfTest.result, func.count()).group_by(day, SelfTest.result).order_by(day),
        selection,
    )


def by_day(session: Session, selection: Selection) -> list[tuple[date, str, int]]:
    """(day of test, result, tests), by day."""
    query = by_day_query(session, selection)
    return [
        (d if isinstance(d, date) else date.fromisoformat(str(d)), str(r), int(n))
        for d, r, n in session.execute(query).all()
    ]


def by_region(session: Session, selection: Selection) -> list[tuple[str, str, int]]:
    """(region the test was taken in, result, tests): the service sums them up to a level."""
    query = _where(
        select(SelfTest.region_code, SelfTest.result, func.count()).group_by(
            SelfTest.region_code, SelfTest.result
        ),
        selection,
    )
    return [(str(c), str(r), int(n)) for c, r, n in session.execute(query).all()]


def by_product(session: Session, selection: Selection) -> list[tuple[str, str, int]]:
    """(product code, result, tests)."""
    counted = _where(
        select(SelfTest.product_id, SelfTest.result, func.count().label("n")).group_by(
            SelfTest.product_id, SelfTest.result
        ),
        selection,
    ).subquery()
    # Grouped first, joined after: the join touches one row per group, not per test.
    query = select(Product.product_code, counted.c.result, counted.c.n).join(
        counted, counted.c.product_id == Product.id
    )
    return [(str(p), str(r), int(n)) for p, r, n in session.execute(query).all()]


def by_lot(session: Session, selection: Selection) -> list[tuple[str, str, str, int]]:
    """(product code, lot number, result, tests)."""
    counted = _where(
        select(SelfTest.batch_id, SelfTest.result, func.count().label("n")).group_by(
            SelfTest.batch_id, SelfTest.result
        ),
        selection,
    ).subquery()
    query = (
        select(Product.product_code, Batch.lot_number, counted.c.result, counted.c.n)
        .join(counted, counted.c.batch_id == Batch.id)
        .join(Product, Product.id == Batch.product_id)
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


def _seconds_to_release(session: Session) -> ColumnElement[float]:
    if _is_sqlite(session):
        days = func.julianday(SelfTest.released_at) - func.julianday(SelfTest.claimed_at)
        return cast(days * 86400.0, Float)
    return cast(extract("epoch", SelfTest.released_at - SelfTest.claimed_at), Float)


def seconds_to_release(
    session: Session, selection: Selection, quantiles: Sequence[float]
) -> tuple[int, list[float | None]]:
    """How many tests were released, and the ``quantiles`` of the time from scan to release
    in seconds (interpolated as PostgreSQL's ``percentile_cont``; ``None`` without tests)."""
    seconds = _seconds_to_release(session)
    released = SelfTest.released_at.is_not(None)
    if not _is_sqlite(session):
        wanted = [func.percentile_cont(q).within_group(seconds) for q in quantiles]
        row = session.execute(_where(select(func.count(), *wanted).where(released), selection))
        count, *found = row.one()
        return int(count), [None if v is None else float(v) for v in found]
    # SQLite has no percentile function: count, then read the one or two values around
    # each quantile's position, sorted by the database (ORDER BY with LIMIT/OFFSET).
    count = int(session.scalar(_where(select(func.count()).where(released), selection)) or 0)
    values: list[float | None] = []
    for q in quantiles:
        if count == 0:
            values.append(None)
            continue
        position = q * (count - 1)
        low = math.floor(position)
        query = _where(select(seconds).where(released), selection)
        pair = [
            float(v) for v in session.scalars(query.order_by(seconds).limit(2).offset(low)).all()
        ]
        upper = pair[1] if len(pair) > 1 else pair[0]
        values.append(pair[0] + (upper - pair[0]) * (position - low))
    return count, values


def flagged(session: Session, selection: Selection, statuses: Sequence[str]) -> dict[str, int]:
    """For each of ``statuses``, how many of the tests counted had a photo read with that
    pipeline status (e.g. ``retake``: a photo had to be taken again).

    Counted from the proposals' side: only the few flagged proposals are joined to the
    tests, instead of probing the proposals once per test.
    """
    tests = _where(select(SelfTest.id), selection).subquery()
    query = (
        select(Proposal.status, func.count(func.distinct(Proposal.self_test_id)))
        .join(tests, tests.c.id == Proposal.self_test_id)
        .where(Proposal.status.in_(list(statuses)))
        .group_by(Proposal.status)
    )
    found = {str(status): int(n) for status, n in session.execute(query).all()}
    return {status: found.get(status, 0) for status in statuses}
