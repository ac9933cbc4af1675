"""Celery task: one worker's passes over every channel this process can send on."""

from __future__ import annotations

from functools import cache

from api.outbox.channels import transports
from api.outbox.dispatch import Transport, drain
from api.outbox.settings import OutboxSettings
from api.worker import app, worker_context


@cache
def _worker_transports() -> tuple[OutboxSettings, dict[str, Transport]]:
    # One set per worker process, so HTTP connections to endpoints are kept and reused.
    config = OutboxSettings()
    return config, transports(config)


@app.task(name="vigil.deliver_outbox")
def deliver() -> int:
    """Send what is due until nothing is; returns how many were delivered."""
    config, channels = _worker_transports()
    # Bounded, so a long backlog does not hold up the photo readings sharing the worker.
    return drain(worker_context(), channels, config, max_passes=20).delivered
