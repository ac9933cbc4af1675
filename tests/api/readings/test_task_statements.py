"""What one reading task sends the database, on SQLite and on PostgreSQL: each statement is
a round trip paid for every photo a worker reads, so one more shows here first.

Each case runs on an engine of its own (real transactions, not the savepoints the other
tests work in), as a worker runs: SQLite in a file, PostgreSQL in a database of this test's
own on the server the PostgreSQL tests use.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event, text

from api.context import AppContext
from api.readings import service

# (verb, table) of each statement, in order. The read's transaction: the upload with its
# test, product, unit, proposal check and model files, one query. The write-back's: the
# photo's hash, the test as it is now with its latest upload, other tests' photos near
# the hash (the photos asked, a JSON list on SQLite and a CTE on PostgreSQL, joined to the
# uploads), the proposal and the test's new state (one flush), the audit chain's tail and
# the proposal's entry; on PostgreSQL also the commit's mode and the chain's lock, on
# SQLite the BEGIN IMMEDIATE of each transaction (``api.db.session``).
SAME_PHOTO = {"sqlite": ("SELECT", "json_each"), "postgresql": ("WITH", "asked")}
EXPECTED = {
    "sqlite": [
        ("BEGIN", "IMMEDIATE"),
        ("SELECT", "uploads"),
        ("BEGIN", "IMMEDIATE"),
        ("UPDATE", "uploads"),
        ("SELECT", "self_tests"),
        SAME_PHOTO["sqlite"],
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
        SAME_PHOTO["postgresql"],
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


# Three photos read by one task: the inputs in one query, then one transaction whose
# statements are sent once for all (the hashes' UPDATE and the tests' UPDATE as one
# executemany each, the same-photo look-up as one query, on PostgreSQL the proposals and the
# audit entries as one INSERT each). SQLite inserts row by row (SQLAlchemy cannot match the
# ids it returns for several rows to the rows): no round trips there.
EXPECTED_FOR_THREE = {
    "sqlite": [
        ("BEGIN", "IMMEDIATE"),
        ("SELECT", "uploads"),
        ("BEGIN", "IMMEDIATE"),
        ("UPDATE", "uploads"),
        ("SELECT", "self_tests"),
        SAME_PHOTO["sqlite"],
        *[("INSERT", "proposals")] * 3,
        ("UPDATE", "self_tests"),
        ("SELECT", "audit_log"),
        *[("INSERT", "audit_log")] * 3,
    ],
    # On PostgreSQL, the very statements of one photo: three cost no more round trips.
    "postgresql": EXPECTED["postgresql"],
}


def test_readings_written_back_together_send_their_statements_once(
    worker_ctx: AppContext,
    world_builder: Callable[..., Any],
    flow_builder: Callable[[Any], Any],
    photos_show: Callable[[dict[str, Any]], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queued: list[int] = []
    monkeypatch.setattr(service, "enqueue", lambda _ctx, upload_id: queued.append(upload_id))
    with worker_ctx.database.session() as session:
        world = world_builder(worker_ctx, session)
        flow = flow_builder(world)
        # Each photo shows its claimed unit and has a hash of its own.
        photos_show(
            {
                flow.upload(flow.claim(code_index=index)).photo_sha256: (
                    world.codes[index],
                    f"{index + 1:x}" * 16,
                )
                for index in range(4)
            }
        )
    assert service.process_upload(worker_ctx, queued[0]) == "proposed"  # a warm-up
    sent: list[str] = []

    def keep(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    bind = worker_ctx.database.bind
    event.listen(bind, "before_cursor_execute", keep)
    try:
        outcomes = service.process_uploads(worker_ctx, queued[1:])
    finally:
        event.remove(bind, "before_cursor_execute", keep)
    assert outcomes == dict.fromkeys(queued[1:], "proposed")
    assert [summary(statement) for statement in sent] == EXPECTED_FOR_THREE[
        worker_ctx.database.dialect
    ]
