"""Released results: the standard messages, corrections, withdrawals and downloads.

:func:`released_result` is the one place that turns a self-test's rows into the
:class:`~api.interop.schemas.ReleasedResult` read model (patient data decrypted). A
result's versions are its release and each correction or withdrawal (entered in error)
recorded in the audit log since, so the history stays visible and every version has a
stable message id. :func:`announce` hands the newest version to the agencies' outbox and
the patient's notification in the caller's transaction: a rolled-back release leaves no
message behind.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from sqlalchemy.orm import Session

from api.accounts.schemas import Caller
from api.accounts.tables import User
from api.audit.service import record
from api.batches.tables import Batch, Unit
from api.context import AppContext
from api.db.base import utcnow
from api.errors import InvalidError, NotFoundError
from api.interop import fhir, hl7
from api.interop.schemas import (
    AnalyteResult,
    ClinicianPart,
    InstitutionPart,
    PatientPart,
    ProductPart,
    ReleasedResult,
)
from api.interop.service import stored_mapping
from api.notifications.service import announce_release, open_result_link
from api.organisations.tables import Institution, Manufacturer
from api.outbox.service import goes_to_agencies, sender
from api.outbox.settings import OutboxSettings
from api.patients.service import email_of, personal_data, result_recipient
from api.patients.tables import Patient
from api.products.tables import Product
from api.reports import queries
from api.reports.schemas import CorrectionIn, LinkedResult, LinkRefused, ResultVersion
from api.scope import Scope
from api.selftests import lifecycle
from api.selftests import queries as test_queries
from api.selftests.tables import SelfTest


def result_id(test: SelfTest) -> str:
    """The public id of a test's result: the same for every version of it."""
    return f"test-{test.id}"


def _analytes(
    product: Product, proposal_reading: dict[str, object] | None, result: str
) -> tuple[AnalyteResult, ...]:
    """Per-analyte results that agree with the confirmed ``result``.

    The pipeline's per-analyte reading is kept when it agrees with what the clinician
    confirmed; otherwise a negative or invalid test has every analyte so, and a positive
    one whose positive analyte is not known is reported on the product's test item.
    """
    analytes = (proposal_reading or {}).get("analytes")
    if isinstance(analytes, dict) and analytes:
        read = tuple(
            AnalyteResult(analyte=str(name), result=value)
            for name, value in analytes.items()
            if value in ("positive", "negative", "invalid")
        )
        values = {a.result for a in read}
        agrees = (result == "positive") == ("positive" in values) and (
            result != "negative" or values == {"negative"}
        )
        if read and len(read) == len(analytes) and agrees and result != "invalid":
            return read
    names = sorted({line.analyte_name for line in product.kit.lines if line.role == "test"})
    if not names or (result == "positive" and len(names) > 1):
        names = [product.test_item_name]
    return tuple(AnalyteResult(analyte=name, result=result) for name in names)


def versions(session: Session, test: SelfTest) -> list[ResultVersion]:
    """Every version of ``test``'s released result, oldest first (empty if never released)."""
    if test.released_at is None or test.released_by is None:
        return []
    amendments = queries.amendments(session, test.id)
    # The result as first released: the first correction records the value it replaced.
    corrections = [e for e in amendments if e.action == "correct"]
    first = str(corrections[0].detail["previous"]) if corrections else str(test.result)
    history = [
        ResultVersion(
            number=1,
            report_status="final",
            result=first,
            at=test.released_at,
            clinician_id=test.released_by,
            reason=None,
        )
    ]
    for entry in amendments:
        history.append(
            ResultVersion(
                number=len(history) + 1,
                report_status="entered-in-error" if entry.action == "retract" else "corrected",
                result=entry.detail.get("result") or history[-1].result,
                at=entry.at,
                clinician_id=entry.actor_id or test.released_by,
                reason=entry.detail.get("reason"),
            )
        )
    return history


def released_result(session: Session, ctx: AppContext, test: SelfTest) -> ReleasedResult:
    """The newest version of ``test``'s released result, as every standard message carries it."""
    history = versions(session, test)
    if not history:
        raise NotFoundError(f"test {test.id} has no released result")
    version = history[-1]
    clinician = session.get(User, version.clinician_id)
    patient = session.get(Patient, test.patient_id)
    product = session.get(Product, test.product_id)
    batch = session.get(Batch, test.batch_id)
    unit = session.get(Unit, test.unit_id)
    assert clinician is not None
    assert patient is not None
    assert product is not None
    assert batch is not None
    assert unit is not None
    assert test.released_at is not None
    manufacturer = session.get(Manufacturer, product.manufacturer_id)
    institution = (
        session.get(Institution, clinician.institution_id) if clinician.institution_id else None
    )
    upload = test_queries.latest_upload(session, test.id)
    proposal = test_queries.latest_proposal(session, test.id)
    name, national_id, phone = personal_data(ctx, patient)
    kit = product.kit
    return ReleasedResult(
        # Stable per version: a download and the delivery of a version share one id.
        message_id=f"t{test.id}-v{version.number}",
        result_id=result_id(test),
        report_status=version.report_status,
        patient=PatientPart(
            id=f"patient-{patient.id}",
            name=name[:100],
            national_id=national_id,
            phone=phone,
            email=email_of(ctx, patient),
            region_code=test.region_code,
        ),
        institution=(
            InstitutionPart(
                id=f"institution-{institution.id}",
                name=institution.name,
                region_code=institution.region_code,
                address=institution.address or None,
            )
            if institution is not None
            # A clinician of no institution confirms for this installation.
            else InstitutionPart(
                id="vigil", name=OutboxSettings().sender_facility, region_code=test.region_code
            )
        ),
        clinician=ClinicianPart(id=f"user-{clinician.id}", name=clinician.display_name[:100]),
        product=ProductPart(
            product_code=product.product_code,
            name=product.name,
            manufacturer=manufacturer.name if manufacturer is not None else "unknown",
            test_item_name=kit.test_item.name,
            test_item_loinc=kit.test_item.loinc or product.test_item_loinc,
        ),
        unit_code=unit.code,
        lot_number=batch.lot_number,
        lot_expiry=batch.expiry_date,
        collected_at=upload.taken_at if upload is not None else test.claimed_at,
        analytes=_analytes(product, proposal.reading if proposal else None, version.result),
        result=version.result,
        released_at=test.released_at,
        issued_at=version.at,
        reason=version.reason,
    )


