"""The audit log is hash-chained, append-only on PostgreSQL, verifiable, and sees refusals.

Runs on SQLite, and on PostgreSQL when ``VIGIL_TEST_DATABASE_URL`` names one (the
grants test needs PostgreSQL and is skipped otherwise).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, make_url, select, text
from sqlalchemy.exc import ProgrammingError
from stack_services import (
    create_database,
    drop_database,
    own_database_url,
    postgres_server,
    reachable,
)

from api.audit.chain import verify
from api.audit.service import record
from api.audit.tables import AuditEntry
from api.db.migrate import alembic_config
from api.db.partitions import add_months
from api.db.session import Database, make_engine
from vigil.cli import main

WRITERS, EACH = 6, 15


@pytest.fixture
def own_engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated database of this test's own, committed to for real (not rolled back)."""
    server = os.environ.get("VIGIL_TEST_DATABASE_URL")
    url = own_database_url(server, "audit") if server else f"sqlite:///{tmp_path / 'a.db'}"
    if server:
        create_database(url)
    command.upgrade(alembic_config(url), "head")
    engine = make_engine(url)
    yield engine
    engine.dispose()
    if server:
        drop_database(url)


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def test_tampering_is_found_and_named(session: Any, world: Any) -> None:
    entries = [record(session, world.operator, "test", "thing", n, n=n) for n in range(5)]
    session.flush()
    checked, broken = verify(session)
    assert broken is None
    assert checked >= 5

    # A changed detail (the kind of edit that hides what someone did).
    session.execute(
        text("UPDATE audit_log SET detail = :d WHERE id = :id"),
        {"d": '{"n": 99}', "id": entries[2].id},
    )
    session.expire_all()
    _checked, broken = verify(session)
    assert broken is not None
    assert broken.entry_id == entries[2].id
    assert "changed" in broken.reason


def test_a_removed_entry_is_found_at_the_next_one(session: Any, world: Any) -> None:
    entries = [record(session, world.operator, "test", "thing", n) for n in range(4)]
    session.flush()
    session.execute(text("DELETE FROM audit_log WHERE id = :id"), {"id": entries[1].id})
    session.expire_all()
    _checked, broken = verify(session)
    assert broken is not None
    assert broken.entry_id == entries[2].id
    assert "link" in broken.reason


def test_concurrent_writers_do_not_fork_the_chain(own_engine: Engine) -> None:
    database = Database(own_engine)
    errors: list[BaseException] = []
    start = threading.Barrier(WRITERS)

    def write(writer: int) -> None:
        try:
            start.wait()
            for n in range(EACH):
                with database.transaction() as session:
                    record(session, None, "test", "writer", writer, n=n)
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with database.session() as session:
        checked, broken = verify(session)
        links = session.scalar(select(func.count(func.distinct(AuditEntry.prev_hash))))
    assert broken is None
    assert checked == WRITERS * EACH
    assert links == checked  # no two entries follow the same one


def test_vigil_audit_verify_exits_non_zero_naming_the_entry(
    own_engine: Engine, capsys: Any
) -> None:
    database = Database(own_engine)
    with database.transaction() as session:
        entries = [record(session, None, "test", "thing", n) for n in range(3)]
        session.flush()
        ids = [entry.id for entry in entries]
    url = url_of(own_engine)
    assert main(["audit", "verify", "--database-url", url]) == 0
    assert "3 entries" in capsys.readouterr().out

    with own_engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET action = 'nothing' WHERE id = :id"), {"id": ids[1]})
    assert main(["audit", "verify", "--database-url", url]) == 1
    assert f"entry {ids[1]} " in capsys.readouterr().err


