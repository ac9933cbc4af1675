"""Periodic task: the audit log's monthly partitions are created months ahead (PostgreSQL)."""

from __future__ import annotations

from api.db.partitions import keep_ahead
from api.worker import app, worker_context


@app.task(name="vigil.add_partitions")
def add_partitions() -> list[str]:
    """Create the missing partitions of this month and the next three; their names."""
    return keep_ahead(worker_context().database)
