"""Periodic task: held review decisions take effect once their grace period is over."""

from __future__ import annotations

from api.reviews import service
from api.worker import app, worker_context


@app.task(name="vigil.settle_reviews")
def settle_reviews() -> int:
    """Make every held reading whose grace period is over final; returns how many."""
    return service.settle_due_now(worker_context())
