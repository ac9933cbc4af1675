"""Domain errors, and every error answer as an RFC 9457 problem document.

Services raise ``DomainError`` subclasses; the handlers here turn them, FastAPI's own
validation errors and Starlette's HTTP errors (401 from the log-in check, 404 for an
unknown path, 405) into ``application/problem+json``: ``type``, ``title``, ``status``,
``detail``, a machine-readable ``code`` and, for validation, ``errors`` with the field
path of each problem. ``document_errors`` puts the same shape into the OpenAPI schema.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from types import MappingProxyType
from typing import Any

from fastapi import FastAPI, Request, params
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.security.ratelimit import RateLimitedError, StoreUnavailableError

PROBLEM_JSON = "application/problem+json"

log = logging.getLogger(__name__)


class DomainError(Exception):
    """A refusal the caller can act on; ``status_code`` is the HTTP status, ``code`` its name."""

    status_code = 400
    code = "bad_request"
    # Extension members of the problem document (RFC 9457 section 3.2) and headers, for
    # a refusal that tells the caller more (e.g. how long to wait).
    extensions: Mapping[str, Any] = MappingProxyType({})
    headers: Mapping[str, str] = MappingProxyType({})

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class UnauthorizedError(DomainError):
    status_code = 401
    code = "unauthorized"


class NotFoundError(DomainError):
    status_code = 404
    code = "not_found"


class ForbiddenError(DomainError):
    """The caller's role or scope does not allow this."""

    status_code = 403
    code = "forbidden"


class ConflictError(DomainError):
    """The request clashes with the current state (reused code, duplicate, wrong step)."""

    status_code = 409
    code = "conflict"


class InvalidError(DomainError):
    """Well-formed but unacceptable input (bad kit file, bad ID number)."""

    status_code = 422
    code = "invalid"


class TooLargeError(DomainError):
    status_code = 413
    code = "too_large"


class UnavailableError(DomainError):
    """A dependency (database, broker) is down; the client should retry later."""

    status_code = 503
    code = "unavailable"
    retry_after = 30


class UnsupportedError(DomainError):
    status_code = 415
    code = "unsupported_media_type"


# The problem document ------------------------------------------------------------


class FieldProblem(BaseModel):
    field: str = Field(description="where: the path into the request, e.g. body.latitude")
    message: str


class Problem(BaseModel):
    """An error answer (RFC 9457)."""

    type: str = Field(description="a URI naming the kind of problem: urn:vigil:problem:<code>")
    title: str = Field(description="the HTTP status in words")
    status: int
    detail: str = Field(description="what went wrong, for a person")
    code: str = Field(description="what went wrong, for a program (stable)")
    errors: list[FieldProblem] | None = Field(
        default=None, description="validation only: one entry per field at fault"
    )


# HTTP statuses Starlette raises itself, by the code a client can test for.
_HTTP_CODES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
}


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    errors: list[FieldProblem] | None = None,
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> JSONResponse:
    body = Problem(
        type=f"urn:vigil:problem:{code}",
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        code=code,
        errors=errors,
    )
    return JSONResponse(
        {**(extensions or {}), **body.model_dump(exclude_none=True)},
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=dict(headers) if headers else None,
    )


def _field_path(location: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in location)


INTERNAL_DETAIL = "the server failed to answer this request; please try again later"


def internal_error() -> JSONResponse:
    """The answer to a failure no handler expected: nothing of what failed is told."""
    return problem_response(500, "internal", INTERNAL_DETAIL)


def _where_it_failed(exc: BaseException) -> str:
    """The types and stack frames of ``exc`` and its causes, without any message.

    Messages are left out because they can hold data: a database error's text quotes
    the statement's key values ("Key (username)=(...) already exists"), a ``ValueError``
    the value it refused. The frames (file, line, source line) say where to look.
    """
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        kind = type(current)
        parts.append(f"{kind.__module__}.{kind.__qualname__}")
        parts.extend(traceback.format_tb(current.__traceback__))
        current = current.__cause__ or current.__context__
    return "".join(part if part.endswith("\n") else part + "\n" for part in parts).rstrip()


