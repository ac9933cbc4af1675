"""The CDC's page: headline figures, epidemic curve, map, charts with their tables and
downloads, the live feed beside them, and the patient page of a positive.

Every figure comes from ``api.statistics.service`` (grouped queries) with the officer's
scope, so the page can show no more than the JSON API would, and its downloads are the
same tables. The live feed is the API's event stream (``api.events.service.stream``)
served under the page session, since a browser's ``EventSource`` cannot send a bearer
token.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any, get_args

from fastapi import Header, Query, Request
from markupsafe import Markup
from sqlalchemy.orm import Session
from sse_starlette import EventSourceResponse
from starlette.responses import JSONResponse, Response

from api.context import AppContext
from api.deps import CtxDep, SessionDep
from api.errors import NotFoundError
from api.events import service as events
from api.events.schemas import EventOut
from api.organisations import service as organisations
from api.public_ids import EVENT, TEST, TestPath, decode, encode
from api.reports import service as reports
from api.scope import Scope, scope_for
from api.statistics import service as statistics
from api.statistics.schemas import Summary, Table
from api.timestamps import rfc3339
from review_ui.cdc import view
from review_ui.charts import choropleth, count_format
from review_ui.session import CdcPage, page_router
from review_ui.templating import render

router = page_router(prefix="/cdc", tags=["cdc pages"])

FEED_KINDS = (events.TEST_STARTED, events.POSITIVE_REPORTED)
FEED_SIZE = 25
POSITIVES_SHOWN = 50
TABLES = get_args(Table)  # each has a CSV download beside its chart


def case_url(test_id: int) -> str:
    return f"/cdc/cases/{encode(TEST, test_id)}"


def feed_item(ctx: AppContext, event: EventOut) -> dict[str, Any]:
    """What the page shows of an event (the same fields the stream sends)."""
    payload = event.payload
    positive = event.kind == events.POSITIVE_REPORTED
    shown = event.model_dump(mode="json")["payload"]  # with public ids, as the API shows it
    test_id = payload.get("test_id")
    return {
        "id": encode(EVENT, event.id),
        "kind": "positive" if positive else "started",
        "label": "Confirmed positive" if positive else "Active test started",
        "region_code": event.region_code,
        "region_name": ctx.regions.name(event.region_code)
        if ctx.regions.has(event.region_code)
        else event.region_code,
        "product_code": payload.get("product_code", ""),
        "lot_number": payload.get("lot_number", ""),
        "test_id": shown.get("test_id"),
        "at": rfc3339(event.created_at),
        "case_url": case_url(int(test_id)) if positive and test_id is not None else None,
    }


def _filters(request: Request, session: Session, ctx: AppContext, scope: Scope) -> view.Filters:
    return view.parse_filters(
        dict(request.query_params),
        regions=ctx.regions,
        scope=scope,
        products=reports.product_codes(session),
    )


def _summary(session: Session, ctx: AppContext, scope: Scope, filters: view.Filters) -> Summary:
    return statistics.summary(
        session,
        ctx,
        scope,
        filters.since,
        filters.until,
        level=filters.level,
        region=filters.region,
        product=filters.product,
    )


def _dashboard(
    request: Request, session: Session, ctx: AppContext, user: CdcPage
) -> dict[str, Any]:
    scope = scope_for(session, ctx, user)
    regions = ctx.regions
    filters = _filters(request, session, ctx, scope)
    stats = _summary(session, ctx, scope, filters)
    shown = statistics.narrowed(regions, scope, filters.region)
    since = datetime.combine(filters.since, time(), tzinfo=UTC)
    until = datetime.combine(filters.until + timedelta(days=1), time(), tzinfo=UTC)
    positives = reports.positive_briefs(
        session, ctx, shown, since, until, POSITIVES_SHOWN, filters.product
    )
    codes = view.scope_codes(regions, scope)
    top = min((view.LEVELS.index(regions.level(c)) for c in codes), default=0)
    region_choices = [
        (code, "\u2003" * (view.LEVELS.index(regions.level(code)) - top) + regions.name(code))
        for code in codes
    ]
    query = filters.query()
    return {
        "filters": filters,
        "stats": stats,
        "headlines": view.headlines(stats),
        "charts": {k: Markup(v) for k, v in view.build_charts(stats).items()},
        "map_svg": Markup(view.build_map(stats, regions, filters.metric)),
        "positives": positives,
        "products": reports.product_codes(session),
        "levels": statistics.levels_in(regions, scope),
        "metrics": view.METRICS,
        "region_choices": region_choices,
        "area_name": regions.name(filters.region)
        if filters.region
        else " and ".join(regions.name(c) for c in statistics.roots(regions, scope)) or "none",
        "csv_urls": {table: f"/cdc/statistics/{table}.csv?{query}" for table in TABLES},
        "json_url": f"/cdc/statistics.json?{query}",
        "panel_url": f"/cdc/panel?{query}",
        "region_url": lambda code: "/cdc?" + filters.query(region=code),
        "interval_text": view.interval_text,
    }


@router.get("")
def live_view(request: Request, session: SessionDep, ctx: CtxDep, user: CdcPage) -> Response:
    scope = scope_for(session, ctx, user)
    start, recent = events.feed_start(session, scope, FEED_SIZE, FEED_KINDS)
    office = (
        organisations.get_cdc_office(session, user.cdc_office_id) if user.cdc_office_id else None
    )
    context = _dashboard(request, session, ctx, user)
    context.update(
        {
            "office": office,
            "office_region": ctx.regions.name(office.region_code) if office else None,
            "feed": [feed_item(ctx, e) for e in recent],
            "stream_url": f"/cdc/stream?after_id={start}",
        }
    )
    return render(request, "cdc/live.html", context, user=user)


@router.get("/panel")
def panel(request: Request, session: SessionDep, ctx: CtxDep, user: CdcPage) -> Response:
    """The figures alone (headlines, charts, map, tables): htmx swaps them in when a
    positive arrives."""
    return render(request, "cdc/_panel.html", _dashboard(request, session, ctx, user), user=user)


@router.get("/statistics.json")
def statistics_json(request: Request, session: SessionDep, ctx: CtxDep, user: CdcPage) -> Response:
    """Every figure of the page for these filters, as the API's ``/api/statistics`` gives it."""
    scope = scope_for(session, ctx, user)
    stats = _summary(session, ctx, scope, _filters(request, session, ctx, scope))
    return JSONResponse(
        stats.model_dump(mode="json"),
        headers={
            "Content-Disposition": 'attachment; filename="vigil-statistics.json"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/statistics/{table}.csv")
def statistics_csv(
    request: Request, session: SessionDep, ctx: CtxDep, user: CdcPage, table: Table
) -> Response:
    """One table of the page (the one beside its chart) for these filters, every row."""
    scope = scope_for(session, ctx, user)
    filters = _filters(request, session, ctx, scope)
    stats = _summary(session, ctx, scope, filters)
    name = f"vigil-{table}-{filters.since.isoformat()}-{filters.until.isoformat()}.csv"
    return Response(
        statistics.table_csv(stats, table),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/stream")
def stream(
    request: Request,
    session: SessionDep,
    ctx: CtxDep,
    user: CdcPage,
    after_id: Annotated[int | None, Query(ge=0)] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> EventSourceResponse:
    """Server-sent events for the feed: tests started and positives in the officer's scope.

    A reconnecting browser sends ``Last-Event-ID``, which wins over ``after_id``.
    """
    scope = scope_for(session, ctx, user)
    cursor = events.start_cursor(session, last_event_id, after_id)
    return EventSourceResponse(_feed_stream(request, ctx, scope, cursor), ping=15, send_timeout=30)


async def _feed_stream(
    request: Request, ctx: AppContext, scope: Scope, cursor: events.Cursor
) -> AsyncIterator[dict[str, str]]:
    async for message in events.stream(request, ctx, scope, cursor, None):
        if message.get("event") not in FEED_KINDS:
            continue
        data = json.loads(message["data"])
        payload = {k: v for k, v in data.items() if k not in EventOut.model_fields}
        if isinstance(payload.get("test_id"), str):  # the stream shows public ids
            payload["test_id"] = decode(TEST, payload["test_id"])
        event = EventOut(
            id=decode(EVENT, data["id"]) or 0,
            kind=message["event"],
            region_code=data["region_code"],
            payload=payload,
            created_at=data["created_at"],
        )
        yield {
            "id": message["id"],
            "event": message["event"],
            "data": json.dumps(feed_item(ctx, event)),
        }


@router.get("/cases/{test_id}")
def patient_case(
    request: Request, session: SessionDep, ctx: CtxDep, user: CdcPage, test_id: TestPath
) -> Response:
    """The patient behind a confirmed positive; every view is written to the audit log."""
    scope = scope_for(session, ctx, user)
    try:
        with session.begin_nested():  # a refusal undoes what the action wrote
            detail = reports.patient_case(session, ctx, user, scope, test_id)
    except NotFoundError as exc:  # also outside the office's regions: as if absent
        return render(
            request,
            "error.html",
            {"title": "No such case", "message": exc.detail},
            user=user,
            status_code=404,
        )
    case = detail.case
    location_map = _location_map(ctx, case.region_code, case.latitude, case.longitude)
    return render(
        request,
        "cdc/case.html",
        {
            "detail": detail,
            "case": case,
            "location_map": Markup(location_map) if location_map else None,
        },
        user=user,
    )


def _location_map(ctx: AppContext, region_code: str, latitude: float, longitude: float) -> str:
    """The patient's region with a marker where the test was scanned."""
    features = view.region_features(ctx.regions, [region_code])
    if not features["features"]:
        return ""
    return choropleth(
        features,
        {region_code: 0.0},
        title=f"Where the test was scanned, in {ctx.regions.name(region_code)}",
        value_label="",
        chart_id="case-map",
        value_format=count_format,
        markers=[(latitude, longitude, "Test scanned here")],
        legend=False,
        labels=False,
        width=360,
        height=300,
    )
