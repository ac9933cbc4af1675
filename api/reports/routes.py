from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.deps import CdcOfficer, CtxDep, HealthStaff, ScopeDep, SessionDep, StatsViewer
from api.reports import service
from api.reports.schemas import PositiveCase, ReportOut, Statistics

router = APIRouter(tags=["reports"])

Since = Annotated[datetime | None, Query(description="released at or after (ISO 8601)")]
Until = Annotated[datetime | None, Query(description="released before (ISO 8601)")]
Level = Annotated[
    str | None,
    Query(max_length=40, description="count regions at this level (e.g. province) instead"),
]
ProductCode = Annotated[
    str | None, Query(max_length=64, description="count only this product (its product code)")
]


@router.get(
    "/reports",
    response_model=list[ReportOut],
    summary="Step 9: reports addressed to the caller's CDC office or medical institution",
)
def list_reports(
    session: SessionDep,
    user: HealthStaff,
    after_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[ReportOut]:
    return service.reports(session, user, after_id, limit)


@router.get(
    "/cdc/positives",
    response_model=list[PositiveCase],
    summary="Step 10: confirmed positives in scope, with the patient details needed to act",
)
def list_positives(
    session: SessionDep,
    ctx: CtxDep,
    user: CdcOfficer,
    scope: ScopeDep,
    since: Since = None,
    until: Until = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[PositiveCase]:
    cases = service.positives(session, ctx, user, scope, since, until, limit)
    return cases


@router.get(
    "/stats",
    response_model=Statistics,
    summary="Step 10: counts by day, region, product and result; positivity rate",
)
def statistics(
    session: SessionDep,
    ctx: CtxDep,
    _user: StatsViewer,
    scope: ScopeDep,
    since: Since = None,
    until: Until = None,
    level: Level = None,
    product: ProductCode = None,
) -> Statistics:
    return service.statistics(session, ctx, scope, since, until, level, product)


@router.get(
    "/stats.csv",
    response_class=Response,
    summary="Step 10: the same counts as CSV (one row per day, region, product and result)",
)
def statistics_csv(
    session: SessionDep,
    ctx: CtxDep,
    _user: StatsViewer,
    scope: ScopeDep,
    since: Since = None,
    until: Until = None,
    level: Level = None,
    product: ProductCode = None,
) -> Response:
    stats = service.statistics(session, ctx, scope, since, until, level, product)
    return Response(
        service.statistics_csv(stats, ctx),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="statistics.csv"'},
    )
