"""Confirmed cases for data scientists: the versioned export and drift per lot (thin)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import ValidationError

from api.datasets import drift as drift_service
from api.datasets import service
from api.datasets.schemas import DriftOut, ExportSelection
from api.db.base import utcnow
from api.deps import CtxDep, DataScientist, SessionDep
from api.errors import InvalidError

router = APIRouter(prefix="/datasets", tags=["datasets"])


@router.get(
    "/confirmed-cases.zip",
    summary="Export confirmed cases as a versioned dataset (training/dataset_format.md)",
    response_class=Response,
    responses={
        200: {
            "content": {"application/zip": {}},
            "description": "the dataset; X-Content-SHA256 is its content hash",
        },
        422: {"description": "a bad selection"},
    },
)
def confirmed_cases(
    session: SessionDep,
    ctx: CtxDep,
    user: DataScientist,
    since: date | None = None,
    until: date | None = None,
    product: Annotated[list[str] | None, Query(description="product code (repeat)")] = None,
    region: Annotated[list[str] | None, Query(description="region code (repeat)")] = None,
) -> Response:
    try:
        selection = ExportSelection(
            since=since, until=until, products=product or [], regions=region or []
        )
    except ValidationError as exc:
        raise InvalidError(f"selection: {exc.errors()[0]['msg']}") from None
    built = service.export(session, ctx, user, selection)
    headers = {
        "Content-Disposition": f'attachment; filename="{built.version}.zip"',
        "X-Content-SHA256": built.content_hash,
    }
    return Response(built.zip_bytes(), media_type="application/zip", headers=headers)


@router.get("/drift", response_model=DriftOut, summary="Per product and lot: drift and alerts")
def drift(
    session: SessionDep,
    _user: DataScientist,
    since: Annotated[date | None, Query(description="default: 12 weeks ago")] = None,
) -> DriftOut:
    return drift_service.drift(session, since or utcnow().date() - timedelta(weeks=12))
