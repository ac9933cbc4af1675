"""What one reading task sends the database, on SQLite and on PostgreSQL: each statement is
a round trip paid for every photo a worker reads, so one more shows here first.

Each case runs on an engine of its own (real transactions, not the savepoints the other
tests work in), as a worker runs: SQLite in a file, PostgreSQL in a database of this test's
own on the server the PostgreSQL tests use.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from stack_services import create_database, drop_database, own_database_url, postgres_server

from api.config import Settings
from api.context import AppContext
from api.db.migrate import upgrade_connection
from api.db.session import Database, make_engine
from api.readings import service
from api.vision import Vision

# (verb, table) of each statement, in order. The read's transaction: the upload with its
# test, product, unit, proposal check and model files, one query. The write-back's: the
# photo's hash, the test as it is now with its latest upload, other tests' photos near
# the hash, the proposal and the test's new state (one flush), the audit chain's tail and
# the proposal's entry; on PostgreSQL also the commit's mode and the chain's lock, on
# SQLite the BEGIN IMMEDIATE of each transaction (``api.db.session``).
EXPECTED = {
    "sqlite": [
        ("BEGIN", "IMMEDIATE"),
        ("SELECT", "uploads"),
        ("BEGIN", "IMMEDIATE"),
        ("UPDATE", "uploads"),
        ("SELECT", "self_tests"),
        ("SELECT", "uploads"),
        ("INSERT", "proposals"),
        ("UPDATE", "self_tests"),
        ("SELECT", "audit_log"),
        ("INSERT", "audit_log"),
    ],
    "postgresql": [
        ("SELECT", "uploads"),
        ("SET", "LOCAL"),
        ("UPDATE", "uploads"),
        ("SELECT", "self_tests"),
        ("SELECT", "uploads"),
        ("INSERT", "proposals"),
        ("UPDATE", "self_tests"),
        ("SELECT", "pg_advisory_xact_lock"),
        ("SELECT", "audit_log"),
        ("INSERT", "audit_log"),
    ],
}


def summary(statement: str) -> tuple[str, str]:
    """``("SELECT", "uploads")``: the statement's verb and its table, subqueries left out (or
    what it selects, when it reads no table: ``pg_advisory_xact_lock``)."""
    outer = statement
    while (inner := re.sub(r"\([^()]*\)", "", outer)) != outer:
        outer = inner
    verb, _, rest = outer.partition(" ")
    found = re.search(r"\b(?:FROM|INTO|UPDATE)\s+(\w+)", outer)
    return verb.upper(), found.group(1) if found else rest.split(" ", 1)[0]


@pytest.fixture(params=["sqlite", "postgresql"])
def worker_ctx(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    keys: dict[str, str],
    region_index: Any,
    fake_reader: Any,
) -> Iterator[AppContext]:
    """A context on an engine, as a worker's, for a migrated database of this test's own."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'task.db'}"
    else:
        url = own_database_url(postgres_server(), "task_statements")
        create_database(url)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            upgrade_connection(conn)
        settings = Settings(mode="test", data_dir=tmp_path, database_url=url, **keys)
        yield AppContext(
            settings=settings,
            database=Database(engine),
            _regions=region_index,
            vision=Vision(reader=fake_reader),
        )
    finally:
        engine.dispose()
        if request.param == "postgresql":
            drop_database(url)


def test_one_reading_sends_these_statements(
    worker_ctx: AppContext,
    world_builder: Callable[..., Any],
    flow_builder: Callable[[Any], Any],
    fake_reader: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queued: list[int] = []
    monkeypatch.setattr(service, "enqueue", lambda _ctx, upload_id: queued.append(upload_id))
    with worker_ctx.database.session() as session:
        world = world_builder(worker_ctx, session)
        flow = flow_builder(world)
        for index in range(2):
            flow.upload(flow.claim(code_index=index))
    sent: list[str] = []

    def keep(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    def read(index: int, photo_hash: str) -> None:
        # The photo shows the claimed unit and has a hash of its own: the checks all run,
        # none flags anything.
        fake_reader.code, fake_reader.photo_hash = world.codes[index], photo_hash
        assert service.process_upload(worker_ctx, queued[index]) == "proposed"

    read(0, "0123456789abcdef")  # a warm-up: a worker has decoded the kit by its second photo
    bind = worker_ctx.database.bind
    event.listen(bind, "before_cursor_execute", keep)
    try:
        read(1, "fedcba9876543210")
    finally:
        event.remove(bind, "before_cursor_execute", keep)
    dialect = worker_ctx.database.dialect
    assert [summary(statement) for statement in sent] == EXPECTED[dialect]
    if dialect == "postgresql":
        # Only the write-back's own transaction commits without waiting for the disk.
        assert "SET LOCAL synchronous_commit = off" in sent
        with bind.connect() as conn:
            assert conn.scalar(text("SHOW synchronous_commit")) == "on"
