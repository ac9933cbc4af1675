"""The whole server: the API plus the web pages and their static files.

``review_ui`` builds on ``api`` (never the other way): ``create_app`` makes
the API app and adds the page routers and ``/static``. Each page package
(``review_ui/<name>/routes.py``) exposes a ``router`` made with
``review_ui.session.page_router()``; add its module to ``PAGE_MODULES`` (a module
that fails to import fails ``create_app``).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Awaitable
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse, Response

from api.app import API_PREFIX
from api.app import create_app as create_api_app
from api.config import Settings
from api.context import AppContext
from api.errors import DomainError, NotFoundError
from review_ui.i18n import LocaleMiddleware, _
from review_ui.session import CsrfRefused, LoginRequired, PageForbidden, login_url
from review_ui.templating import STATIC, render

# Page packages, in the order their routes are matched. One that cannot be imported
# stops the server: a missing page must never pass silently.
PAGE_MODULES = (
    "review_ui.auth",
    "review_ui.i18n",
    "review_ui.clinicians.routes",
    "review_ui.patients.routes",
    "review_ui.patients.result_link",
    "review_ui.cdc.routes",
    "review_ui.manufacturers.routes",
    "review_ui.operators.routes",
    "review_ui.operators.deliveries",
    "review_ui.science.routes",
)


def create_app(
    settings: Settings | None = None,
    *,
    context: AppContext | None = None,
    review_grace_seconds: float = 15.0,
) -> FastAPI:
    """The API of ``api.app.create_app(settings, context=context)`` with the pages mounted.

    ``review_grace_seconds``: how long a clinician may undo a decision made on
    the review page before it takes effect.
    """
    app = create_api_app(settings, context=context)
    app.state.review_grace_seconds = review_grace_seconds
    for module in PAGE_MODULES:
        app.include_router(importlib.import_module(module).router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(LocaleMiddleware)
    _install_page_handlers(app)
    return app


def _is_page(request: Request) -> bool:
    path = request.url.path
    return not (path.startswith(f"{API_PREFIX}/") or path.startswith("/static/"))


def _not_found_page(request: Request) -> Response:
    return render(
        request,
        "error.html",
        {
            "title": "Page not found",
            "message": "There is nothing at this address: it may be mistyped or out of date, "
            "or the record is not one your account can see.",
        },
        status_code=404,
    )


async def _answer(response: Response | Awaitable[Response]) -> Response:
    return await response if inspect.isawaitable(response) else response


def _install_page_handlers(app: FastAPI) -> None:
    # A page address with a malformed or unknown id (or no page at all) answers a page, not
    # the API's problem document; the API's own paths keep theirs.
    api_not_found = app.exception_handlers[DomainError]
    api_http = app.exception_handlers[StarletteHTTPException]

    @app.exception_handler(NotFoundError)
    async def _missing(request: Request, exc: NotFoundError) -> Response:
        if _is_page(request):
            return _not_found_page(request)
        return await _answer(api_not_found(request, exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404 and _is_page(request):
            return _not_found_page(request)
        return await _answer(api_http(request, exc))

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        target = login_url(exc.next_url)
        if request.headers.get("HX-Request"):
            # htmx follows this header with a full page load instead of swapping a fragment.
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(PageForbidden)
    async def _forbidden(request: Request, exc: PageForbidden) -> Response:
        return render(
            request,
            "error.html",
            {
                "title": _("Not for this account"),
                "message": exc.message,
                "login_again": login_url(quote(request.url.path, safe="/")),
            },
            status_code=403,
        )

    @app.exception_handler(CsrfRefused)
    async def _csrf(request: Request, _exc: CsrfRefused) -> Response:
        return render(
            request,
            "error.html",
            {
                "title": _("Form expired"),
                "message": _(
                    "This form was not sent from this site or has expired. "
                    "Go back, reload the page and try again."
                ),
            },
            status_code=403,
        )