def test_the_application_role_may_not_rewrite_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = postgres_server()
    target = make_url(server)
    if not reachable(target.host or "127.0.0.1", target.port or 5432):
        pytest.skip("grants exist on PostgreSQL only, and it is not reachable")
    url = own_database_url(server, "grants")
    role = f"vigil_app_{os.getpid()}"
    create_database(url)
    engine = make_engine(url)
    try:
        command.upgrade(alembic_config(url), "0005_model_registry")
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
            conn.exec_driver_sql(f"CREATE ROLE {role}")
            # As an owner would: the server's role gets everything on the tables first.
            conn.exec_driver_sql(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")
            conn.exec_driver_sql(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}")
            # ... and on tables created later (such as the log's monthly partitions).
            conn.exec_driver_sql(f"ALTER DEFAULT PRIVILEGES GRANT ALL ON TABLES TO {role}")
        monkeypatch.setenv("DATABASE_APP_ROLE", role)
        command.upgrade(alembic_config(url), "head")
        monkeypatch.delenv("DATABASE_APP_ROLE")
        with engine.connect() as conn:
            conn.exec_driver_sql(f"SET ROLE {role}")
            with Database(conn).session() as session:
                record(session, None, "test", "thing", 1)
                session.flush()  # appending is allowed
            # It may add months (through the migration's function) but, as on the parent,
            # may not rewrite any month's partition directly.
            month = datetime.now(UTC).strftime("audit_log_y%Ym%m")
            assert add_months(conn, date(2031, 1, 1), months=0) == ["audit_log_y2031m01"]
            for table in ("audit_log", month, "audit_log_y2031m01"):
                conn.exec_driver_sql(f"SELECT count(*) FROM {table}")  # reading is allowed
                for statement in (f"UPDATE {table} SET action = 'x'", f"DELETE FROM {table}"):
                    with (
                        pytest.raises(ProgrammingError, match="permission denied"),
                        conn.begin_nested(),
                    ):
                        conn.exec_driver_sql(statement)
            conn.rollback()
    finally:
        engine.dispose()
        drop_database(url)
        admin = make_engine(make_url(server).set(database="postgres").render_as_string(False))
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
        admin.dispose()


def test_refused_requests_and_failed_log_ins_are_logged_without_personal_data(
    client: TestClient, world: Any
) -> None:
    session = world.session

    def refusals() -> list[AuditEntry]:
        session.expire_all()
        query = select(AuditEntry).where(AuditEntry.object_type == "request")
        return list(session.scalars(query.order_by(AuditEntry.id)))

    before = len(refusals())
    assert client.get("/api/users").status_code == 401
    wrong = {"username": "patient0", "password": "not the password at all"}
    for _ in range(3):
        assert client.post("/api/auth/token", data=wrong).status_code == 401
    patient = world.headers(world.patient_a)
    assert client.get("/api/users", headers=patient).status_code == 403

    new = refusals()[before:]
    assert [(e.action, e.object_id, e.detail["status"]) for e in new] == [
        ("refused", "/api/users", 401),
        ("log_in_failed", "/api/auth/token", 401),  # three tries, one entry per minute
        ("refused", "/api/users", 403),
    ]
    assert all(e.actor_id is None and len(e.detail["address"]) == 16 for e in new)
    assert "patient0" not in str([(e.object_id, e.detail) for e in new])
    assert verify(session)[1] is None


def test_the_migration_chains_the_entries_already_there(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "0005_model_registry")
    engine = make_engine(url)
    with engine.begin() as conn:
        for n in range(3):
            conn.execute(
                text(
                    "INSERT INTO audit_log (at, actor_role, action, object_type, object_id, "
                    "detail) VALUES (:at, 'system', 'old', 'thing', :n, :detail)"
                ),
                {"at": f"2026-01-0{n + 1} 10:00:00.123456", "n": str(n), "detail": '{"n": 1}'},
            )
    command.upgrade(alembic_config(url), "head")
    with Database(engine).session() as session:
        checked, broken = verify(session)
        record(session, None, "new", "thing", 4)
        session.commit()
        assert verify(session) == (4, None)
    engine.dispose()
    assert (checked, broken) == (3, None)


def test_entries_of_one_transaction_ask_for_the_tail_once(session: Any, world: Any) -> None:
    from sqlalchemy import event

    tails: list[str] = []

    def count(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        if "FROM audit_log ORDER BY audit_log.id DESC" in " ".join(statement.split()):
            tails.append(statement)

    bind = session.get_bind()
    event.listen(bind, "before_cursor_execute", count)
    try:
        entries = [record(session, world.operator, "test", "thing", n) for n in range(3)]
        session.flush()
    finally:
        event.remove(bind, "before_cursor_execute", count)
    assert len(tails) == 1  # the first entry asks; the others follow the one before
    assert [e.prev_hash for e in entries[1:]] == [e.entry_hash for e in entries[:-1]]
    assert verify(session)[1] is None


def test_an_entry_rolled_back_with_its_savepoint_is_not_the_tail(session: Any, world: Any) -> None:
    first = record(session, world.operator, "test", "thing", 1)
    with session.begin_nested() as savepoint:
        record(session, world.operator, "test", "thing", 2)
        session.flush()
        savepoint.rollback()
    third = record(session, world.operator, "test", "thing", 3)
    session.flush()
    assert third.prev_hash == first.entry_hash
    assert verify(session)[1] is None
