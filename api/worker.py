"""The Celery app: ``celery -A api.worker worker`` runs photo readings in other processes.

Configured from the environment (``CELERY_BROKER_URL``, ``DATABASE_URL``,
``PHOTO_DIR``...). Without a broker tasks run in-process (``task_always_eager``),
which is the embedded default of ``vigil serve``. ``celery -A api.worker beat``
(or ``worker -B``) runs the periodic tasks: the sweep, settling held review decisions,
delivering the outbox and adding the audit log's monthly partitions (PostgreSQL).
"""

from __future__ import annotations

from celery import Celery
from celery.schedules import crontab

from api.config import Settings
from api.context import AppContext
from api.metrics import instrument_celery

app = Celery(
    "vigil",
    include=["api.readings.tasks", "api.reviews.tasks", "api.outbox.tasks", "api.db.tasks"],
)

# How often held review decisions are checked for taking effect (beat, and in-process).
SETTLE_EVERY_SECONDS = 1.0

_context: AppContext | None = None


def configure(settings: Settings) -> None:
    """Point the Celery app at ``settings``' broker, or make it run tasks in-process."""
    broker = settings.celery_broker_url or "memory://"
    if app.conf.broker_url != broker:
        # Connections already pooled for the old broker would keep being used.
        if app._pool is not None:
            app._pool.force_close_all()
            app._pool = None
        amqp = app.__dict__.get("amqp")
        if amqp is not None:
            amqp._producer_pool = None
    app.conf.update(
        broker_url=broker,
        result_backend=settings.celery_result_backend,
        task_always_eager=settings.eager_tasks,
        # In-process, a failing reading must not fail the upload request: the
        # upload is stored and the sweep will queue it again.
        task_eager_propagates=False,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        task_default_queue=settings.celery_queue,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        beat_schedule={
            "sweep-stuck-uploads": {
                "task": "vigil.sweep",
                "schedule": float(max(5, settings.sweep_after_seconds // 3)),
            },
            # Each run drains what is due; retries wait for their backoff, not for this.
            "deliver-outbox": {"task": "vigil.deliver_outbox", "schedule": 2.0},
            "settle-held-reviews": {
                "task": "vigil.settle_reviews",
                "schedule": SETTLE_EVERY_SECONDS,
            },
            # Daily, though months are kept three ahead: a failed run (a lock not granted in
            # time) has two months of retries before an audit entry finds no partition.
            "add-partitions": {
                "task": "vigil.add_partitions",
                "schedule": crontab(hour=3, minute=17),
            },
        },
    )


def bind_context(ctx: AppContext) -> None:
    """Make in-process tasks use the app's database and stores."""
    global _context
    _context = ctx


def worker_context() -> AppContext:
    """The context tasks run with: the bound one, or one built from the environment."""
    global _context
    if _context is None:
        _context = AppContext.from_settings(Settings(), keys=False)
    return _context


_settings = Settings()
configure(_settings)
# Task times in every worker; its main process serves /metrics when a port is set.
instrument_celery(_settings.worker_metrics_port)