class InternalErrors:
    """Answer an exception no handler took as a 500 problem document, and log it once.

    Starlette's own last resort (``ServerErrorMiddleware``) answers plain text and raises
    the exception again for the server to log, message and all; this catches it first,
    inside the security-header middleware so the answer carries those headers too.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            route = getattr(scope.get("route"), "path", "(no route)")
            log.error(
                "unhandled error answering %s %s: %s",
                scope.get("method"),
                route,
                _where_it_failed(exc),
            )
            if started:
                raise  # part of an answer is sent: only the server can cut it off
            await internal_error()(scope, receive, send)


def install_handlers(app: FastAPI) -> None:
    app.add_middleware(InternalErrors)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, _exc: Exception) -> JSONResponse:
        # Only for a failure in a middleware outside ``InternalErrors``: Starlette raises
        # it again after this answer, and the server logs it.
        return internal_error()

    @app.exception_handler(DomainError)
    async def _domain(_request: Request, exc: DomainError) -> JSONResponse:
        headers = dict(exc.headers)
        if isinstance(exc, UnavailableError):
            headers["Retry-After"] = str(exc.retry_after)
        return problem_response(
            exc.status_code, exc.code, exc.detail, headers=headers, extensions=exc.extensions
        )

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def _database_down(_request: Request, exc: DBAPIError) -> JSONResponse:
        # The database went away or refuses connections: say so, and when to try again,
        # rather than a bare 500. (What failed goes to the log without its parameters.)
        log.warning("database unavailable: %s", type(exc.orig).__name__)
        detail = "the database is unavailable; please try again shortly"
        headers = {"Retry-After": str(UnavailableError.retry_after)}
        return problem_response(503, "unavailable", detail, headers=headers)

    @app.exception_handler(PoolTimeoutError)
    async def _database_busy(_request: Request, _exc: PoolTimeoutError) -> JSONResponse:
        # Every connection of this process is in use for longer than the pool waits:
        # an overload, answered so that clients back off and retry.
        log.warning("database connections exhausted")
        detail = "the server is busy; please try again shortly"
        headers = {"Retry-After": str(UnavailableError.retry_after)}
        return problem_response(503, "busy", detail, headers=headers)

    @app.exception_handler(IntegrityError)
    async def _integrity(_request: Request, _exc: IntegrityError) -> JSONResponse:
        # Services check uniqueness first; this catches the race between two requests.
        detail = "conflicts with an existing record (it may have just been created)"
        return problem_response(409, "conflict", detail)

    @app.exception_handler(RateLimitedError)
    async def _rate_limited(_request: Request, exc: RateLimitedError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)}
        return problem_response(429, "rate_limited", exc.message, headers=headers)

    @app.exception_handler(StoreUnavailableError)
    async def _store_unavailable(_request: Request, exc: StoreUnavailableError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)}
        return problem_response(503, "unavailable", str(exc), headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            FieldProblem(field=_field_path(e.get("loc", ())), message=str(e.get("msg", "")))
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e.field}: {e.message}" for e in errors) or "invalid request"
        return problem_response(422, "validation_failed", detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        return problem_response(exc.status_code, code, detail, headers=exc.headers)


# OpenAPI ---------------------------------------------------------------------------

# What each status means on any route that can answer it.
_MEANING = {
    401: "not logged in, or the token is unknown, expired or revoked",
    403: "the caller's role may not do this",
    404: "no such resource, or not one the caller may see",
    409: "clashes with the current state (a duplicate, or a step the record is not ready for)",
    413: "an uploaded file is too large",
    415: "an uploaded file is not of a kind accepted here",
    422: "the request does not validate (see errors) or is refused as invalid",
    429: "too many attempts: wait for the seconds in Retry-After (a soft lock-out)",
    503: "a dependency (database, broker, rate-limit store) is unavailable; see Retry-After",
}


_LOCATION = {
    "description": "the URL of what was created (or, for a new secret, of its endpoint)",
    "schema": {"type": "string"},
}


def _statuses(route: APIRoute) -> set[int]:
    """The error statuses ``route`` can answer, from what it depends on and takes."""
    statuses: set[int] = set()
    flat = route.dependant
    stack = [flat]
    while stack:
        dependant = stack.pop()
        if dependant.path_params or dependant.query_params or dependant.body_params:
            statuses.add(422)
        if dependant.header_params or dependant.cookie_params:
            statuses.add(422)
        stack.extend(dependant.dependencies)
    names = _dependency_names(route)
    if names & {"current_user", "check", "stream_viewer"}:
        statuses |= {401, 403}
    if route.path_format.count("{"):
        statuses.add(404)
    if "login_throttle" in names:
        statuses |= {429, 503}
    if (route.methods or set()) & {"POST", "PUT", "PATCH", "DELETE"}:
        statuses.add(409)
    if any(isinstance(param.field_info, params.File) for param in route.dependant.body_params):
        statuses |= {413, 415}
    return statuses


def _dependency_names(route: APIRoute) -> set[str]:
    names: set[str] = set()
    stack = list(route.dependant.dependencies)
    while stack:
        dependant = stack.pop()
        call = dependant.call
        if call is not None:
            names.add(getattr(call, "__name__", ""))
        stack.extend(dependant.dependencies)
    return names


def document_errors(app: FastAPI, routes: Iterable[tuple[str, APIRoute]]) -> None:
    """Document every route's possible error statuses as problem documents in OpenAPI.

    ``routes``: (the prefix it is mounted under, the route), as defined on its router.
    """
    errors = {
        (method, prefix + route.path): _statuses(route)
        for prefix, route in routes
        for method in route.methods or ()
    }
    generate = app.openapi
    problem_ref = {"$ref": "#/components/schemas/Problem"}

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            for path, operations in schema.get("paths", {}).items():
                for method, operation in operations.items():
                    answers = operation.setdefault("responses", {})
                    if "201" in answers:
                        answers["201"].setdefault("headers", {})["Location"] = _LOCATION
                    for status in errors.get((method.upper(), path), set()):
                        answers[str(status)] = {
                            "description": _MEANING[status],
                            "content": {PROBLEM_JSON: {"schema": problem_ref}},
                        }
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                components.pop(name, None)
            problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(problem.pop("$defs", {}))
            components["Problem"] = problem
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
