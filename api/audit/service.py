"""Writing the audit log. Entries join the caller's transaction: no change without its entry."""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy.orm import Session

from api.audit.chain import Fields, appended, link, lock_and_tail
from api.audit.tables import AuditEntry
from api.db.base import utcnow


class Actor(Protocol):
    """Who acts: an account (its id and role). The audit log needs nothing more of it."""

    @property
    def id(self) -> int: ...

    @property
    def role(self) -> str: ...


def record(
    session: Session,
    actor: Actor | None,
    action: str,
    object_type: str,
    object_id: object,
    **detail: Any,
) -> AuditEntry:
    """Add an entry for ``actor`` (``None`` = the system) doing ``action`` to an object.

    The entry is chained to the newest one; the chain stays locked until the caller's
    transaction ends, so keep what follows an entry short.
    """
    fields = Fields(
        at=utcnow(),
        actor_id=actor.id if actor is not None else None,
        actor_role=actor.role if actor is not None else "system",
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        detail=detail,
    )
    previous = lock_and_tail(session)
    entry = AuditEntry(**fields._asdict(), prev_hash=previous, entry_hash=link(previous, fields))
    session.add(entry)
    appended(session, entry.entry_hash)
    return entry
