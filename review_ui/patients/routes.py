"""The patient's phone pages: register, scan the kit, share where, photo, result."""

from __future__ import annotations

import secrets
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import File, Form, Request, UploadFile
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from api.accounts import service as accounts
from api.accounts.schemas import Principal
from api.audit.service import record
from api.context import AppContext
from api.deps import CtxDep, SessionDep
from api.errors import DomainError
from api.patients import service as patients
from api.patients.schemas import Claim, PatientRegister
from api.public_ids import TEST, TestPath, encode
from api.readings import service as readings
from api.scope import Scope
from api.selftests.service import test_view
from api.selftests.tables import SelfTest, TestStatus
from api.units.service import interpretation
from api.uploads import read_limited
from review_ui.patients import words
from review_ui.session import OptionalPageUser, PatientPage, page_router, set_session_cookie
from review_ui.templating import error_page, render

router = page_router(tags=["pages"])

ACTIVE = (TestStatus.awaiting_photo, TestStatus.reading, TestStatus.retake, TestStatus.in_review)


def _districts(ctx: AppContext) -> list[tuple[str, str]]:
    """Regions without sub-regions, for people who cannot share their location."""
    index = ctx.regions
    leaves = [code for code in index.codes() if not index.children(code)]
    labelled = []
    for code in leaves:
        parent = index.parent(code)
        label = index.name(code) + (f", {index.name(parent)}" if parent else "")
        labelled.append((code, label))
    return sorted(labelled, key=lambda pair: pair[1])


def _own_test(session: Session, user: Principal, test_id: int) -> SelfTest:
    return patients.get_test(session, user, Scope(frozenset()), test_id)


def _plain(exc: DomainError) -> str:
    """A service refusal without its field prefix, as a sentence."""
    text = exc.detail.split(": ", 1)[-1] if ": " in exc.detail[:24] else exc.detail
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


# Registering --------------------------------------------------------------------


@router.get("/patient/register")
def register_page(request: Request, user: OptionalPageUser) -> Response:
    if user is not None:
        return RedirectResponse("/patient", status_code=303)
    return render(request, "patients/register.html", {"error": None, "values": {}})


