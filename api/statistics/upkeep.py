"""Keeps the daily aggregates in step with the tests, in the transaction that changes them.

A session listener: before a flush it notes how each changed test counted (if its
result stood), after the flush how it counts now, and adds the difference to
``statistics_daily`` and ``statistics_turnaround`` with one upsert per aggregate row,
on the same connection, so the aggregates commit or roll back with the change. It
sees every change made through the ORM (release, correction, retraction, a test moved
or deleted), whichever service makes it; bulk SQL that bypasses the ORM (the
benchmark's ``COPY``) is followed by :func:`api.statistics.queries.rebuild`.

Imported by :mod:`api.context`, so every process that opens a session has it.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, Table, event, inspect, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from api.selftests.tables import Proposal, SelfTest, TestStatus
from api.statistics.tables import (
    BUCKET_COLUMNS,
    EDGES,
    FIRST_EDGE_S,
    FLAGS,
    GROWTH,
    daily,
    turnaround,
)

STANDING = (TestStatus.released, TestStatus.corrected)
_KEYS = ("status", "result", "claimed_at", "released_at", "region_code", "product_id", "batch_id")
_PENDING = "statistics_pending"  # session.info: test -> how it counted before the flush


class Counted(NamedTuple):
    """Where a standing test counts."""

    day: date
    region_code: str
    product_id: int
    batch_id: int
    result: str
    bucket: int | None  # of the time from scan to release; None when not released


def bucket(seconds: float) -> int:
    """The turnaround histogram bucket of ``seconds`` from scan to release: 0 under a
    minute, then one more for each 10 % longer (the rebuild's SQL computes the same)."""
    if seconds < FIRST_EDGE_S:
        return 0
    return min(len(EDGES), math.floor(math.log(seconds / FIRST_EDGE_S) / math.log(GROWTH)) + 1)


def day_of(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def counted(values: dict[str, Any]) -> Counted | None:
    """Where a test with these column ``values`` counts; ``None`` while it does not."""
    if values["status"] not in STANDING or values["result"] is None:
        return None
    claimed, released = values["claimed_at"], values["released_at"]
    return Counted(
        day_of(claimed),
        values["region_code"],
        values["product_id"],
        values["batch_id"],
        values["result"],
        None if released is None else bucket((released - claimed).total_seconds()),
    )


def _before(session: Session, test: SelfTest) -> dict[str, Any]:
    """The test's key columns as the database holds them before the flush."""
    state = inspect(test)
    values: dict[str, Any] = {}
    unknown = []
    for name in _KEYS:
        history = state.attrs[name].history
        if history.deleted:
            values[name] = history.deleted[0]
        elif history.unchanged:
            values[name] = history.unchanged[0]
        elif not history.added:
            values[name] = getattr(test, name)  # expired and untouched: loads it
        else:
            unknown.append(name)  # set without its old value loaded: ask the database
    if unknown:
        columns = [getattr(SelfTest, name) for name in unknown]
        row = session.connection().execute(select(*columns).where(SelfTest.id == test.id))
        values.update(zip(unknown, row.one(), strict=True))
    return values


def _changed(test: SelfTest) -> bool:
    state = inspect(test)
    return any(state.attrs[name].history.has_changes() for name in _KEYS)


@event.listens_for(Session, "before_flush")
def _note_before(session: Session, _context: Any, _instances: Any) -> None:
    pending: dict[SelfTest, Counted | None] = {}
    with session.no_autoflush:
        for test in session.new:
            if isinstance(test, SelfTest):
                pending[test] = None
        for test in [*session.dirty, *session.deleted]:
            if isinstance(test, SelfTest) and (test in session.deleted or _changed(test)):
                pending[test] = counted(_before(session, test))
    session.info[_PENDING] = pending


@event.listens_for(Session, "after_flush")
def _apply(session: Session, _context: Any) -> None:
    pending: dict[SelfTest, Counted | None] = session.info.pop(_PENDING, {})
    moves: list[tuple[int, Counted | None, Counted | None]] = []
    for test, old in pending.items():
        deleted = test in session.deleted
        new = None if deleted else counted({name: getattr(test, name) for name in _KEYS})
        if old != new:
            moves.append((test.id, old, new))
    if not moves:
        return
    connection = session.connection()
    flags = _flags(connection, [test_id for test_id, _, _ in moves])
    tests: Counter[tuple[Any, ...]] = Counter()
    flagged: dict[str, Counter[tuple[Any, ...]]] = {column: Counter() for column in FLAGS.values()}
    times: Counter[tuple[Any, ...]] = Counter()
    for test_id, old, new in moves:
        for where, sign in ((old, -1), (new, 1)):
            if where is None:
                continue
            key = (where.day, where.region_code, where.product_id, where.batch_id, where.result)
            tests[key] += sign
            for status in flags.get(test_id, ()):
                flagged[FLAGS[status]][key] += sign
            if where.bucket is not None:
                times[(*key[:3], where.bucket)] += sign
    # Sorted keys: two transactions touching the same rows lock them in the same order.
    for key in sorted(tests):
        changes = {"tests": tests[key]} | {c: flagged[c][key] for c in FLAGS.values()}
        _add(connection, daily, dict(zip(_DAILY_KEY, key, strict=True)), changes)
    for key in sorted(times):
        at = dict(zip(_TURNAROUND_KEY, key[:3], strict=True))
        _add(connection, turnaround, at, {BUCKET_COLUMNS[key[3]]: times[key]})


_DAILY_KEY = ("day", "region_code", "product_id", "batch_id", "result")
_TURNAROUND_KEY = ("day", "region_code", "product_id")


def _flags(connection: Connection, test_ids: list[int]) -> dict[int, set[str]]:
    """test id -> the flagged pipeline statuses (retake, by eye) among its proposals."""
    query = (
        select(Proposal.self_test_id, Proposal.status)
        .where(Proposal.self_test_id.in_(test_ids), Proposal.status.in_(list(FLAGS)))
        .distinct()
    )
    found: dict[int, set[str]] = {}
    for test_id, status in connection.execute(query):
        found.setdefault(test_id, set()).add(status)
    return found


def _add(
    connection: Connection, table: Table, key: dict[str, Any], changes: dict[str, int]
) -> None:
    """Adds ``changes`` to the row of ``table`` at ``key`` (made when missing), atomically."""
    changes = {column: n for column, n in changes.items() if n}
    if not changes:
        return
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    insert = dialect.insert(table).values(**key, **changes)
    connection.execute(
        insert.on_conflict_do_update(
            index_elements=list(key),
            set_={column: table.c[column] + insert.excluded[column] for column in changes},
        )
    )
