"""Readiness: whether this API process can serve, i.e. its database and broker answer.

Liveness (``/api/health/live``) says only that the process runs, so an orchestrator
restarts a hung server but not one waiting for its database; readiness
(``/api/health/ready``) takes it out of the load balancer until the dependencies are back.
"""

from __future__ import annotations

from sqlalchemy import text

from api.context import AppContext
from api.errors import UnavailableError

BROKER_TIMEOUT_SECONDS = 2.0


def check_ready(ctx: AppContext) -> dict[str, str]:
    """``{"status": "ready", "database": "ok", "broker": ...}``, or :class:`UnavailableError`."""
    try:
        with ctx.database.session() as session:
            session.execute(text("SELECT 1"))
    except Exception:  # any failure to answer means not ready; the reason goes to the log
        raise UnavailableError("the database does not answer") from None
    broker = "in-process"
    if ctx.settings.celery_broker_url:
        from api.worker import app as celery

        try:
            with celery.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)
        except Exception:
            raise UnavailableError("the broker does not answer") from None
        broker = "ok"
    return {"status": "ready", "database": "ok", "broker": broker}
