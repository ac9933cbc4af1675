"""Work that must wait until a transaction has committed (queueing a photo's reading).

A task queued before the commit could run before the row it reads exists, and one
queued for a transaction that then rolls back would read nothing. ``after_commit``
keeps the work on the session and runs it once the session's transaction commits;
a rollback drops it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

_KEY = "vigil.after_commit"


def after_commit(session: Session, action: Callable[[], None]) -> None:
    """Run ``action`` once ``session`` commits; never if it rolls back."""
    session.info.setdefault(_KEY, []).append(action)


@event.listens_for(Session, "after_commit")
def _run(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint was released: the transaction itself has not committed yet
    actions: list[Callable[[], None]] = session.info.pop(_KEY, [])
    for action in actions:
        try:
            action()
        except Exception:  # the commit stands; the action's own retry (the sweep) covers it
            log.exception("an after-commit action failed")


@event.listens_for(Session, "after_rollback")
def _drop(session: Session) -> None:
    session.info.pop(_KEY, None)
