"""The FastAPI application: ``create_app(settings)`` is what ``vigil serve`` runs."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from swagger_ui_bundle import swagger_ui_path

from api import worker
from api.accounts.routes import router as accounts_router
from api.admission import AdmissionLimit
from api.audit.refusals import RefusalLog
from api.audit.routes import router as audit_router
from api.batches.routes import router as batches_router
from api.config import Settings
from api.context import AppContext
from api.datasets.routes import router as datasets_router
from api.db.partitions import keep_ahead, months_ahead_source
from api.db.session import Database
from api.deps import CtxDep
from api.errors import PROBLEM_JSON, document_errors, install_handlers
from api.events.routes import router as events_router
from api.health import check_ready
from api.interop.routes import router as interop_router
from api.metrics import (
    install_metrics,
    set_audit_months_ahead_source,
    set_webhook_backlog_source,
)
from api.model_registry.routes import router as model_registry_router
from api.organisations.routes import router as organisations_router
from api.outbox.channels import transports
from api.outbox.loop import DeliveryLoop
from api.outbox.routes import router as outbox_router
from api.outbox.service import webhook_backlog
from api.outbox.settings import OutboxSettings
from api.patients.routes import router as patients_router
from api.products.routes import router as products_router
from api.readings.routes import router as readings_router
from api.readings.service import sweep
from api.regions.routes import router as regions_router
from api.reports.routes import router as reports_router
from api.reviews.routes import router as reviews_router
from api.reviews.service import settle_due_now
from api.security.headers import SecurityHeaders
from api.security.request_guard import BodyGuard, refuse_hostile_values
from api.statistics.routes import router as statistics_router
from api.units.routes import router as units_router

log = logging.getLogger(__name__)

API_PREFIX = "/api"
# How often the in-process twin of beat adds missing monthly partitions (a day).
PARTITIONS_EVERY_SECONDS = 24 * 3600.0

DESCRIPTION = """
Active surveillance from rapid self-tests. The flow, one call per step:

1. `POST /api/manufacturers` sign-up, `POST /api/manufacturers/confirm` with the e-mailed code,
   `POST /api/manufacturers/{id}/review` by an operator
2. `POST /api/products` kit description + template
3. `POST /api/batches`, then `codes.csv`, `codes.zip`, `labels.pdf`
4. `GET /api/units/{code}` public look-up
5. `POST /api/patients`, `POST /api/auth/token` or `POST /api/auth/patient-token`
6. `POST /api/tests` scan: claim the unit, record the location
7. `POST /api/tests/{id}/photos` upload; the pipeline proposes a reading
8. `GET /api/reviews/queue`, `POST /api/proposals/{id}/review`
9. `GET /api/tests/{id}` the released result; `GET /api/reports`, `GET /api/events/stream`
10. `GET /api/cdc/positives`, `GET /api/statistics` (rates, intervals, 7-day change),
    `GET /api/statistics/{table}.csv`
