"""Log-in, log-out and ``/``: the pages every role shares."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from starlette.responses import RedirectResponse, Response

from api.accounts import service as accounts
from api.deps import CtxDep, SessionDep
from api.errors import UnauthorizedError
from api.security.ratelimit import RateLimitedError
from review_ui.session import (
    SESSION_COOKIE,
    CurrentPageUser,
    OptionalPageUser,
    clear_session_cookie,
    home_for,
    page_router,
    safe_next,
    set_session_cookie,
)
from review_ui.templating import render

router = page_router(tags=["pages"])


@router.get("/")
def root(user: OptionalPageUser) -> Response:
    return RedirectResponse(home_for(user) if user else "/login", status_code=303)


@router.get("/login")
def login_page(request: Request, user: OptionalPageUser, next: str | None = None) -> Response:
    target = safe_next(next)
    if user is not None:
        return RedirectResponse(target or home_for(user), status_code=303)
    return render(request, "login.html", {"next": target or "", "error": None})


@router.post("/login")
def log_in(
    request: Request,
    session: SessionDep,
    ctx: CtxDep,
    username: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    target = safe_next(next)
    try:
        if not username or not password:
            raise UnauthorizedError("enter your user name and password")
        ctx.throttle.check_address(request.client.host if request.client else None)
        signed_in = accounts.sign_in(session, ctx, username, password, via="page")
    except UnauthorizedError as exc:
        return _refused(request, target, username, str(exc.detail).capitalize(), 401)
    except RateLimitedError as exc:
        response = _refused(request, target, username, exc.message, 429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    response = RedirectResponse(target or home_for(signed_in.principal), status_code=303)
    set_session_cookie(request, response, signed_in.token, ctx.settings.token_ttl_minutes * 60)
    return response


def _refused(
    request: Request, target: str | None, username: str, error: str, status: int
) -> Response:
    context = {"next": target or "", "error": error, "username": username}
    return render(request, "login.html", context, status_code=status)


@router.get("/account")
def account_page(request: Request, user: CurrentPageUser) -> Response:
    return render(request, "account.html", {"role": user.role.replace("_", " ")}, user=user)


@router.post("/logout")
def log_out(request: Request, session: SessionDep, ctx: CtxDep) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        accounts.revoke_token(session, ctx, token)
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookie(request, response)
    return response
