"""The Celery app: ``celery -A api.worker worker`` runs photo readings in other processes.

Configured from the environment (``CELERY_BROKER_URL``, ``DATABASE_URL``,
``PHOTO_DIR``...). Without a broker tasks run in-process (``task_always_eager``),
which is the embedded default of ``vigil serve``. ``celery -A api.worker beat``
(or ``worker -B``) runs the periodic tasks: the sweep, settling held review decisions,
delivering the outbox and adding the audit log's monthly partitions (PostgreSQL).
"""

from __future__ import annotations

import base64
import ctypes
import functools
import json
import logging
from typing import Any

from celery import Celery
from celery.schedules import crontab
from celery.signals import worker_init, worker_process_init

from api.config import Settings
from api.context import AppContext
from api.metrics import instrument_celery

log = logging.getLogger(__name__)

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


# Pops, from the queue's head, up to ARGV[2] messages of one task that can run now (no ETA: a
# retry's countdown is left to wait), stopping at the first other message. Atomic, so no two
# workers take the same message, and one round trip. Kombu's Redis transport keeps each
# message as a JSON envelope (``headers.task``, ``headers.eta``) and consumes a queue from the
# list's right end.
_TAKE_WAITING = """
local taken = {}
while #taken < tonumber(ARGV[2]) do
  local head = redis.call('LINDEX', KEYS[1], -1)
  if not head then break end
  local headers = cjson.decode(head)['headers']
  if headers['task'] ~= ARGV[1] or (headers['eta'] ~= nil and headers['eta'] ~= cjson.null) then
    break
  end
  taken[#taken + 1] = redis.call('RPOP', KEYS[1])
end
return taken
"""


@functools.cache
def _take_waiting_script(broker_url: str) -> Any:
    import redis

    return redis.Redis.from_url(broker_url).register_script(_TAKE_WAITING)


def _redis_broker() -> str | None:
    """The broker's URL where it is Redis, whose queues ``take_waiting`` can read."""
    broker = app.conf.broker_url or ""
    return broker if broker.startswith(("redis://", "rediss://")) else None


# Whether ``take_waiting`` takes anything in this process: off once ``check_take_waiting``
# finds that a message as kombu writes it is not one the script can take.
_taking = True


def take_waiting(task: str, limit: int, queue: str | None = None) -> list[Any]:
    """The first argument of up to ``limit`` messages of ``task`` waiting at the head of
    ``queue`` (the default queue), taken off it (Redis brokers; elsewhere none): a task can
    do their work with its own, once for all. Their messages are gone: whoever takes them
    must queue them again if it does not finish them, and a worker killed meanwhile leaves
    them to the sweep (as it leaves its own message on Redis until the visibility timeout, an
    hour).

    Messages wait in the queue only while every worker process is busy (an idle one's main
    process is blocked reading the queue and gets each message as it comes), so taking them
    leaves no process idle then; a process that comes free just after finds fewer: what it
    costs a batch's last photo is at most ``limit`` reads of waiting."""
    broker = _redis_broker()
    if limit < 1 or not _taking or broker is None:
        return []
    import redis

    try:
        keys = [queue or app.conf.task_default_queue]
        raw = _take_waiting_script(broker)(keys=keys, args=[task, limit])
    except redis.RedisError:  # the task's own work goes on alone
        log.exception("could not look for waiting messages of %s", task)
        return []
    taken = []
    for message in raw:
        try:
            envelope = json.loads(message)
            body = envelope["body"]
            if envelope["properties"].get("body_encoding") == "base64":
                body = base64.b64decode(body)
            args, _kwargs, _embed = json.loads(body)  # task_serializer is JSON
            taken.append(args[0])
        except (ValueError, KeyError, IndexError, TypeError):
            log.exception("a message of %s taken from the queue could not be read", task)
    return taken


def take_waiting_problem() -> str | None:
    """What stops ``take_waiting`` from taking a message as this app sends one (kombu's
    layout of it on Redis), or ``None``: a message of a task no worker runs is sent to a
    queue of its own, taken back and deleted. The script reads kombu's envelope, which kombu
    may change in any release; a change would otherwise show only as tasks reading one photo
    each (nothing taken) or as photos left to the sweep (taken, not understood)."""
    import uuid

    import redis

    queue = f"{app.conf.task_default_queue}.take-check.{uuid.uuid4().hex}"
    token = uuid.uuid4().hex
    with app.producer_or_acquire() as producer:
        try:
            app.send_task("vigil.take_check", args=[token], queue=queue, producer=producer)
            sent = redis.Redis.from_url(app.conf.broker_url).lrange(queue, 0, -1)
            taken = take_waiting("vigil.take_check", 2, queue=queue)
        finally:
            # The queue and what kombu keeps of it (its bindings; the app's list of queues).
            producer.channel.queue_delete(queue)
            app.amqp.queues.pop(queue, None)
    if taken == [token]:
        return None
    return f"a message sent as {sent!r} was taken as {taken!r}"


@worker_process_init.connect
def check_take_waiting(**_: Any) -> None:
    """In each worker process as it starts (Redis brokers): reading tasks take no waiting
    messages if ``take_waiting`` would not take them as sent, and a warning says why."""
    global _taking
    if _redis_broker() is None:
        return
    try:
        problem = take_waiting_problem()
    except Exception as error:  # the broker, not the layout: the first take will tell
        log.warning("could not check the Redis message layout: %s", error)
        return
    if problem is not None:
        import kombu

        _taking = False
        log.warning(
            "reading tasks will read their own photo only, none of the others waiting: "
            "kombu %s lays out messages on Redis as take_waiting does not read them (%s)",
            kombu.__version__,
            problem,
        )


# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3


@worker_init.connect
def keep_freed_memory(**_: Any) -> bool:
    """Make glibc keep the memory a read frees for the next read (the worker's main process,
    before its pool forks, so every process has it): by default an array of more than a few
    MB is mapped afresh and unmapped when freed, and a read's decode then pays a page fault
    for every 4 KB of memory it held a moment before. Measured with ``bench_upload`` (4
    workers): 34-35 instead of 39 ms of worker CPU a photo. A process keeps its peak heap
    (about 250 MB reading 12-MP photos). ``False`` where the C library is not glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    settings = (
        (_M_MMAP_THRESHOLD, 256 << 20),
        (_M_TRIM_THRESHOLD, 1 << 30),
        (_M_TOP_PAD, 64 << 20),
    )
    return all(libc.mallopt(parameter, value) == 1 for parameter, value in settings)


_settings = Settings()
configure(_settings)
# Task times in every worker; its main process serves /metrics when a port is set.
instrument_celery(_settings.worker_metrics_port)
