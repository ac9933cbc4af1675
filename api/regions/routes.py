from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import CtxDep
from api.pagination import Page, PagerDep
from api.regions.schemas import LocateOut, RegionOut
from api.regions.service import locate, region_out

router = APIRouter(prefix="/regions", tags=["regions"])


@router.get("", response_model=Page[RegionOut], summary="The regions this service covers")
def list_regions(ctx: CtxDep, page: PagerDep) -> Page[RegionOut]:
    return page.listed([region_out(ctx, code) for code in ctx.regions.codes()])


@router.get("/geojson", summary="The regions' polygons (GeoJSON)")
def regions_geojson(ctx: CtxDep) -> dict[str, Any]:
    geojson: dict[str, Any] = ctx.regions.to_geojson()
    return geojson


@router.get("/locate", response_model=LocateOut, summary="The region of a point")
def locate_point(
    ctx: CtxDep,
    latitude: Annotated[float, Query(ge=-90, le=90)],
    longitude: Annotated[float, Query(ge=-180, le=180)],
) -> LocateOut:
    code = locate(ctx, latitude, longitude)
    return LocateOut(
        region=region_out(ctx, code),
        ancestors=[region_out(ctx, c) for c in ctx.regions.ancestors(code)],
    )
