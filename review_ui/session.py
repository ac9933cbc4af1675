"""Page sessions: the API's bearer token in a cookie, CSRF protection, who may see a page.

Logging in through the form issues the same token the API issues
(``api.accounts.service.issue_token``) and keeps it in an HttpOnly,
SameSite=Lax cookie, so pages and the JSON API share one session model
(revocation, expiry, audit). Forms and htmx requests carry a CSRF token bound
to that cookie (an HMAC keyed with ``SECRET_KEY``); before log-in it is bound
to a random pre-session cookie instead.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from api.accounts import service as accounts
from api.accounts.schemas import Principal, Role
from api.deps import CtxDep, SessionDep

SESSION_COOKIE = "vigil_session"
CSRF_COOKIE = "vigil_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# Where each role lands after log-in (and from ``/``).
HOME_BY_ROLE: dict[str, str] = {
    Role.clinician: "/review",
    Role.patient: "/patient",
    Role.cdc_officer: "/cdc",
    Role.manufacturer: "/manufacturer",
    Role.operator: "/operator",
    Role.data_scientist: "/docs",
}


class LoginRequired(Exception):  # noqa: N818  (a signal, not an error)
    """No valid session: the app's handler redirects to the log-in page."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class PageForbidden(Exception):  # noqa: N818
    """Logged in, but this page is not for this account's role."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CsrfRefused(Exception):  # noqa: N818
    """A form post without a valid CSRF token, or from another origin."""


def home_for(user: Principal) -> str:
    return HOME_BY_ROLE.get(user.role, "/")


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site (no open redirects), else ``None``."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target:
        return None
    return target


def _secret(request: Request) -> bytes:
    return (request.app.state.ctx.settings.secret_key or "").encode()


def _hmac(request: Request, message: str) -> str:
    return hmac.new(_secret(request), message.encode(), hashlib.sha256).hexdigest()


# Sessions ---------------------------------------------------------------


def page_user_optional(request: Request, session: SessionDep, ctx: CtxDep) -> Principal | None:
    """Who holds the session cookie, or ``None``."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    return accounts.principal_for_token(session, ctx, token)


OptionalPageUser = Annotated[Principal | None, Depends(page_user_optional)]


def current_page_user(request: Request, user: OptionalPageUser) -> Principal:
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    return user


CurrentPageUser = Annotated[Principal, Depends(current_page_user)]


def page_role(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency letting only ``roles`` see a page (others get a 403 page)."""
    allowed = frozenset(roles)

    def check(user: CurrentPageUser) -> Principal:
        if user.role not in allowed:
            names = " or ".join(sorted(r.value.replace("_", " ") for r in allowed))
            raise PageForbidden(f"This page is for the {names} accounts.")
        return user

    check.roles = allowed  # type: ignore[attr-defined]
    return check


ClinicianPage = Annotated[Principal, Depends(page_role(Role.clinician))]
PatientPage = Annotated[Principal, Depends(page_role(Role.patient))]
CdcPage = Annotated[Principal, Depends(page_role(Role.cdc_officer))]
ManufacturerPage = Annotated[Principal, Depends(page_role(Role.manufacturer))]
OperatorPage = Annotated[Principal, Depends(page_role(Role.operator))]


def set_session_cookie(request: Request, response: Response, token: str, max_age: int) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=_secure(request)
    )


def _secure(request: Request) -> bool:
    settings = request.app.state.ctx.settings
    return (
        settings.mode == "production"
        or request.url.scheme == "https"
        or str(settings.public_base_url).startswith("https://")
    )


# CSRF -------------------------------------------------------------------


def csrf_token(request: Request) -> str:
    """The token forms and htmx requests must send back with ``request``'s session."""
    session_token = request.cookies.get(SESSION_COOKIE)
    if session_token:
        return _hmac(request, "csrf|session|" + session_token)
    anon = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf_cookie", None)
    if not anon:
        anon = secrets.token_urlsafe(24)
        request.state.new_csrf_cookie = anon  # set on the response by ``attach_csrf_cookie``
    return _hmac(request, "csrf|anon|" + anon)


def attach_csrf_cookie(request: Request, response: Response) -> None:
    """Set the pre-session cookie a rendered form's token was bound to, if it is new."""
    anon = getattr(request.state, "new_csrf_cookie", None)
    if anon:
        response.set_cookie(
            CSRF_COOKIE, anon, path="/", httponly=True, samesite="lax", secure=_secure(request)
        )


def _expected_tokens(request: Request) -> list[str]:
    expected = []
    session_token = request.cookies.get(SESSION_COOKIE)
    if session_token:
        expected.append(_hmac(request, "csrf|session|" + session_token))
    anon = request.cookies.get(CSRF_COOKIE)
    if anon:
        expected.append(_hmac(request, "csrf|anon|" + anon))
    return expected


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return urlsplit(origin).netloc == host


async def csrf_protect(request: Request) -> None:
    """Refuse unsafe requests without the session's CSRF token (form field or header)."""
    if request.method not in UNSAFE_METHODS:
        return
    if not _same_origin(request):
        raise CsrfRefused
    sent: Any = request.headers.get(CSRF_HEADER)
    if not sent:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()  # cached by Starlette: Form() parameters still work
            sent = form.get(CSRF_FIELD)
    if not isinstance(sent, str) or not sent:
        raise CsrfRefused
    if not any(hmac.compare_digest(sent, token) for token in _expected_tokens(request)):
        raise CsrfRefused


def page_router(**kwargs: Any) -> APIRouter:
    """A router for pages: kept out of the OpenAPI page, every form post CSRF-checked."""
    dependencies = [Depends(csrf_protect), *kwargs.pop("dependencies", [])]
    kwargs.setdefault("include_in_schema", False)
    return APIRouter(dependencies=dependencies, **kwargs)


def login_url(next_url: str | None = None) -> str:
    return "/login" + (f"?next={quote(next_url, safe='/')}" if next_url else "")
