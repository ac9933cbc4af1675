"""A data scientist and the API (its model registry routes included)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

import api.accounts.service as accounts_service
from api.accounts.tables import Role, User
from api.app import create_app
from api.context import AppContext

SHIPPED = Path(__file__).resolve().parents[3] / "models" / "band-classifier@1.onnx"


@pytest.fixture
def scientist(session: Session) -> User:
    return accounts_service.create_user(
        session,
        username="ds",
        password="correct horse battery",
        role=Role.data_scientist,
        display_name="Data Scientist",
    )


@pytest.fixture
def shipped() -> bytes:
    return SHIPPED.read_bytes()


@pytest.fixture
def registry_client(ctx: AppContext) -> Iterator[TestClient]:
    app = create_app(context=ctx)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def bearer(session: Session, ctx: AppContext) -> Callable[[User], dict[str, str]]:
    """Log-in headers for a user."""

    def headers(user: User) -> dict[str, str]:
        token, _ = accounts_service.issue_token(session, ctx, user)
        session.commit()
        return {"Authorization": f"Bearer {token}"}

    return headers
