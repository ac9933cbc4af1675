"""Step 9 and 10: reports of confirmed positives, the CDC's case list and statistics."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from api.accounts.schemas import Caller
from api.accounts.tables import Role
from api.audit.service import record
from api.batches.tables import Batch
from api.context import AppContext
from api.errors import NotFoundError
from api.organisations import queries as org_queries
from api.pagination import Position
from api.patients.service import personal_data
from api.patients.tables import Patient
from api.products import queries as product_queries
from api.products.tables import Product
from api.reports import queries
from api.reports.schemas import (
    CaseTest,
    PatientCase,
    PositiveBrief,
    PositiveCase,
    ReportOut,
)
from api.reports.tables import Report
from api.scope import Scope
from api.selftests import queries as test_queries
from api.selftests.service import timing_of
from api.selftests.tables import SelfTest, TestStatus, Upload

RESULTS = ("positive", "negative", "invalid")
# Statuses whose result stands: released, or released and corrected since.
STANDING = (TestStatus.released, TestStatus.corrected)


def report_positive(session: Session, ctx: AppContext, actor: Caller, test: SelfTest) -> int:
    """Report a released positive to the CDC offices of its region and above, and the region's
    medical institutions; returns the number of reports stored. (The live feed has it from
    the outbox, written with the agencies' messages: ``api.outbox.service.enqueue_release``.)"""
    assert test.result is not None
    ancestors = [test.region_code, *ctx.regions.ancestors(test.region_code)]
    offices = org_queries.cdc_offices(session, ancestors)
    institutions = org_queries.institutions(session, [test.region_code])
    for office in offices:
        session.add(
            Report(
                self_test_id=test.id,
                cdc_office_id=office.id,
                region_code=test.region_code,
                result=test.result,
            )
        )
    for institution in institutions:
        session.add(
            Report(
                self_test_id=test.id,
                institution_id=institution.id,
                region_code=test.region_code,
                result=test.result,
            )
        )
    count = len(offices) + len(institutions)
    record(
        session,
        actor,
        "report",
        "self_test",
        test.id,
        cdc_offices=[o.id for o in offices],
        institutions=[i.id for i in institutions],
    )
    return count


def reports(session: Session, user: Caller, after_id: int | None, limit: int) -> list[ReportOut]:
    """The reports addressed to the caller's CDC office or medical institution."""
    if user.role == Role.cdc_officer:
        rows = queries.reports_for(
            session, cdc_office_id=user.cdc_office_id or -1, after_id=after_id, limit=limit
        )
    else:
        rows = queries.reports_for(
            session, institution_id=user.institution_id or -1, after_id=after_id, limit=limit
        )
    return [
        ReportOut(
            id=report.id,
            test_id=test.id,
            region_code=report.region_code,
            result=report.result,
            product_code=product.product_code,
            lot_number=batch.lot_number,
            released_at=test.released_at,
            created_at=report.created_at,
        )
        for report, test, product, batch in rows
    ]


def _positive_case(
    ctx: AppContext,
    test: SelfTest,
    patient: Patient,
    product: Product,
    batch: Batch,
    upload: Upload | None,
) -> PositiveCase:
    """One confirmed positive with the patient's identity decrypted (the caller audits it);
    ``upload``: the test's latest."""
    name, national_id, phone = personal_data(ctx, patient)
    flag, timing = timing_of(upload, test, product)
    return PositiveCase(
        test_id=test.id,
        patient_id=patient.id,
        name=name,
        national_id=national_id,
        phone=phone,
        latitude=test.latitude,
        longitude=test.longitude,
        region_code=test.region_code,
        region_name=ctx.regions.name(test.region_code),
        tested_at=test.claimed_at,
        released_at=test.released_at,
        product_code=product.product_code,
        product_name=product.name,
        test_item=product.test_item_name,
        lot_number=batch.lot_number,
        read_time_flag=flag,
        read_time=timing,
    )


def positives(
    session: Session,
    ctx: AppContext,
    user: Caller,
    scope: Scope,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    after: Position | None = None,
) -> list[PositiveCase]:
    """Step 10: confirmed positives in scope, newest first (``after`` the (released_at, id)
    of the last one shown), identity decrypted; the viewing is audited."""
    rows = queries.positives(session, scope.regions, since, until, limit, after=after)
    # The page's photos in one query, not one per row.
    uploads = test_queries.latest_uploads(session, [test.id for test, *_ in rows])
    cases = [
        _positive_case(ctx, test, patient, product, batch, uploads.get(test.id))
        for test, patient, product, batch in rows
    ]
    record(
        session,
        user,
        "view_personal_data",
        "positives",
        len(cases),
        patients=sorted({c.patient_id for c in cases}),
    )
    return cases


def positive_briefs(
    session: Session,
    ctx: AppContext,
    scope: Scope,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    product_code: str | None = None,
) -> list[PositiveBrief]:
    """Confirmed positives in scope without personal data (nothing decrypted, nothing audited)."""
    return [
        PositiveBrief(
            test_id=test.id,
            region_code=test.region_code,
            region_name=ctx.regions.name(test.region_code),
            tested_at=test.claimed_at,
            released_at=test.released_at,
            product_code=product.product_code,
            lot_number=batch.lot_number,
        )
        for test, _patient, product, batch in queries.positives(
            session, scope.regions, since, until, limit, product_code
        )
    ]


def patient_case(
    session: Session, ctx: AppContext, user: Caller, scope: Scope, test_id: int
) -> PatientCase:
    """The patient behind the confirmed positive ``test_id``: identity, contact, location and
    the tests in the officer's scope. Only for a released positive in scope; the viewing is
    audited (it joins the caller's transaction: commit it)."""
    test = session.get(SelfTest, test_id)
    if test is None or test.status not in STANDING or test.result != "positive":
        raise NotFoundError(f"no confirmed positive with test id {test_id}")
    scope.check(test.region_code, "this patient")
    patient = session.get(Patient, test.patient_id)
    product = session.get(Product, test.product_id)
    batch = session.get(Batch, test.batch_id)
    assert patient is not None
    assert product is not None
    assert batch is not None
    upload = test_queries.latest_upload(session, test.id)
    case = _positive_case(ctx, test, patient, product, batch, upload)
    history = [
        CaseTest(
            test_id=t.id,
            region_code=t.region_code,
            region_name=ctx.regions.name(t.region_code),
            tested_at=t.claimed_at,
            status=t.status,
            # Only released results: an unreviewed proposal is not a result yet.
            result=t.result if t.status in STANDING else None,
            released_at=t.released_at,
            product_code=p.product_code,
            product_name=p.name,
            test_item=p.test_item_name,
            lot_number=b.lot_number,
            latitude=t.latitude,
            longitude=t.longitude,
        )
        for t, p, b in queries.patient_tests(session, patient.id, scope.regions)
    ]
    total = queries.count_patient_tests(session, patient.id)
    record(
        session,
        user,
        "view_patient",
        "patient",
        patient.id,
        test=test.id,
        tests_shown=[t.test_id for t in history],
    )
    return PatientCase(case=case, history=history, tests_elsewhere=max(total - len(history), 0))


def product_codes(session: Session) -> list[str]:
    """Every registered product's code (the choices of a product filter; products are public,
    and listing them needs no pass over the tests)."""
    return sorted(p.product_code for p in product_queries.products(session))
