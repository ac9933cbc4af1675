from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.deps import (
    CdcOfficer,
    Clinician,
    CtxDep,
    HealthStaff,
    ScopeDep,
    SessionDep,
)
from api.outbox.schemas import CONTENT_TYPES
from api.pagination import Page, PagerDep
from api.public_ids import TEST, TestPath, encode
from api.reports import releases, service
from api.reports.schemas import CorrectionIn, PositiveCase, ReportOut, ResultVersion

router = APIRouter(tags=["reports"])

Since = Annotated[datetime | None, Query(description="released at or after (ISO 8601)")]
Until = Annotated[datetime | None, Query(description="released before (ISO 8601)")]


@router.get(
    "/reports",
    response_model=Page[ReportOut],
    summary="Step 9: reports addressed to the caller's CDC office or medical institution",
)
def list_reports(session: SessionDep, user: HealthStaff, page: PagerDep) -> Page[ReportOut]:
    rows = service.reports(session, user, page.after_value(), page.limit + 1)
    return page.page(rows, lambda r: (r.id,), feed=True)


@router.get(
    "/cdc/positives",
    response_model=Page[PositiveCase],
    summary="Step 10: confirmed positives in scope, newest first, with the patient details "
    "needed to act",
)
def list_positives(
    session: SessionDep,
    ctx: CtxDep,
    user: CdcOfficer,
    scope: ScopeDep,
    page: PagerDep,
    since: Since = None,
    until: Until = None,
) -> Page[PositiveCase]:
    cases = service.positives(
        session, ctx, user, scope, since, until, page.limit + 1, after=page.after
    )
    return page.page(cases, lambda c: (c.released_at, c.test_id))


# Released results: corrections, history and the standard messages -------------------

FHIR_NDJSON = "application/fhir+ndjson"
PeriodLimit = Annotated[int, Query(ge=1, le=5000, description="at most this many results")]


@router.post(
    "/tests/{test_id}/correction",
    response_model=list[ResultVersion],
    summary="Amend a released result (a new result, or entered in error) with a reason",
    description="Everyone who got the result gets the corrected or withdrawn version, and "
    "the patient is told again. Answers with the result's history.",
)
def correct_result(
    session: SessionDep,
    ctx: CtxDep,
    user: Clinician,
    scope: ScopeDep,
    test_id: TestPath,
    body: CorrectionIn,
) -> list[ResultVersion]:
    return releases.amend(session, ctx, user, scope, test_id, body)


@router.get(
    "/results/{test_id}/history",
    response_model=Page[ResultVersion],
    summary="Every version of a released result: the release, corrections, withdrawal",
)
def result_history(
    session: SessionDep, _user: HealthStaff, scope: ScopeDep, page: PagerDep, test_id: TestPath
) -> Page[ResultVersion]:
    return page.listed(releases.history(session, scope, test_id))


def _download(body: str, media_type: str, filename: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/results/{test_id}/fhir",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPES["fhir"]: {}}}},
    summary="One reported result (its newest version) as a FHIR R4B message Bundle",
)
def result_fhir(
    session: SessionDep, ctx: CtxDep, user: HealthStaff, scope: ScopeDep, test_id: TestPath
) -> Response:
    body = releases.result_message(session, ctx, user, scope, test_id, "fhir")
    return _download(body, CONTENT_TYPES["fhir"], f"result-{encode(TEST, test_id)}.json")


@router.get(
    "/results/{test_id}/hl7",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPES["hl7"]: {}}}},
    summary="One reported result (its newest version) as an HL7 v2.5.1 ORU^R01 message",
)
def result_hl7(
    session: SessionDep, ctx: CtxDep, user: HealthStaff, scope: ScopeDep, test_id: TestPath
) -> Response:
    body = releases.result_message(session, ctx, user, scope, test_id, "hl7")
    return _download(body, CONTENT_TYPES["hl7"], f"result-{encode(TEST, test_id)}.hl7")


@router.get(
    "/results.ndjson",
    response_class=Response,
    responses={200: {"content": {FHIR_NDJSON: {}}}},
    summary="Results reported in a period in scope: one FHIR Bundle per line (NDJSON)",
)
def results_ndjson(
    session: SessionDep,
    ctx: CtxDep,
    user: HealthStaff,
    scope: ScopeDep,
    since: Since = None,
    until: Until = None,
    limit: PeriodLimit = 1000,
) -> Response:
    body = releases.period_messages(session, ctx, user, scope, since, until, limit, "fhir")
    return _download(body, FHIR_NDJSON, "results.ndjson")


@router.get(
    "/results.hl7",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPES["hl7"]: {}}}},
    summary="Results reported in a period in scope: an HL7 v2.5.1 batch file (FHS/BHS)",
)
def results_hl7(
    session: SessionDep,
    ctx: CtxDep,
    user: HealthStaff,
    scope: ScopeDep,
    since: Since = None,
    until: Until = None,
    limit: PeriodLimit = 1000,
) -> Response:
    body = releases.period_messages(session, ctx, user, scope, since, until, limit, "hl7")
    return _download(body, CONTENT_TYPES["hl7"], "results.hl7")
