"""The audit log partitioned by month on PostgreSQL (migration 0019, ``api.db.partitions``).

Each test migrates a PostgreSQL database of its own on the server ``VIGIL_TEST_DATABASE_URL``
names, else on the production-stack tests' server (127.0.0.1:5432); skipped when that is
unreachable. On SQLite the migration changes nothing, which the other tests cover.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import Engine, inspect, make_url, text
from sqlalchemy.exc import DBAPIError
from stack_services import (
    create_database,
    drop_database,
    own_database_url,
    postgres_server,
    reachable,
)

import api.audit.service
import api.db.tables  # (the users table the log's foreign key names, for the ORM)
from api import worker
from api.app import create_app
from api.audit.chain import verify
from api.audit.queries import entries
from api.audit.service import record
from api.config import Settings, new_secrets
from api.context import AppContext
from api.db.migrate import alembic_config
from api.db.partitions import MONTHS_AHEAD, add_months, keep_ahead, months_ahead
from api.db.session import Database, make_engine
from vigil.cli import main

SERVER = postgres_server()
BEFORE = "0018_drop_photo_dhash_index"
# Entries written before the upgrade: three months, one of them twice, one a year back.
OLD_TIMES = [
    datetime(2025, 11, 30, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 9, 1, tzinfo=UTC),
    datetime(2026, 9, 17, 12, tzinfo=UTC),
    datetime(2026, 10, 5, tzinfo=UTC),
]


def _month(at: date) -> str:
    return f"audit_log_y{at.year}m{at.month:02d}"


def _months_from(first: date, count: int) -> list[str]:
    months = []
    year, month = first.year, first.month
    for _ in range(count):
        months.append(_month(date(year, month, 1)))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


@pytest.fixture
def url() -> Iterator[str]:
    server = make_url(SERVER)
    if not reachable(server.host or "127.0.0.1", server.port or 5432):
        pytest.skip(f"PostgreSQL not reachable at {server.host}:{server.port}")
    own = own_database_url(SERVER, "partitions")
    create_database(own)
    yield own
    drop_database(own)


def write_at(database: Database, times: list[datetime], monkeypatch: pytest.MonkeyPatch) -> None:
    """Chained entries written by the audit service as if at ``times``."""
    clock = iter(times)
    monkeypatch.setattr(api.audit.service, "utcnow", lambda: next(clock))
    with database.transaction() as session:
        for n in range(len(times)):
            record(session, None, "test", "thing", n, n=n)
    monkeypatch.undo()


@pytest.fixture
def old_log(url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """A database at 0018 with chained entries from several months, then upgraded."""
    command.upgrade(alembic_config(url), BEFORE)
    engine = make_engine(url)
    write_at(Database(engine), OLD_TIMES, monkeypatch)
    command.upgrade(alembic_config(url), "head")
    yield engine
    engine.dispose()


def where_rows_are(engine: Engine) -> dict[int, str]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, tableoid::regclass::text FROM audit_log"))
        return {row[0]: row[1] for row in rows}


def partitions(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.scalars(
                text(
                    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                    " WHERE i.inhparent = 'audit_log'::regclass ORDER BY c.relname"
                )
            )
        )


def test_the_upgrade_moves_each_row_into_its_months_partition(old_log: Engine) -> None:
    today = datetime.now(UTC).date()
    assert partitions(old_log) == sorted(
        {_month(at) for at in OLD_TIMES} | set(_months_from(today, MONTHS_AHEAD + 1))
    )
    placed = where_rows_are(old_log)
    assert sorted(placed.values()) == sorted(_month(at) for at in OLD_TIMES)
    with old_log.connect() as conn:
        kind = conn.scalar(text("SELECT relkind FROM pg_class WHERE oid = 'audit_log'::regclass"))
    assert kind == "p"  # partitioned; no DEFAULT partition takes stray rows
    key = inspect(old_log).get_pk_constraint("audit_log")
    assert (key["name"], key["constrained_columns"]) == ("pk_audit_log", ["id", "at"])


def test_the_orm_writes_and_reads_through_the_parent_and_the_chain_holds(
    old_log: Engine, capsys: Any
) -> None:
    database = Database(old_log)
    with database.transaction() as session:
        new = [record(session, None, "test", "thing", n) for n in ("a", "b")]
        session.flush()
        ids = [entry.id for entry in new]
    placed = where_rows_are(old_log)
    assert ids[0] > max(placed.keys() - set(ids))  # the id sequence goes on
    assert {placed[i] for i in ids} == {_month(datetime.now(UTC))}
    with database.session() as session:
        assert [e.id for e in entries(session, limit=2)] == ids[::-1]  # the tail, newest first
        assert [e.id for e in entries(session, before_id=ids[0], limit=5)] == sorted(
            placed.keys() - set(ids), reverse=True
        )
        assert verify(session) == (len(OLD_TIMES) + 2, None)
    url = old_log.url.render_as_string(hide_password=False)
    assert main(["audit", "verify", "--database-url", url]) == 0
    assert f"{len(OLD_TIMES) + 2} entries" in capsys.readouterr().out


def test_an_entry_for_a_month_without_a_partition_fails_with_its_transaction(
    old_log: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = Database(old_log)
    with pytest.raises(DBAPIError, match="no partition of relation"):
        write_at(database, [datetime(2040, 1, 1, tzinfo=UTC)], monkeypatch)
    with database.session() as session:
        assert verify(session) == (len(OLD_TIMES), None)


def test_adding_months_creates_those_missing_and_only_once(old_log: Engine, capsys: Any) -> None:
    later = date(2031, 5, 20)
    with old_log.begin() as conn:
        assert add_months(conn, later) == _months_from(later, MONTHS_AHEAD + 1)
    with old_log.begin() as conn:
        assert add_months(conn, later) == []
        assert add_months(conn, date(2031, 7, 1), months=4) == _months_from(date(2031, 9, 1), 3)
    with pytest.raises(DBAPIError, match="months must be 0 to 24"), old_log.begin() as conn:
        add_months(conn, later, months=25)
    assert keep_ahead(Database(old_log)) == []  # the migration made this month and three more
    url = old_log.url.render_as_string(hide_password=False)
    assert main(["db", "partitions", "--database-url", url]) == 0
    assert "none were missing" in capsys.readouterr().out


def test_beat_runs_the_partition_task_daily() -> None:
    import api.db.tasks  # noqa: F401  (registers it, as the worker's include list does)

    entry = worker.app.conf.beat_schedule["add-partitions"]
    assert entry["task"] in worker.app.tasks
    assert entry["schedule"].remaining_estimate(datetime.now(UTC)).days < 1


def test_downgrade_copies_the_rows_back_into_a_plain_table(old_log: Engine) -> None:
    url = old_log.url.render_as_string(hide_password=False)
    before = where_rows_are(old_log)
    command.downgrade(alembic_config(url), BEFORE)
    assert partitions(old_log) == []
    assert set(where_rows_are(old_log)) == set(before)
    assert set(where_rows_are(old_log).values()) == {"audit_log"}
    key = inspect(old_log).get_pk_constraint("audit_log")
    assert key["constrained_columns"] == ["id"]
    with Database(old_log).transaction() as session:
        record(session, None, "test", "thing", "after")
    with Database(old_log).session() as session:
        assert verify(session) == (len(OLD_TIMES) + 1, None)
    command.upgrade(alembic_config(url), "head")  # and up again
    months = {_month(at) for at in OLD_TIMES} | {_month(datetime.now(UTC))}
    assert set(where_rows_are(old_log).values()) == months


def test_the_in_process_server_adds_missing_months_at_start(
    old_log: Engine, tmp_path: Path
) -> None:
    last = _months_from(datetime.now(UTC).date(), MONTHS_AHEAD + 1)[-1]
    with old_log.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE {last}")
    url = old_log.url.render_as_string(hide_password=False)
    settings = Settings(mode="test", data_dir=tmp_path, database_url=url, **new_secrets())
    assert settings.eager_tasks  # no broker: beat's periodic work runs in the server
    ctx = AppContext(settings=settings, database=Database(old_log))
    with TestClient(create_app(context=ctx)):
        deadline = time.monotonic() + 10
        while last not in partitions(old_log) and time.monotonic() < deadline:
            time.sleep(0.05)
    assert last in partitions(old_log)


def test_metrics_report_the_months_ahead_up_to_the_first_gap(
    old_log: Engine, tmp_path: Path
) -> None:
    """``vigil_audit_months_ahead``: the figure to alert on before audited writes fail."""
    url = old_log.url.render_as_string(hide_password=False)
    settings = Settings(mode="test", data_dir=tmp_path, database_url=url, **new_secrets())
    ctx = AppContext(settings=settings, database=Database(old_log))
    app = create_app(context=ctx)
    with TestClient(app) as client:
        scraped = client.get("/metrics").text
    assert f"vigil_audit_months_ahead {float(MONTHS_AHEAD)}" in scraped
    # A month missing in between: only the months before it count.
    second = _months_from(datetime.now(UTC).date(), MONTHS_AHEAD + 1)[2]
    with old_log.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE {second}")
        assert months_ahead(conn, datetime.now(UTC).date()) == 1
        assert months_ahead(conn, date(2040, 1, 1)) == 0
    sqlite = make_engine(f"sqlite:///{tmp_path / 'v.db'}")
    with sqlite.connect() as conn:
        assert months_ahead(conn, date(2026, 1, 1)) is None
    sqlite.dispose()


def test_the_command_has_nothing_to_do_on_sqlite_and_says_so_when_unreachable(
    tmp_path: Path, capsys: Any
) -> None:
    assert main(["db", "partitions", "--database-url", f"sqlite:///{tmp_path / 'v.db'}"]) == 0
    assert "only PostgreSQL" in capsys.readouterr().out
    unreachable = "postgresql+psycopg://vigil@127.0.0.1:9/vigil?connect_timeout=2"
    assert main(["db", "partitions", "--database-url", unreachable]) == 3
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
