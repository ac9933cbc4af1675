"""The audit log's hash chain: each entry holds the hash of the one before it.

An entry's ``entry_hash`` is SHA-256 over the previous entry's hash and the entry's own
fields, so changing, removing or reordering a row breaks every link after it;
:func:`verify` walks the log in order and names the first entry that does not fit.
(Cutting entries off the end leaves a shorter chain that still fits: the grants the
migration ``0007_audit_chain`` sets, not the chain, stop the application doing that.)

Two transactions that append at once must not both link to the same predecessor (the
chain would fork), so appending takes the chain's lock until the transaction ends: on
PostgreSQL a transaction-scoped advisory lock; on SQLite every writing transaction
already holds the database's write lock (``BEGIN IMMEDIATE``, see ``api.db.session``).

>>> from datetime import UTC, datetime
>>> fields = Fields(datetime(2026, 1, 1, tzinfo=UTC), None, "system", "sweep", "upload", "7", {})
>>> link(GENESIS, fields) == link(GENESIS, fields), link(GENESIS, fields) == link("1" * 64, fields)
(True, False)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from api.audit.tables import AuditEntry

GENESIS = "0" * 64
"""What the first entry links to."""

CHAIN_LOCK = 0x56_49_47_49_4C_41_55  # "VIGILAU": the advisory lock's key on PostgreSQL


class Fields(NamedTuple):
    """What an entry's hash covers (everything but its id and its own hashes)."""

    at: datetime
    actor_id: int | None
    actor_role: str | None
    action: str
    object_type: str
    object_id: str
    detail: dict[str, Any]


def link(previous: str, fields: Fields) -> str:
    """The hash of an entry with ``fields`` following the entry whose hash is ``previous``."""
    at = fields.at.astimezone(UTC).isoformat(timespec="microseconds")
    canonical = json.dumps(
        [previous, at, *fields[1:]],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def fields_of(entry: AuditEntry) -> Fields:
    return Fields(
        entry.at,
        entry.actor_id,
        entry.actor_role,
        entry.action,
        entry.object_type,
        entry.object_id,
        entry.detail or {},
    )


# Where ``session.info`` keeps (transaction, hash of the entry it appended last).
_TAIL = "vigil_audit_tail"


def lock_and_tail(session: Session) -> str:
    """Take the chain's lock for the rest of the transaction; the newest entry's hash.

    Once this transaction has appended an entry it holds the lock, so nobody else can have
    appended since: the entry it appended last is the tail, without asking the database
    again (two statements fewer for every further entry of the transaction).
    """
    held = session.info.get(_TAIL)
    if held is not None and held[0] is _current(session):
        return str(held[1])
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK})
    # Autoflush writes this transaction's own earlier entries first: they are the tail.
    tail = session.scalar(select(AuditEntry.entry_hash).order_by(AuditEntry.id.desc()).limit(1))
    return tail or GENESIS


def appended(session: Session, entry_hash: str) -> None:
    """Note that this transaction appended the entry ``entry_hash`` (the chain's new tail)."""
    session.info[_TAIL] = (_current(session), entry_hash)


def _current(session: Session) -> object:
    # The innermost transaction: an entry appended inside a savepoint that is then rolled
    # back is never taken for the tail outside it (a miss there asks the database).
    return session.get_nested_transaction() or session.get_transaction()


@dataclass(frozen=True)
class Break:
    """The first entry that does not fit the chain, and why."""

    entry_id: int
    reason: str


def check(entries: Iterable[AuditEntry]) -> tuple[int, Break | None]:
    """How many ``entries`` (in id order) were checked, and the first break, if any."""
    previous = GENESIS
    count = 0
    for entry in entries:
        count += 1
        if entry.prev_hash != previous:
            return count, Break(
                entry.id,
                "does not link to the entry before it (one was removed, inserted or reordered)",
            )
        if entry.entry_hash != link(previous, fields_of(entry)):
            return count, Break(entry.id, "its contents were changed after it was written")
        previous = entry.entry_hash
    return count, None


def verify(session: Session, batch: int = 1000) -> tuple[int, Break | None]:
    """Walk the whole audit log in order: (entries checked, the first break or ``None``)."""
    rows = session.scalars(
        select(AuditEntry).order_by(AuditEntry.id).execution_options(yield_per=batch)
    )
    return check(rows)