def announce(session: Session, ctx: AppContext, test: SelfTest) -> None:
    """Queue the newest version of ``test``'s result for the agencies and the patient.

    Agencies in scope get every confirmed positive and every later version of a result
    they were sent; the patient is told of every release, correction and withdrawal.
    Written to the outbox in the caller's transaction; nothing leaves before it commits.
    """
    patient = session.get(Patient, test.patient_id)
    assert patient is not None
    # On the channel the patient chose (SMS or e-mail), to their address on it.
    recipient = result_recipient(ctx, patient)
    released = released_result(session, ctx, test)
    announce_release(session, ctx, released, test.region_code, recipient=recipient, test_id=test.id)


# Corrections and withdrawals ------------------------------------------------------


def _released_in_scope(session: Session, scope: Scope, test_id: int) -> SelfTest:
    test = session.get(SelfTest, test_id)
    if test is None:
        raise NotFoundError(f"no test with id {test_id}")
    scope.check(test.region_code, "this test")
    return test


def amend(
    session: Session,
    ctx: AppContext,
    clinician: Caller,
    scope: Scope,
    test_id: int,
    body: CorrectionIn,
) -> list[ResultVersion]:
    """A clinician corrects a released result, or withdraws it as entered in error.

    Everyone who got the first version gets the new one (a ``corrected`` or
    ``entered-in-error`` report) and the patient is told again; returns the history.
    """
    test = _released_in_scope(session, scope, test_id)
    reason = body.reason.strip()
    if not reason:
        raise InvalidError("reason: say why the result is amended")
    if body.entered_in_error:
        lifecycle.retract(session, clinician, test, reason)
    else:
        assert body.result is not None
        lifecycle.correct(session, clinician, test, body.result, reason)
    session.flush()
    announce(session, ctx, test)
    return versions(session, test)


def history(session: Session, scope: Scope, test_id: int) -> list[ResultVersion]:
    """Every version of a released result in scope, oldest first."""
    test = _released_in_scope(session, scope, test_id)
    found = versions(session, test)
    if not found:
        raise NotFoundError(f"test {test_id} has no released result")
    return found


# Downloads ------------------------------------------------------------------------

Format = Literal["fhir", "hl7"]


def result_message(
    session: Session, ctx: AppContext, viewer: Caller, scope: Scope, test_id: int, form: Format
) -> str:
    """One reported result (its newest version) as a FHIR Bundle or an HL7 ORU^R01.

    Downloads carry what agencies are sent: confirmed positives and amended results.
    The patient's data in it is decrypted, so the download is audited.
    """
    test = _released_in_scope(session, scope, test_id)
    released = released_result(session, ctx, test)
    if not goes_to_agencies(released):
        raise NotFoundError(f"test {test_id} has no result reported to health agencies")
    record(session, viewer, "download_results", "self_test", test.id, format=form)
    source = sender(ctx, OutboxSettings())
    mapping = stored_mapping(session)
    if form == "fhir":
        return fhir.bundle_json(released, source, mapping=mapping)
    return hl7.build_oru_r01(released, source, mapping=mapping)


def period_messages(
    session: Session,
    ctx: AppContext,
    viewer: Caller,
    scope: Scope,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    form: Format,
) -> str:
    """The results reported in a period in scope: FHIR Bundles as NDJSON, or an HL7 batch."""
    tests = queries.reported_results(session, scope.regions, since, until, limit)
    released: Sequence[ReleasedResult] = [released_result(session, ctx, t) for t in tests]
    record(
        session, viewer, "download_results", "self_tests", len(tests), tests=[t.id for t in tests]
    )
    source = sender(ctx, OutboxSettings())
    mapping = stored_mapping(session)
    if form == "fhir":
        return "".join(fhir.bundles_ndjson(released, source, mapping=mapping))
    now = utcnow()
    return hl7.build_batch(released, source, f"b{int(now.timestamp())}", now, mapping=mapping)


# The patient's result link ---------------------------------------------------------


def open_link(
    session: Session, ctx: AppContext, token: str, kit_code: str, second_factor: str
) -> LinkedResult | LinkRefused:
    """The result a patient's link opens with the kit code and a second factor, or why not.

    A wrong try is counted on the link: the caller commits whatever this returns.
    """
    check = open_result_link(session, ctx, token, kit_code, second_factor)
    if check.result_id is None:
        return LinkRefused(refusal=check.refusal or "unknown")
    test_id = check.result_id.removeprefix("test-")
    test = session.get(SelfTest, int(test_id)) if test_id.isdigit() else None
    history = versions(session, test) if test is not None else []
    if test is None or not history:
        return LinkRefused(refusal="unknown")
    product = session.get(Product, test.product_id)
    assert product is not None
    newest = history[-1]
    status = {
        "final": "released",
        "corrected": "corrected",
        "entered-in-error": "withdrawn",
    }[newest.report_status]
    return LinkedResult(
        status=status,
        result=newest.result,
        product_name=product.name,
        test_item=product.test_item_name,
        released_at=history[0].at,
        updated_at=newest.at if len(history) > 1 else None,
        reason=newest.reason,
    )
