"""The CDC's live view: feed, map, charts, table, CSV, and the patient page of a positive.

Every figure comes from ``api.reports.service`` with the officer's scope, so the
pages can show no more than the JSON API would. The live feed is the API's event
stream (``api.events.service.stream``) served under the page session, since a
browser's ``EventSource`` cannot send a bearer token.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Header, Query, Request
from markupsafe import Markup
from sqlalchemy.orm import Session
from sse_starlette import EventSourceResponse
from starlette.responses import Response

from api.accounts.schemas import Principal
from api.context import AppContext
from api.deps import CtxDep, SessionDep
from api.errors import NotFoundError
from api.events import service as events
from api.events.schemas import EventOut
from api.organisations.tables import CdcOffice
from api.public_ids import EVENT, TEST, TestPath, decode, encode
from api.reports import service as reports
from api.scope import Scope, scope_for
from api.timestamps import rfc3339
from review_ui.cdc import view
from review_ui.charts import choropleth, count_format
from review_ui.session import CdcPage, page_router
from review_ui.templating import render

router = page_router(prefix="/cdc", tags=["cdc pages"])

FEED_KINDS = (events.TEST_STARTED, events.POSITIVE_REPORTED)
FEED_SIZE = 25
POSITIVES_SHOWN = 50


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


def _office(session: Session, user: Principal) -> CdcOffice | None:
    return session.get(CdcOffice, user.cdc_office_id) if user.cdc_office_id else None


def _dashboard(
    request: Request, session: Session, ctx: AppContext, user: Principal
) -> dict[str, Any]:
    scope = scope_for(session, ctx, user)
    regions = ctx.regions
    products = reports.product_codes(session)
    filters = view.parse_filters(
        dict(request.query_params), regions=regions, scope=scope, products=products
    )
    shown = view.narrowed_scope(regions, scope, filters.region)
    stats = reports.statistics(
        session,
        ctx,
        shown,
        filters.since_dt,
        filters.until_dt,
        level=filters.level,
        product_code=filters.product,
    )
    all_rows = view.filter_rows(view.table_rows(stats, regions), filters)
    rows = view.sort_rows(all_rows, filters.sort, filters.order)
    positives = reports.positive_briefs(
        session, ctx, shown, filters.since_dt, filters.until_dt, POSITIVES_SHOWN, filters.product
    )
    region_choices = [
        (code, "\u2003" * (view.LEVELS.index(regions.level(code))) + regions.name(code))
        for code in view.scope_codes(regions, scope)
    ]
    return {
        "filters": filters,
        "stats": stats,
        "rows": rows[: view.TABLE_LIMIT],
        "row_count": len(rows),
        "table_limit": view.TABLE_LIMIT,
        "columns": view.COLUMNS,
        "charts": {k: Markup(v) for k, v in view.build_charts(stats, filters, regions).items()},
        "map_svg": Markup(
            view.build_map(
                stats,
                filters,
                regions,
                shown,
                href=lambda code: "/cdc?" + filters.query(region=code) + "#cdc-panel",
            )
        ),
        "positives": positives,
        "products": products,
        "levels": view.scope_levels(regions, scope),
        "metrics": view.METRICS,
        "region_choices": region_choices,
        "region_name": regions.name(filters.region) if filters.region else None,
        "csv_url": "/cdc/table.csv?" + filters.query(),
        "panel_url": "/cdc/panel?" + filters.query(),
    }


@router.get("")
def live_view(request: Request, session: SessionDep, ctx: CtxDep, user: CdcPage) -> Response:
    scope = scope_for(session, ctx, user)
    session.commit()  # the events below are read in sessions of their own
    # The stream starts after the newest event now, so nothing falls between the
    # events listed here and the first one streamed.
    start = events.latest_id(ctx)
    feed = [feed_item(ctx, e) for e in events.recent(ctx, scope, FEED_SIZE, FEED_KINDS)]
    office = _office(session, user)
    context = _dashboard(request, session, ctx, user)
    context.update(
        {
            "office": office,
            "office_region": ctx.regions.name(office.region_code) if office else None,
            "feed": feed,
            "stream_url": f"/cdc/stream?after_id={start}",
        }
    )
    return render(request, "cdc/live.html", context, user=user)


@router.get("/panel")
def panel(request: Request, session: SessionDep, ctx: CtxDep, user: CdcPage) -> Response:
    """The figures alone (map, charts, positives, table): htmx swaps them in when a positive
    arrives or the filters change."""
    return render(request, "cdc/_panel.html", _dashboard(request, session, ctx, user), user=user)


@router.get("/table.csv")
def table_csv(request: Request, session: SessionDep, ctx: CtxDep, user: CdcPage) -> Response:
    """The table as shown (same filters, same order), every row."""
    scope = scope_for(session, ctx, user)
    filters = view.parse_filters(
        dict(request.query_params),
        regions=ctx.regions,
        scope=scope,
        products=reports.product_codes(session),
    )
    shown = view.narrowed_scope(ctx.regions, scope, filters.region)
    stats = reports.statistics(
        session,
        ctx,
        shown,
        filters.since_dt,
        filters.until_dt,
        level=filters.level,
        product_code=filters.product,
    )
    rows = view.sort_rows(
        view.filter_rows(view.table_rows(stats, ctx.regions), filters), filters.sort, filters.order
    )
    name = f"vigil-{filters.since.isoformat()}-{filters.until.isoformat()}.csv"
    return Response(
        view.table_csv(rows),
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
    cursor = events.start_cursor(ctx, last_event_id, after_id)
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
