"""The patient's phone pages: register, scan the kit, share where, photo, result."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import File, Form, Request, UploadFile
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from api.accounts import service as accounts
from api.accounts.schemas import Principal
from api.audit.service import record
from api.context import AppContext
from api.deps import CtxDep, SessionDep
from api.errors import DomainError, InvalidError
from api.patients import service as patients
from api.patients import signup
from api.patients.schemas import Claim, PatientContact, PatientRegister
from api.public_ids import TEST, TestPath, encode
from api.readings import service as readings
from api.security.ratelimit import RateLimitedError
from api.selftests import lifecycle
from api.units.service import canonical_code, interpretation
from api.uploads import read_limited
from review_ui.i18n import _
from review_ui.patients import words
from review_ui.session import (
    OptionalPageUser,
    PatientPage,
    login_url,
    page_router,
    set_session_cookie,
)
from review_ui.templating import error_page, render

router = page_router(tags=["pages"])

ACTIVE = lifecycle.UNFINISHED
# The page lets a patient say they applied the sample up to an hour before.
SAMPLE_MINUTES_AGO_MAX = 60.0


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


def _plain(exc: DomainError) -> str:
    """A service refusal without its field prefix, as a sentence."""
    text = exc.detail.split(": ", 1)[-1] if ": " in exc.detail[:24] else exc.detail
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


# Registering --------------------------------------------------------------------


def _scan_url(code: str) -> str:
    return "/patient/scan" + (f"?{urlencode({'code': code})}" if code else "")


def _register_again(
    request: Request, values: dict[str, str], errors: dict[str, str], status: int
) -> Response:
    """The form again, each mistake beside its field, what was typed kept (not the password)."""
    summary = "; ".join(f"{words.field_name(f)}: {m}" for f, m in errors.items())
    code = values["code"]
    context = _register_context(code, error=summary, errors=errors, values=values)
    return render(request, "patients/register.html", context, status_code=status)


def _register_context(code: str, **extra: Any) -> dict[str, Any]:
    return {
        "error": None,
        "errors": {},
        "values": {},
        "code": code[:500],
        "words": words,
        "login_url": login_url(_scan_url(code) if code else "/patient"),
        # The language switch (and a reload) come back to the form with the code.
        "here": "/patient/register" + (f"?{urlencode({'code': code})}" if code else ""),
        **extra,
    }


@router.get("/patient/register")
def register_page(request: Request, user: OptionalPageUser, code: str = "") -> Response:
    if user is not None:
        return RedirectResponse(_scan_url(code) if code else "/patient", status_code=303)
    return render(request, "patients/register.html", _register_context(code))


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
    code: Annotated[str, Form(max_length=500)] = "",
    channel: Annotated[str, Form(max_length=10)] = "sms",
    email: Annotated[str, Form(max_length=254)] = "",
) -> Response:
    """The API's sign-up: the same next page whether or not the ID number or user name is
    registered (being registered says who is a suspected patient); the text message to
    the phone given carries the code for :func:`confirm_registration`, or what to do."""
    values = {
        "name": name,
        "national_id": national_id,
        "phone": phone,
        "username": username,
        "code": code,
        "channel": channel,
        "email": email,
    }
    own_login = bool(username.strip() or password)
    if not own_login:
        # A self-test needs no user name or password: the patient comes back with a kit's
        # code, their ID number and (for a new kit) the code texted to their phone. The
        # account gets a name nobody chooses and a password nobody knows.
        username, password = f"p-{secrets.token_hex(8)}", secrets.token_urlsafe(32)
    try:
        ctx.throttle.check_address(request.client.host if request.client else None)
        with session.begin_nested():  # a refusal undoes what the action wrote
            body = PatientRegister(
                name=name,
                national_id=national_id,
                phone=phone,
                username=username,
                password=password,
                channel=channel,
                email=email or None,
            )
            signup.sign_up(session, ctx, body)
    except ValidationError as exc:
        errors = {str(e["loc"][0]): words.validation_message(dict(e)) for e in exc.errors()}
        return _register_again(request, values, errors, 422)
    except RateLimitedError as exc:
        return _register_again(request, values, {"form": exc.message}, 429)
    except DomainError as exc:
        return _register_again(request, values, words.field_errors(exc.detail), exc.status_code)
    return _confirm_page(request, username.strip(), code.strip(), None, 200, own_login)


def _confirm_page(
    request: Request, username: str, code: str, error: str | None, status: int, own_name: bool
) -> Response:
    here = "/patient/register" + (f"?{urlencode({'code': code})}" if code else "")
    context = {
        "username": username,
        "own_name": own_name,  # else the name was made for the patient: not asked for
        "code": code,
        "error": error,
        "here": here,
    }
    return render(request, "patients/confirm.html", context, status_code=status)


@router.post("/patient/register/confirm")
def confirm_registration(
    request: Request,
    session: SessionDep,
    ctx: CtxDep,
    username: Annotated[str, Form(max_length=254)] = "",
    sms_code: Annotated[str, Form(max_length=20)] = "",
    code: Annotated[str, Form(max_length=500)] = "",
    own_name: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """The code texted at sign-up opens the account and logs the patient in."""
    chosen = own_name == "1"
    try:
        ctx.throttle.check_address(request.client.host if request.client else None)
        with session.begin_nested():
            _patient, user = signup.confirm_account(session, ctx, username, sms_code.strip())
    except RateLimitedError as exc:
        return _confirm_page(request, username, code, exc.message, 429, chosen)
    except DomainError as exc:
        refused = (
            _("This code is wrong, expired or used up. Check the text message, or register again.")
            if exc.detail.startswith("code:")
            else _plain(exc)
        )
        return _confirm_page(request, username, code, refused, exc.status_code, chosen)
    token, _expires = accounts.issue_token(session, ctx, user)
    record(session, user, "log_in", "user", user.id, via="register")
    # The kit's code, when the QR link brought the patient here, goes on to the scan.
    response = RedirectResponse(_scan_url(code.strip()), status_code=303)
    set_session_cookie(request, response, token, ctx.settings.token_ttl_minutes * 60)
    return response


@router.get("/u/{code}")
def unit_link(request: Request, user: OptionalPageUser, code: str) -> Response:
    """Where a kit's QR link leads a phone's camera app: start a test with this code.

    Someone logged in goes straight to the scan with the code filled in; anyone else
    chooses between registering (the code kept), logging in, or (for a test already
    started) seeing it with their ID number.
    """
    if user is not None:
        return RedirectResponse(_scan_url(code), status_code=303)
    return render(request, "patients/start.html", _start_context(code))


def _start_context(code: str, **extra: Any) -> dict[str, Any]:
    return {
        "code": code[:500],
        "register_url": "/patient/register?" + urlencode({"code": code}),
        "login_url": login_url(_scan_url(code)),
        "error": None,
        "errors": {},
        "national_id": "",
        "one_time_code_needed": False,
        # After a refused log-in (a POST) the language switch comes back to this page.
        "here": f"/u/{quote(code[:500], safe='')}",
        **extra,
    }


@router.post("/patient/code-login")
def code_login(
    request: Request,
    session: SessionDep,
    ctx: CtxDep,
    code: Annotated[str, Form(max_length=500)] = "",
    national_id: Annotated[str, Form(max_length=40)] = "",
    one_time_code: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """A patient back at a test they started: the kit's code and their ID number."""
    try:
        if not national_id.strip():
            raise InvalidError("national_id: " + _("type your national ID number"))
        ctx.throttle.check_address(request.client.host if request.client else None)
        token, _expires, user = patients.log_in_by_code_token(
            session, ctx, code, national_id, one_time_code or None
        )
    except RateLimitedError as exc:
        context = _start_context(code, error=exc.message, national_id=national_id)
        return render(request, "patients/start.html", context, status_code=429)
    except DomainError as exc:
        field = "one_time_code" if exc.code == "one_time_code_required" else "national_id"
        context = _start_context(
            code,
            error=words.code_login_error(exc),
            errors={field: words.code_login_error(exc)},
            national_id=national_id,
            one_time_code_needed=exc.code == "one_time_code_required" or bool(one_time_code),
        )
        return render(request, "patients/start.html", context, status_code=exc.status_code)
    # A test started with this code already: the list; a new kit: its scan, code filled in.
    started = any(
        t.code == canonical_code(code) for t in patients.own_tests(session, user, limit=50)
    )
    response = RedirectResponse("/patient" if started else _scan_url(code), status_code=303)
    set_session_cookie(request, response, token, ctx.settings.token_ttl_minutes * 60)
    return response


