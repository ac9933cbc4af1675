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

Old months can be moved out of the database whole (``api.audit.archive``). The entry that
records each such move carries the chain's :class:`Cut`: the hash the first remaining entry
links to, so :func:`verify` checks what remains from there. An entry's time is taken before
it waits for the chain's lock, so near a month's end an entry of the old month can follow
one of the new month in the chain; the cut keeps those archived links too, and the walk
splices them in where their ids fall.

>>> from datetime import UTC, datetime
>>> fields = Fields(datetime(2026, 1, 1, tzinfo=UTC), None, "system", "sweep", "upload", "7", {})
>>> link(GENESIS, fields) == link(GENESIS, fields), link(GENESIS, fields) == link("1" * 64, fields)
(True, False)
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from api.audit.tables import AuditEntry

GENESIS = "0" * 64
"""What the first entry links to."""

CHAIN_LOCK = 0x56_49_47_49_4C_41_55  # "VIGILAU": the advisory lock's key on PostgreSQL

ARCHIVED = "archive_month"
"""The action of the entry that records a month moved out of the database; its detail
holds the chain's :class:`Cut` after that month (``api.audit.archive``)."""


class Fields(NamedTuple):
    """What an entry's hash covers (everything but its id and its own hashes)."""

    at: datetime
    actor_id: int | None
    actor_role: str | None
    action: str
    object_type: str
    object_id: str
    detail: dict[str, Any]


def hashed_time(at: datetime) -> str:
    """An entry's time as its hash covers it: UTC, ISO 8601, to the microsecond.

    >>> hashed_time(datetime(2026, 1, 1, tzinfo=UTC))
    '2026-01-01T00:00:00.000000+00:00'
    """
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def link(previous: str, fields: Fields) -> str:
    """The hash of an entry with ``fields`` following the entry whose hash is ``previous``."""
    canonical = json.dumps(
        [previous, hashed_time(fields.at), *fields[1:]],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


class Entry(Protocol):
    """An audit entry as stored: a row of the table, or a line of an archive."""

    @property
    def id(self) -> int: ...
    @property
    def at(self) -> datetime: ...
    @property
    def actor_id(self) -> int | None: ...
    @property
    def actor_role(self) -> str | None: ...
    @property
    def action(self) -> str: ...
    @property
    def object_type(self) -> str: ...
    @property
    def object_id(self) -> str: ...
    @property
    def detail(self) -> dict[str, Any] | None: ...
    @property
    def prev_hash(self) -> str: ...
    @property
    def entry_hash(self) -> str: ...


def fields_of(entry: Entry) -> Fields:
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


class Link(NamedTuple):
    """An entry's place in the chain: its id, the hash it links to and its own hash."""

    id: int
    prev_hash: str
    entry_hash: str


@dataclass(frozen=True)
class Cut:
    """Where the chain goes on in the database after the months archived up to ``month``.

    ``head`` is the newest archived entry before the first one left (``None``: none, the
    chain starts at :data:`GENESIS`); ``after`` are the archived entries whose ids come
    after the first one left, in id order: their month had ended by the clock when they
    were written, but they waited for the chain's lock behind an entry of the next month.

    >>> Cut.from_json(Cut("2024-11", Link(7, "a" * 64, "b" * 64)).to_json()).head.id
    7
    """

    month: str | None = None
    head: Link | None = None
    after: tuple[Link, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "month": self.month,
            "head": list(self.head) if self.head else None,
            "after": [list(item) for item in self.after],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Cut:
        head = data.get("head")
        return cls(
            data.get("month"),
            Link(*head) if head else None,
            tuple(Link(*item) for item in data.get("after", ())),
        )


ORIGIN = Cut()
"""Nothing archived: the chain starts at :data:`GENESIS`."""


class Walk:
    """Follows the chain entry by entry, in id order, from ``start``.

    The archived links of ``start.after`` are spliced in where their ids fall (each must
    link to the entry before it like any other); :attr:`spliced` lists those passed.
    """

    def __init__(self, start: Cut = ORIGIN) -> None:
        self.previous = start.head.entry_hash if start.head else GENESIS
        self._waiting = deque(start.after)
        self.spliced: list[Link] = []

    def follow(self, entry: Entry) -> Break | None:
        """Check ``entry`` against the chain so far; the break it makes, if any."""
        broken = self._splice(entry.id)
        if broken is not None:
            return broken
        if entry.prev_hash != self.previous:
            return Break(
                entry.id,
                "does not link to the entry before it (one was removed, inserted or reordered)",
            )
        if entry.entry_hash != link(entry.prev_hash, fields_of(entry)):
            return Break(entry.id, "its contents were changed after it was written")
        self.previous = entry.entry_hash
        return None

    def finish(self) -> Break | None:
        """Splice in the archived links after the last entry followed."""
        return self._splice(None)

    def _splice(self, before: int | None) -> Break | None:
        while self._waiting and (before is None or self._waiting[0].id < before):
            archived = self._waiting.popleft()
            if archived.prev_hash != self.previous:
                return Break(
                    archived.id,
                    "an archived entry does not link to the entry before it (one was removed"
                    " or inserted)",
                )
            self.previous = archived.entry_hash
            self.spliced.append(archived)
        return None


def check(entries: Iterable[Entry], start: Cut = ORIGIN) -> tuple[int, Break | None]:
    """How many ``entries`` (in id order) were checked from ``start``, and the first break."""
    walk = Walk(start)
    count = 0
    for entry in entries:
        count += 1
        broken = walk.follow(entry)
        if broken is not None:
            return count, broken
    return count, walk.finish()


def cut_of(session: Session) -> Cut:
    """The chain's cut after the months archived so far (:data:`ORIGIN` if none)."""
    detail = session.scalar(
        select(AuditEntry.detail)
        .where(AuditEntry.action == ARCHIVED)
        .order_by(AuditEntry.id.desc())
        .limit(1)
    )
    return Cut.from_json(detail["cut"]) if detail else ORIGIN


def verify(session: Session, batch: int = 1000) -> tuple[int, Break | None]:
    """Walk the audit log in order from the cut of the months archived (if any):
    (entries checked, the first break or ``None``)."""
    start = cut_of(session)
    rows = session.scalars(
        select(AuditEntry).order_by(AuditEntry.id).execution_options(yield_per=batch)
    )
    return check(rows, start)
