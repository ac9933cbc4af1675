"""Work queued with ``after_commit`` runs once the transaction commits: not when a savepoint
inside it is released (a page's form runs in one), and never after a rollback."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from api.db.hooks import after_commit
from api.db.session import Database


@pytest.fixture
def database(tmp_path: Path) -> Database:
    return Database.from_url(f"sqlite:///{tmp_path / 'hooks.db'}")


def test_runs_after_the_commit_not_when_a_savepoint_is_released(database: Database) -> None:
    ran: list[str] = []
    with database.transaction() as session:
        with session.begin_nested():
            session.execute(text("select 1"))
            after_commit(session, lambda: ran.append("queued"))
        assert ran == []  # the savepoint is released, the transaction is still open
    assert ran == ["queued"]


def test_never_runs_after_a_rollback(database: Database) -> None:
    ran: list[str] = []

    def failing_request() -> None:
        with database.transaction() as session:
            session.execute(text("select 1"))
            after_commit(session, lambda: ran.append("queued"))
            raise RuntimeError("the request failed")

    with pytest.raises(RuntimeError):
        failing_request()
    with database.transaction() as session:
        session.execute(text("select 1"))
    assert ran == []
