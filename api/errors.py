"""Domain errors raised by services and turned into ``{"detail": ...}`` responses."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError


class DomainError(Exception):
    """A refusal the caller can act on; ``status_code`` is the HTTP status."""

    status_code = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class UnauthorizedError(DomainError):
    status_code = 401


class NotFoundError(DomainError):
    status_code = 404


class ForbiddenError(DomainError):
    """The caller's role or scope does not allow this."""

    status_code = 403


class ConflictError(DomainError):
    """The request clashes with the current state (reused code, duplicate, wrong step)."""

    status_code = 409


class InvalidError(DomainError):
    """Well-formed but unacceptable input (bad kit file, bad ID number)."""

    status_code = 422


class TooLargeError(DomainError):
    status_code = 413


class UnsupportedError(DomainError):
    status_code = 415


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_request: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)

    @app.exception_handler(IntegrityError)
    async def _integrity(_request: Request, _exc: IntegrityError) -> JSONResponse:
        # Services check uniqueness first; this catches the race between two requests.
        return JSONResponse(
            {"detail": "conflicts with an existing record (it may have just been created)"},
            status_code=409,
        )
