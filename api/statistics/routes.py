from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.deps import CtxDep, ScopeDep, SessionDep, StatsViewer
from api.statistics import service
from api.statistics.schemas import Summary, Table

router = APIRouter(prefix="/statistics", tags=["statistics"])

DEFAULT_DAYS = 30

Since = Annotated[
    date | None, Query(description="first day of test (YYYY-MM-DD); 30 days before until")
]
Until = Annotated[date | None, Query(description="last day of test (YYYY-MM-DD); today")]
Level = Annotated[
    str | None, Query(max_length=40, description="regions at this level (default: the deepest)")
]
Region = Annotated[str | None, Query(max_length=32, description="only this region and below")]
Product = Annotated[str | None, Query(max_length=64, description="only this product (its code)")]


def _period(since: date | None, until: date | None) -> tuple[date, date]:
    until = until or datetime.now(UTC).date()
    return since or until - timedelta(days=DEFAULT_DAYS - 1), until


@router.get(
    "",
    response_model=Summary,
    summary="Tests by day, region, product and lot; positivity with its 95 % interval, rates "
    "per 100,000, the last 7 days against the 7 before, turnaround, retakes, reads by eye",
)
def statistics(
    session: SessionDep,
    ctx: CtxDep,
    _user: StatsViewer,
    scope: ScopeDep,
    since: Since = None,
    until: Until = None,
    level: Level = None,
    region: Region = None,
    product: Product = None,
) -> Summary:
    first, last = _period(since, until)
    return service.summary(
        session, ctx, scope, first, last, level=level, region=region, product=product
    )


@router.get(
    "/{table}.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
    summary="One table of the statistics (days, areas, products or lots) as CSV",
)
def statistics_csv(
    session: SessionDep,
    ctx: CtxDep,
    _user: StatsViewer,
    scope: ScopeDep,
    table: Table,
    since: Since = None,
    until: Until = None,
    level: Level = None,
    region: Region = None,
    product: Product = None,
) -> Response:
    first, last = _period(since, until)
    stats = service.summary(
        session, ctx, scope, first, last, level=level, region=region, product=product
    )
    return Response(
        service.table_csv(stats, table),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="vigil-{table}.csv"'},
    )
