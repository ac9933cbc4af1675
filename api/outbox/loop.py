"""The embedded delivery worker: a thread that runs :func:`deliver_due` passes in-process.

What ``vigil serve`` without a broker uses instead of the Celery task; with a broker,
``celery -A api.worker beat`` schedules :func:`api.outbox.tasks.deliver` instead.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

from api.context import AppContext
from api.outbox.dispatch import Transport, deliver_due
from api.outbox.settings import OutboxSettings

log = logging.getLogger(__name__)


class DeliveryLoop:
    """Start with :meth:`start`, stop with :meth:`stop` (waits for the pass in progress)."""

    def __init__(
        self,
        ctx: AppContext,
        transports: Mapping[str, Transport],
        config: OutboxSettings | None = None,
    ) -> None:
        self.ctx = ctx
        self.transports = transports
        self.config = config or OutboxSettings()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> DeliveryLoop:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="vigil-delivery", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                report = deliver_due(self.ctx, self.transports, self.config)
            except Exception:
                # A database hiccup must not end delivery for the life of the server.
                log.exception("delivery pass failed; trying again")
                report = None
            if report is None or not report.claimed:
                self._stop.wait(self.config.poll_seconds)