# How the patient is told -------------------------------------------------------------


@router.get("/patient/account")
def account_page(request: Request, session: SessionDep, ctx: CtxDep, user: PatientPage) -> Response:
    contact = patients.contact_of(ctx, patients.patient_of(session, user))
    values = {"channel": contact.channel, "email": contact.email or ""}
    context = {"values": values, "errors": {}, "error": None, "saved": False, "words": words}
    return render(request, "patients/account.html", context, user=user)


@router.post("/patient/account")
def save_account(
    request: Request,
    session: SessionDep,
    ctx: CtxDep,
    user: PatientPage,
    channel: Annotated[str, Form(max_length=10)] = "sms",
    email: Annotated[str, Form(max_length=254)] = "",
) -> Response:
    """The patient changes how they are told that a result is ready."""
    values = {"channel": channel, "email": email}
    errors: dict[str, str] = {}
    try:
        with session.begin_nested():
            body = PatientContact(channel=channel, email=email or None)
            patients.set_contact(session, ctx, user, body)
    except ValidationError as exc:
        errors = {str(e["loc"][0]): words.validation_message(dict(e)) for e in exc.errors()}
    except DomainError as exc:
        errors = words.field_errors(exc.detail)
    context = {
        "values": values,
        "errors": errors,
        "error": "; ".join(f"{words.field_name(f)}: {m}" for f, m in errors.items()) or None,
        "saved": not errors,
        "words": words,
        "here": "/patient/account",
    }
    status = 422 if errors else 200
    return render(request, "patients/account.html", context, user=user, status_code=status)


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
    context = {
        "error": None,
        "field": None,
        "code": code,
        "districts": _districts(ctx),
        "region": "",
        "latitude": "",
        "longitude": "",
    }
    return render(request, "patients/scan.html", context, user=user)


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
    def again(error: str, status: int, field: str = "code") -> Response:
        # What the patient gave is kept, the shared location too, the mistake by its field.
        context = {
            "error": error,
            "field": field,
            "code": code,
            "districts": _districts(ctx),
            "region": region,
            "latitude": latitude,
            "longitude": longitude,
            "here": _scan_url(code.strip()),
        }
        return render(request, "patients/scan.html", context, user=user, status_code=status)

    if not code.strip():
        return again(_("Scan the code on your test, or type the short code printed under it."), 422)
    try:
        lat, lon = float(latitude), float(longitude)
    except ValueError:
        if region not in ctx.regions:
            message = _("Share your location, or choose where you are from the list.")
            return again(message, 422, "region")
        # No location from the phone: use a point inside the district the patient chose.
        point = ctx.regions.region(region).geometry.representative_point()  # type: ignore[union-attr]
        lat, lon = point.y, point.x
    try:
        with session.begin_nested():  # a refusal undoes what the action wrote
            test = patients.claim(
                session, ctx, user, Claim(code=code.strip(), latitude=lat, longitude=lon)
            )
    except ValidationError:
        message = _("That location is not valid. Choose where you are from the list.")
        return again(message, 422, "region")
    except DomainError as exc:
        field = "region" if "region" in exc.detail.lower() else "code"
        return again(words.claim_error(exc), exc.status_code, field)
    return RedirectResponse(f"/patient/tests/{encode(TEST, test.id)}", status_code=303)


