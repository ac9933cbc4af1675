"""Prometheus metrics: what an operator watches in an outbreak, served at ``/metrics``.

Counters and histograms live in each process. With several API processes
(``uvicorn --workers N``) or Celery's prefork children, set
``PROMETHEUS_MULTIPROC_DIR`` to an empty directory private to the machine
*before* the processes start: every process then writes its samples to
memory-mapped files there and a scrape of any one process adds up all of them
(prometheus_client's multiprocess mode). Empty the directory whenever the
service restarts, or the counts of dead processes from the last run stay in.

Two figures are not per process but one fact about the whole deployment: the
Celery queue length and the webhook backlog. They are read when scraped, through
callbacks (:func:`set_queue_length_source`, :func:`set_webhook_backlog_source`),
so every process reports the same current value and nothing is summed twice.

Services record reading outcomes and release latency with
:func:`observe_reading` and :func:`observe_release`; the HTTP middleware and the
Celery signal handlers record the rest.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from fastapi import FastAPI

    from api.config import Settings

log = logging.getLogger(__name__)

READING_STATUSES = ("ok", "retake", "by_eye")
READING_RESULTS = ("positive", "negative", "invalid", "none")

# Seconds; photos are read in tens of milliseconds, HTTP calls should answer in
# well under a second, results are released after a clinician's confirmation
# (minutes to hours).
_FAST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_RELEASE_BUCKETS = (10, 30, 60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800)

HTTP_SECONDS = Histogram(
    "vigil_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template and status",
    ["method", "route", "status"],
    buckets=_FAST_BUCKETS,
)
TASK_SECONDS = Histogram(
    "vigil_task_duration_seconds",
    "Run time of a background task (Celery or in-process), by task name and state",
    ["task", "state"],
    buckets=_FAST_BUCKETS,
)
READINGS = Counter(
    "vigil_readings",
    "Photos read, by outcome (ok, retake, by_eye) and proposed result",
    ["status", "result"],
)
READING_SECONDS = Histogram(
    "vigil_reading_duration_seconds",
    "Time the pipeline took to read one photo",
    buckets=_FAST_BUCKETS,
)
READING_CPU_SECONDS = Histogram(
    "vigil_reading_cpu_seconds",
    "CPU time (the reading process's, all its threads) the pipeline took to read one photo: "
    "against the worker process's CPU per photo, what the task costs beyond the read",
    buckets=_FAST_BUCKETS,
)
RELEASE_SECONDS = Histogram(
    "vigil_release_latency_seconds",
    "From the photo received to the result released to the patient",
    buckets=_RELEASE_BUCKETS,
)


def observe_reading(
    status: str, result: str | None, seconds: float, cpu_seconds: float | None = None
) -> None:
    """Count one finished reading and how long the pipeline took (wall clock, and the
    process's CPU time when given).

    ``status`` is ``ok``, ``retake`` or ``by_eye``; ``result`` the proposed
    result (``positive``, ``negative``, ``invalid``) or None when there is none.
    Anything else is refused, so a typo cannot add label values without bound.
    """
    result = result or "none"
    if status not in READING_STATUSES or result not in READING_RESULTS:
        raise ValueError(f"unknown reading outcome {status!r}/{result!r}")
    READINGS.labels(status=status, result=result).inc()
    READING_SECONDS.observe(seconds)
    if cpu_seconds is not None:
        READING_CPU_SECONDS.observe(cpu_seconds)


def observe_release(seconds: float) -> None:
    """Record one released result: seconds from the photo received to the release."""
    RELEASE_SECONDS.observe(max(0.0, seconds))


# Deployment-wide figures, read at scrape time ---------------------------------

_QUEUE_LENGTH = "vigil_queue_length"
_WEBHOOK_BACKLOG = "vigil_webhook_backlog"
_AUDIT_MONTHS_AHEAD = "vigil_audit_months_ahead"
_SOURCES: dict[str, tuple[str, Callable[[], float | None] | None]] = {
    _QUEUE_LENGTH: ("Photo readings waiting in the task queue", None),
    _WEBHOOK_BACKLOG: ("Webhook deliveries waiting in the outbox", None),
    _AUDIT_MONTHS_AHEAD: (
        "Months after the current one with an audit-log partition (PostgreSQL); at 0 next "
        "month's audited writes will fail",
        None,
    ),
}


def set_queue_length_source(source: Callable[[], float | None] | None) -> None:
    """Where ``vigil_queue_length`` comes from (None: not reported)."""
    _SOURCES[_QUEUE_LENGTH] = (_SOURCES[_QUEUE_LENGTH][0], source)


def set_webhook_backlog_source(source: Callable[[], float | None] | None) -> None:
    """Where ``vigil_webhook_backlog`` comes from; the outbox sets it (None: not reported)."""
    _SOURCES[_WEBHOOK_BACKLOG] = (_SOURCES[_WEBHOOK_BACKLOG][0], source)


def set_audit_months_ahead_source(source: Callable[[], float | None] | None) -> None:
    """Where ``vigil_audit_months_ahead`` comes from (None, or a source answering None: not
    reported, as on SQLite)."""
    _SOURCES[_AUDIT_MONTHS_AHEAD] = (_SOURCES[_AUDIT_MONTHS_AHEAD][0], source)


class _ScrapeTimeGauges(Collector):
    def collect(self) -> Iterable[Metric]:
        for name, (documentation, source) in _SOURCES.items():
            if source is None:
                continue
            try:
                value = source()
            except Exception:
                # A broken broker or database must not break the scrape; the
                # gap in the series is the signal.
                log.warning("metric %s could not be read", name, exc_info=True)
                continue
            if value is not None:
                yield GaugeMetricFamily(name, documentation, value=value)


def redis_queue_length(broker_url: str, queue: str) -> Callable[[], float]:
    """A source for :func:`set_queue_length_source`: the Celery queue's Redis list length."""
    import redis

    client = redis.Redis.from_url(broker_url, socket_timeout=1, socket_connect_timeout=1)

    def length() -> float:
        return float(client.llen(queue))

    return length


def _registry() -> CollectorRegistry:
    """This process's metrics (in multiprocess mode: every process's) and the scrape-time ones."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(REGISTRY)  # a registry collects like a collector
    registry.register(_ScrapeTimeGauges())
    return registry


def exposition() -> bytes:
    """All metrics in the Prometheus text format."""
    return generate_latest(_registry())


def start_metrics_server(port: int, address: str = "0.0.0.0") -> None:
    """Serve ``/metrics`` on ``port`` from a background thread: for Celery worker machines,
    which run no web app. With ``PROMETHEUS_MULTIPROC_DIR`` it reports all the pool's children.
    """
    start_http_server(port, address, registry=_registry())


# Where the figures come from ----------------------------------------------------


class HttpMetricsMiddleware:
    """ASGI middleware timing each HTTP request by route *template*.

    Paths that match no route are counted as ``unmatched``: label values come
    only from the app's own routes, so hostile URLs cannot grow the series.
    The time runs until the last byte is sent (an event stream counts its whole
    life).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            HTTP_SECONDS.labels(
                method=scope["method"], route=route_template(scope), status=str(status)
            ).observe(time.perf_counter() - start)


def route_template(scope: Scope) -> str:
    """The template of the route that served ``scope`` (``/api/units/{code}``), or ``unmatched``.

    The router leaves the matched route in the scope. Its ``path`` may be only
    the last part of the template (FastAPI keeps an included router's routes
    with their own paths), so the leading, static segments (router prefixes and
    mounts) are taken from the requested path.

    >>> from starlette.routing import Route
    >>> route_template({"path": "/api/units/K7QX", "route": Route("/units/{code}", print)})
    '/api/units/{code}'
    >>> route_template({"path": "/../../etc/passwd"})
    'unmatched'
    """
    template = getattr(scope.get("route"), "path", None)
    if not isinstance(template, str):
        return "unmatched"
    if ":path}" in template:  # a parameter that spans segments: the prefix cannot be told
        return template
    depth = template.count("/")
    prefix = scope["path"].split("/")[: -depth or None]
    return "/".join(prefix) + template if depth else template


def instrument_celery(metrics_port: int | None = None) -> None:
    """Time every Celery task (in workers and in-process) from its start to its end.

    Called where the Celery app is made, so the pool's children inherit the
    handlers; with ``metrics_port`` the worker's main process also serves
    ``/metrics`` there (:func:`start_metrics_server`) once it starts.
    """
    from celery.signals import task_postrun, task_prerun, worker_init

    started: dict[str, float] = {}

    def on_start(task_id: str | None = None, **_: Any) -> None:
        if task_id:
            started[task_id] = time.perf_counter()

    def on_end(
        task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any
    ) -> None:
        begun = started.pop(task_id or "", None)
        if begun is not None:
            TASK_SECONDS.labels(task=getattr(task, "name", "unknown"), state=state or "").observe(
                time.perf_counter() - begun
            )

    # weak=False: the handlers are closures that would otherwise be collected.
    task_prerun.connect(on_start, weak=False, dispatch_uid="vigil-metrics-prerun")
    task_postrun.connect(on_end, weak=False, dispatch_uid="vigil-metrics-postrun")
    if metrics_port is not None:

        def serve(**_: Any) -> None:
            start_metrics_server(metrics_port)

        worker_init.connect(serve, weak=False, dispatch_uid="vigil-metrics-server")


def install_metrics(app: FastAPI, settings: Settings) -> None:
    """Time the app's HTTP requests and tasks, serve ``GET /metrics``, find the queue length."""

    async def metrics(_request: Request) -> Response:
        return Response(exposition(), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(HttpMetricsMiddleware)
    app.add_route("/metrics", metrics, include_in_schema=False)
    instrument_celery()
    if settings.celery_broker_url and settings.celery_broker_url.startswith(
        ("redis://", "rediss://")
    ):
        set_queue_length_source(
            redis_queue_length(settings.celery_broker_url, settings.celery_queue)
        )
    elif settings.eager_tasks:
        # In-process tasks run inside the request that queues them: nothing waits.
        set_queue_length_source(lambda: 0.0)