"""


DOMAIN_ROUTERS = (
    accounts_router,
    organisations_router,
    regions_router,
    products_router,
    batches_router,
    units_router,
    patients_router,
    readings_router,
    reviews_router,
    reports_router,
    statistics_router,
    events_router,
    outbox_router,
    interop_router,
    audit_router,
    model_registry_router,
    datasets_router,
)


def api_router() -> APIRouter:
    router = APIRouter(prefix=API_PREFIX, dependencies=[Depends(refuse_hostile_values)])
    for sub in DOMAIN_ROUTERS:
        router.include_router(sub)

    @router.get("/health", tags=["health"], summary="Liveness (as /health/live)")
    @router.get("/health/live", tags=["health"], summary="Liveness: the process answers")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/health/ready",
        tags=["health"],
        summary="Readiness: the database and the broker answer (503 with Retry-After if not)",
        responses={
            503: {
                "description": "a dependency is down; see Retry-After",
                "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
            }
        },
    )
    def ready(ctx: CtxDep) -> dict[str, str]:
        return check_ready(ctx)

    return router


def install_docs(app: FastAPI) -> None:
    """``/docs``: Swagger UI from the ``swagger-ui-bundle`` package, served by this server."""
    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
        )


async def _every(seconds: float, work: Callable[[], object], failed: str, *, now: bool) -> None:
    """Run ``work`` in a thread every ``seconds``, at once first with ``now``: the in-process
    twin of a beat entry. A failure is logged and the work retried next time."""
    if not now:
        await asyncio.sleep(seconds)
    while True:
        try:
            await anyio.to_thread.run_sync(work)
        except Exception:
            log.exception(failed)
        await asyncio.sleep(seconds)


async def _settle_held_reviews(ctx: AppContext) -> None:
    """The in-process twin of beat's ``vigil.settle_reviews``: held decisions take effect on
    time even when nobody is looking. Not run on one shared test connection (no threads)."""
    if not isinstance(ctx.database.bind, Engine):
        return
    # One failure (a locked database) is retried a second later.
    work = functools.partial(settle_due_now, ctx)
    await _every(
        worker.SETTLE_EVERY_SECONDS, work, "settling held review decisions failed", now=False
    )


async def _keep_partitions_ahead(ctx: AppContext) -> None:
    """The in-process twin of beat's ``vigil.add_partitions``: at start, then daily (on
    PostgreSQL; SQLite has no partitions)."""
    if not isinstance(ctx.database.bind, Engine) or ctx.database.dialect != "postgresql":
        return
    # A failure is retried tomorrow; months are kept three ahead.
    work = functools.partial(keep_ahead, ctx.database)
    failed = "adding the audit log's monthly partitions failed"
    await _every(PARTITIONS_EVERY_SECONDS, work, failed, now=True)


def create_app(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    context: AppContext | None = None,
) -> FastAPI:
    """Build the API for ``settings`` (from the environment when left out).

    ``database`` replaces the engine made from ``DATABASE_URL`` (tests bind one
    connection); ``context`` replaces everything. The schema is not created here:
    run ``api.db.upgrade(settings)`` (``vigil db upgrade``) first.
    """
    if context is None:
        settings = (settings or Settings()).with_keys()
        database = database or Database.from_url(settings.resolved_database_url)
        context = AppContext(settings=settings, database=database)
    ctx = context
    worker.configure(ctx.settings)
    worker.bind_context(ctx)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if not ctx.settings.eager_tasks:
            yield  # Celery beat runs the periodic tasks
            return
        # No separate worker: pick up photos a crash left unread, once at start, and
        # run beat's periodic settling here.
        try:
            await anyio.to_thread.run_sync(sweep, ctx)
        except Exception:
            log.exception("start-up sweep failed")
        task = asyncio.create_task(_settle_held_reviews(ctx))
        partitions = asyncio.create_task(_keep_partitions_ahead(ctx))
        # The outbox's in-process sender (beat's ``vigil.deliver_outbox`` elsewhere); one
        # shared test connection has no threads to spare, as for settling.
        delivery = (
            DeliveryLoop(ctx, transports(OutboxSettings())).start()
            if isinstance(ctx.database.bind, Engine)
            else None
        )
        try:
            yield
        finally:
            task.cancel()
            partitions.cancel()
            if delivery is not None:
                await anyio.to_thread.run_sync(delivery.stop)

    app = FastAPI(
        title="Vigil",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        # The docs page is served below from local files: no scripts from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.ctx = ctx
    install_handlers(app)
    install_metrics(app, ctx.settings)
    set_webhook_backlog_source(webhook_backlog(ctx))
    set_audit_months_ahead_source(months_ahead_source(ctx.database))
    # A product registration carries two documents; a photo upload one photo.
    largest = max(ctx.settings.max_upload_bytes, ctx.settings.max_document_bytes)
    app.add_middleware(
        SecurityHeaders,
        api_prefix=API_PREFIX,
        https=ctx.settings.public_base_url.startswith("https://"),
    )
    app.add_middleware(
        BodyGuard,
        max_bytes=2 * largest + 1024 * 1024,
        max_json_bytes=ctx.settings.max_document_bytes,
    )
    app.add_middleware(RefusalLog, ctx=ctx, api_prefix=API_PREFIX)
    # Outermost: a request waits for its turn before any other layer works on it.
    app.add_middleware(AdmissionLimit)
    app.include_router(api_router())
    install_docs(app)
    document_errors(
        app,
        [(API_PREFIX, r) for sub in DOMAIN_ROUTERS for r in sub.routes if isinstance(r, APIRoute)],
    )
    return app