# One test: instructions, timer, photo, result -------------------------------------------


def _test_context(
    session: Session, ctx: AppContext, user: Principal, test_id: int
) -> dict[str, Any]:
    view, kit = patients.own_test_and_kit(session, user, test_id)
    advice = words.RegionAdvice.of(ctx.regions, view.region_code)
    channel = patients.patient_of(session, user).notify_channel
    return {
        "test": view,
        "rules": interpretation(kit).rules,
        "steps": words.steps(kit),
        "result": words.result_words(view.result, kit, advice) if view.result else None,
        "advice": advice,
        "channel_name": words.channel_name(channel),
        "upload_key": secrets.token_urlsafe(16),
        "words": words,
    }


def _test_again(
    request: Request,
    session: Session,
    ctx: AppContext,
    user: Principal,
    test_id: int,
    exc: DomainError,
) -> Response:
    """The test page again with what was refused, in words the patient can act on."""
    try:
        context = _test_context(session, ctx, user, test_id)
    except DomainError as gone:
        return error_page(request, _plain(gone), user=user, status_code=gone.status_code)
    context["error"] = words.upload_error(exc)
    context["here"] = f"/patient/tests/{encode(TEST, test_id)}"
    context["wait_minutes"] = getattr(exc, "wait_minutes", None)
    return render(request, "patients/test.html", context, user=user, status_code=exc.status_code)


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
        return _test_again(request, session, ctx, user, test_id, exc)
    return RedirectResponse(f"/patient/tests/{encode(TEST, test_id)}", status_code=303)


@router.post("/patient/tests/{test_id}/sample-applied")
def sample_applied(
    request: Request,
    session: SessionDep,
    ctx: CtxDep,
    user: PatientPage,
    test_id: TestPath,
    minutes_ago: Annotated[str, Form(max_length=10)] = "0",
) -> Response:
    """The patient applied the sample (now, or some minutes ago): the timer starts."""
    try:
        with session.begin_nested():  # a refusal undoes what the action wrote
            try:
                ago = float(minutes_ago or 0)
            except ValueError:
                raise InvalidError("minutes_ago: give the minutes as a number") from None
            if not 0 <= ago <= SAMPLE_MINUTES_AGO_MAX:
                raise InvalidError(
                    f"minutes_ago: give a number from 0 to {SAMPLE_MINUTES_AGO_MAX:g}"
                )
            patients.sample_applied(
                session, user, test_id, datetime.now(UTC) - timedelta(minutes=ago)
            )
    except DomainError as exc:
        return _test_again(request, session, ctx, user, test_id, exc)
    return RedirectResponse(f"/patient/tests/{encode(TEST, test_id)}#timer", status_code=303)
