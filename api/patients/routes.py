from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from api.accounts.schemas import SignUpAccepted, SignUpConfirm, TokenOut
from api.deps import ClientAddress, CtxDep, PatientUser, ScopeDep, SessionDep, TestViewer
from api.pagination import Page, PagerDep
from api.patients import service, signup
from api.patients.schemas import (
    Claim,
    PatientCodeLogin,
    PatientContact,
    PatientOut,
    PatientRegister,
)
from api.public_ids import TEST, TestPath, encode
from api.selftests.schemas import SampleApplied, TestOut
from api.selftests.service import test_view

router = APIRouter(tags=["patients"])


@router.post(
    "/patients",
    response_model=SignUpAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Step 5: a patient registers (real name, national ID number, phone)",
)
def register(
    session: SessionDep, ctx: CtxDep, _address: ClientAddress, body: PatientRegister
) -> SignUpAccepted:
    """The same answer whether or not the ID number or user name is registered; a text
    message to the phone given carries the code for ``/patients/confirm`` (or what to do)."""
    signup.sign_up(session, ctx, body)
    return SignUpAccepted(detail=signup.ACCEPTED)


@router.post(
    "/patients/confirm",
    response_model=PatientOut,
    status_code=status.HTTP_201_CREATED,
    summary="Step 5: confirm a registration with the code texted to the phone",
)
def confirm(
    session: SessionDep,
    ctx: CtxDep,
    _address: ClientAddress,
    body: SignUpConfirm,
    response: Response,
) -> PatientOut:
    patient = signup.confirm(session, ctx, body.username, body.code)
    response.headers["Location"] = "/api/patients/me"
    return service.patient_out(ctx, patient)


@router.get("/patients/me", response_model=PatientOut, summary="The logged-in patient")
def me(session: SessionDep, ctx: CtxDep, user: PatientUser) -> PatientOut:
    return service.patient_out(ctx, service.patient_of(session, user))


@router.put(
    "/patients/me/contact",
    response_model=PatientOut,
    summary="How the logged-in patient is told that a result is ready (SMS or e-mail)",
)
def set_contact(
    session: SessionDep, ctx: CtxDep, user: PatientUser, body: PatientContact
) -> PatientOut:
    """``email`` needs an address (422 otherwise); the next result message goes this way."""
    return service.patient_out(ctx, service.set_contact(session, ctx, user, body))


@router.post(
    "/auth/patient-token",
    response_model=TokenOut,
    summary="Step 5: a patient logs in with a scanned kit code and their national ID number",
)
def log_in_by_code(
    session: SessionDep, ctx: CtxDep, _address: ClientAddress, body: PatientCodeLogin
) -> TokenOut:
    """The code of a test the patient started, or of a new kit: a new kit always answers
    401 ``one_time_code_required`` first (a code is texted to the phone registered with
    the ID number, if any), then opens with that code."""
    token, expires, user = service.log_in_by_code_token(
        session, ctx, body.code, body.national_id, body.one_time_code
    )
    return TokenOut(access_token=token, expires_at=expires, role=user.role, user_id=user.id)


@router.post(
    "/tests",
    response_model=TestOut,
    status_code=status.HTTP_201_CREATED,
    summary="Step 6: scan a kit code to start a test (claims the unit, records the location)",
)
def claim(
    session: SessionDep, ctx: CtxDep, user: PatientUser, body: Claim, response: Response
) -> TestOut:
    test = service.claim(session, ctx, user, body)
    response.headers["Location"] = f"/api/tests/{encode(TEST, test.id)}"
    return test_view(session, test, staff=False)


@router.get(
    "/tests",
    response_model=Page[TestOut],
    summary="Tests, newest first: a patient's own, or those of a clinician's / CDC officer's "
    "region",
)
def list_tests(
    session: SessionDep,
    user: TestViewer,
    scope: ScopeDep,
    page: PagerDep,
    status: Annotated[str | None, Query(max_length=40)] = None,
) -> Page[TestOut]:
    rows = service.list_tests(
        session, user, scope, status=status, before_id=page.after_value(), limit=page.limit + 1
    )
    return page.page(rows, lambda t: (t.id,))


@router.get(
    "/tests/{test_id}",
    response_model=TestOut,
    summary="Step 9: one test; its patient sees the result once released",
)
def get_test(session: SessionDep, user: TestViewer, scope: ScopeDep, test_id: TestPath) -> TestOut:
    return service.view_test(session, user, scope, test_id)


@router.post(
    "/tests/{test_id}/sample-applied",
    response_model=TestOut,
    summary="The patient applied the sample: the kit's read window starts (once, before a photo)",
)
def sample_applied(
    session: SessionDep, user: PatientUser, test_id: TestPath, body: SampleApplied
) -> TestOut:
    return service.sample_applied(session, user, test_id, body.applied_at)
