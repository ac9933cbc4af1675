"""SQL for reports, the CDC's list of positives, and statistics."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from api.audit.tables import AuditEntry
from api.batches.tables import Batch
from api.pagination import Position, Window
from api.patients.tables import Patient
from api.products.tables import Product
from api.reports.tables import Report
from api.selftests.tables import SelfTest, TestStatus


def reports_for(
    session: Session,
    *,
    cdc_office_id: int | None = None,
    institution_id: int | None = None,
    after_id: int | None = None,
    limit: int = 200,
) -> Sequence[tuple[Report, SelfTest, Product, Batch]]:
    query = (
        select(Report, SelfTest, Product, Batch)
        .join(SelfTest, SelfTest.id == Report.self_test_id)
        .join(Product, Product.id == SelfTest.product_id)
        .join(Batch, Batch.id == SelfTest.batch_id)
        .order_by(Report.id.desc())
        .limit(limit)
    )
    if cdc_office_id is not None:
        query = query.where(Report.cdc_office_id == cdc_office_id)
    if institution_id is not None:
        query = query.where(Report.institution_id == institution_id)
    if after_id is not None:
        query = query.where(Report.id > after_id)
    return [tuple(row) for row in session.execute(query).all()]  # type: ignore[misc]


def _released_in(
    query: Any,
    regions: Iterable[str] | None,
    since: datetime | None,
    until: datetime | None,
    product_code: str | None = None,
) -> Any:
    # A corrected result stands (with its new value); a withdrawn one does not.
    query = query.where(SelfTest.status.in_((TestStatus.released, TestStatus.corrected)))
    if product_code is not None:
        query = query.where(Product.product_code == product_code)
    if regions is not None:
        query = query.where(SelfTest.region_code.in_(list(regions)))
    if since is not None:
        query = query.where(SelfTest.released_at >= since)
    if until is not None:
        query = query.where(SelfTest.released_at < until)
    return query


def positives(
    session: Session,
    regions: Iterable[str] | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    product_code: str | None = None,
    after: Position | None = None,
) -> Sequence[tuple[SelfTest, Patient, Product, Batch]]:
    """Newest release first; ``after``: the (released_at, id) of the last one already shown."""
    query = (
        select(SelfTest, Patient, Product, Batch)
        .join(Patient, Patient.id == SelfTest.patient_id)
        .join(Product, Product.id == SelfTest.product_id)
        .join(Batch, Batch.id == SelfTest.batch_id)
        .where(SelfTest.result == "positive")
    )
    query = Window(after, limit).apply(query, SelfTest.released_at, SelfTest.id, descending=True)
    query = _released_in(query, regions, since, until, product_code)
    return [(t, p, pr, b) for t, p, pr, b in session.execute(query).all()]


def patient_tests(
    session: Session, patient_id: int, regions: Iterable[str] | None, limit: int = 200
) -> Sequence[tuple[SelfTest, Product, Batch]]:
    """A patient's tests in ``regions`` (all when ``None``), newest first."""
    query = (
        select(SelfTest, Product, Batch)
        .join(Product, Product.id == SelfTest.product_id)
        .join(Batch, Batch.id == SelfTest.batch_id)
        .where(SelfTest.patient_id == patient_id)
        .order_by(SelfTest.claimed_at.desc(), SelfTest.id.desc())
        .limit(limit)
    )
    if regions is not None:
        query = query.where(SelfTest.region_code.in_(list(regions)))
    return [(t, p, b) for t, p, b in session.execute(query).all()]


def count_patient_tests(session: Session, patient_id: int) -> int:
    return int(
        session.scalar(
            select(func.count()).select_from(SelfTest).where(SelfTest.patient_id == patient_id)
        )
        or 0
    )


# Released results: what a correction or withdrawal changed, and a period's results.

AMENDMENTS = ("correct", "retract")
"""Audit actions that make a new version of a released result."""


def amendments(session: Session, test_id: int) -> Sequence[AuditEntry]:
    """The corrections and withdrawal of a released result, oldest first."""
    query = (
        select(AuditEntry)
        .where(
            AuditEntry.object_type == "self_test",
            AuditEntry.object_id == str(test_id),
            AuditEntry.action.in_(AMENDMENTS),
        )
        .order_by(AuditEntry.id)
    )
    return session.scalars(query).all()


def reported_results(
    session: Session,
    regions: Iterable[str] | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> Sequence[SelfTest]:
    """Released tests in ``regions`` that agencies are told of, by release: positives, and
    every result corrected or withdrawn since its release."""
    query = (
        select(SelfTest)
        .where(
            SelfTest.released_at.is_not(None),
            or_(SelfTest.result == "positive", SelfTest.status != TestStatus.released),
        )
        .order_by(SelfTest.released_at, SelfTest.id)
        .limit(limit)
    )
    if regions is not None:
        query = query.where(SelfTest.region_code.in_(list(regions)))
    if since is not None:
        query = query.where(SelfTest.released_at >= since)
    if until is not None:
        query = query.where(SelfTest.released_at < until)
    return session.scalars(query).all()