@router.post("/patient/register")
def register(
    request: Request,
    session: SessionDep,
    ctx: CtxDep,
    name: Annotated[str, Form(max_length=100)] = "",
    national_id: Annotated[str, Form(max_length=40)] = "",
    phone: Annotated[str, Form(max_length=40)] = "",
    username: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    values = {"name": name, "national_id": national_id, "phone": phone, "username": username}
    try:
        with session.begin_nested():  # a refusal undoes what the action wrote
            body = PatientRegister(
                name=name,
                national_id=national_id,
                phone=phone,
                username=username,
                password=password,
            )
            _patient, user = patients.register(session, ctx, body)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = words.FIELD_NAMES.get(str(first["loc"][0]), str(first["loc"][0]))
        error = f"{field}: {words.validation_message(dict(first))}"
        return render(
            request, "patients/register.html", {"error": error, "values": values}, status_code=422
        )
    except DomainError as exc:
        return render(
            request,
            "patients/register.html",
            {"error": words.field_error(exc.detail), "values": values},
            status_code=exc.status_code,
        )
    token, _expires = accounts.issue_token(session, ctx, user)
    record(session, user, "log_in", "user", user.id, via="register")
    response = RedirectResponse("/patient/scan", status_code=303)
    set_session_cookie(request, response, token, ctx.settings.token_ttl_minutes * 60)
    return response


@router.get("/u/{code}")
def unit_link(code: str) -> Response:
    """Where a kit's QR link leads a phone's camera app: start a test with this code."""
    return RedirectResponse(f"/patient/scan?{urlencode({'code': code})}", status_code=303)


# My tests ---------------------------------------------------------------------------


@router.get("/patient")
def home(request: Request, session: SessionDep, ctx: CtxDep, user: PatientPage) -> Response:
    views = patients.own_tests(session, user, limit=50)
    active = [v for v in views if v.status in ACTIVE]
    return render(
        request,
        "patients/home.html",
        {"active": active, "done": [v for v in views if v.status not in ACTIVE], "words": words},
        user=user,
    )


# Scanning the kit and sharing where --------------------------------------------------


@router.get("/patient/scan")
def scan_page(request: Request, ctx: CtxDep, user: PatientPage, code: str = "") -> Response:
    return render(
        request,
        "patients/scan.html",
        {"error": None, "code": code, "districts": _districts(ctx), "region": ""},
        user=user,
    )


@router.post("/patient/scan")
def scan(
    request: Request,
    session: SessionDep,
    ctx: CtxDep,
    user: PatientPage,
    code: Annotated[str, Form(max_length=500)] = "",
    latitude: Annotated[str, Form(max_length=40)] = "",
    longitude: Annotated[str, Form(max_length=40)] = "",
    region: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    def again(error: str, status: int) -> Response:
        context = {"error": error, "code": code, "districts": _districts(ctx), "region": region}
        return render(request, "patients/scan.html", context, user=user, status_code=status)

    if not code.strip():
        return again("Scan the code on your test, or type the short code printed under it.", 422)
    try:
        lat, lon = float(latitude), float(longitude)
    except ValueError:
        if region not in ctx.regions:
            return again("Share your location, or choose where you are from the list.", 422)
        # No location from the phone: use a point inside the district the patient chose.
        point = ctx.regions.region(region).geometry.representative_point()  # type: ignore[union-attr]
        lat, lon = point.y, point.x
    try:
        with session.begin_nested():  # a refusal undoes what the action wrote
            test = patients.claim(
                session, ctx, user, Claim(code=code.strip(), latitude=lat, longitude=lon)
            )
    except ValidationError:
        return again("That location is not valid. Choose where you are from the list.", 422)
    except DomainError as exc:
        return again(words.claim_error(exc), exc.status_code)
    return RedirectResponse(f"/patient/tests/{encode(TEST, test.id)}", status_code=303)


# One test: instructions, timer, photo, result -------------------------------------------


def _test_context(
    session: Session, ctx: AppContext, user: Principal, test_id: int
) -> dict[str, Any]:
    test = _own_test(session, user, test_id)
    view = test_view(session, test, staff=False)
    from api.products.tables import Product

    product = session.get(Product, test.product_id)
    assert product is not None
    upload = readings.latest_upload(session, test.id)
    return {
        "test": view,
        "rules": interpretation(product.kit).rules,
        "steps": words.steps(product.kit),
        "result": words.result_words(view.result, product.kit) if view.result else None,
        "upload": upload,
        "upload_key": secrets.token_urlsafe(16),
        "words": words,
    }


@router.get("/patient/tests/{test_id}")
def test_page(
    request: Request, session: SessionDep, ctx: CtxDep, user: PatientPage, test_id: TestPath
) -> Response:
    try:
        context = _test_context(session, ctx, user, test_id)
    except DomainError as exc:
        return error_page(request, _plain(exc), user=user, status_code=exc.status_code)
    if request.headers.get("HX-Request"):
        # The polling fragment: only the state, re-sent until it changes.
        return render(request, "patients/_state.html", context, user=user)
    return render(request, "patients/test.html", context, user=user)


@router.post("/patient/tests/{test_id}/photo")
def upload_photo(
    request: Request,
    session: SessionDep,
    ctx: CtxDep,
    user: PatientPage,
    test_id: TestPath,
    photo: Annotated[UploadFile | None, File()] = None,
    upload_key: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    try:
        with session.begin_nested():  # a refusal undoes what the action wrote
            if photo is None or not photo.filename:
                raise DomainError("photo: take or choose a photo of your test first")
            data = read_limited(photo, ctx.settings.max_upload_bytes, "photo")
            readings.upload_photo(
                session,
                ctx,
                user,
                test_id,
                data,
                idempotency_key=upload_key if len(upload_key) >= 8 else None,
                taken_at=None,
            )
    except DomainError as exc:
        try:
            context = _test_context(session, ctx, user, test_id)
        except DomainError as gone:
            return error_page(request, _plain(gone), user=user, status_code=gone.status_code)
        context["error"] = words.upload_error(exc)
        return render(
            request, "patients/test.html", context, user=user, status_code=exc.status_code
        )
    return RedirectResponse(f"/patient/tests/{encode(TEST, test_id)}", status_code=303)
