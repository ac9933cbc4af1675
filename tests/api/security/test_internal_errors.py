"""A failure no handler expected answers a 500 problem document and is logged once.

The routes here are added to a real app for the test: no route of Vigil's fails on
purpose, and the point is what the app does with whatever fails next.
"""

from __future__ import annotations

import logging

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from api.context import AppContext
from api.deps import SessionDep
from api.errors import PROBLEM_JSON

SECRET = "Amina Okafor 19870412"  # stands for personal data a failure may carry

router = APIRouter()


@router.get("/test-only/fails")
def fails() -> None:
    raise RuntimeError(f"could not handle {SECRET}")


@router.get("/test-only/fails-in-sql")
def fails_in_sql(session: SessionDep) -> None:
    # The driver refuses to bind a list: a database error none of the handlers takes,
    # whose text would quote the statement (and, unhidden, its parameters).
    session.execute(text("SELECT :name AS secret_column"), {"name": [SECRET]})


@pytest.fixture
def failing_client(ctx: AppContext) -> TestClient:
    app = create_app(context=ctx)
    app.include_router(router)
    return TestClient(app)


@pytest.mark.parametrize("path", ["/test-only/fails", "/test-only/fails-in-sql"])
def test_an_unexpected_failure_is_a_problem_document_logged_once(
    failing_client: TestClient, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    with caplog.at_level(logging.DEBUG):
        answer = failing_client.get(path)
    assert answer.status_code == 500
    assert answer.headers["content-type"] == PROBLEM_JSON
    problem = answer.json()
    assert problem["code"] == "internal"
    assert problem["type"] == "urn:vigil:problem:internal"
    for leak in (SECRET, "secret_column", "SELECT", "Traceback", "RuntimeError", ".py"):
        assert leak not in answer.text
    # The security headers are on this answer too.
    assert answer.headers["x-content-type-options"] == "nosniff"

    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    logged = errors[0].getMessage()
    assert path in logged  # the route, to find what failed
    assert "Error" in logged  # the exception's type
    assert ".py" in logged  # and its frames
    assert SECRET not in logged
    assert SECRET not in "".join(r.getMessage() for r in caplog.records)
