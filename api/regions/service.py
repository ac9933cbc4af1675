"""Region look-ups the services need, on top of the GeoJSON index."""

from __future__ import annotations

from api.context import AppContext
from api.errors import InvalidError
from api.regions.schemas import RegionOut


def require_region(ctx: AppContext, code: str, field: str = "region_code") -> str:
    """``code`` if the region index knows it, else a 422 naming ``field``."""
    if not ctx.regions.has(code):
        raise InvalidError(f"{field}: unknown region code '{code}'")
    return code


def locate(ctx: AppContext, latitude: float, longitude: float) -> str:
    """The smallest region containing the point.

    Raises
    ------
    InvalidError
        When the point lies outside every region this server covers.
    """
    code = ctx.regions.locate(latitude, longitude)
    if code is None:
        raise InvalidError(
            f"location ({latitude:.5f}, {longitude:.5f}) is outside the regions this service covers"
        )
    return code


def region_out(ctx: AppContext, code: str) -> RegionOut:
    index = ctx.regions
    return RegionOut(
        code=code,
        name=index.name(code),
        level=index.level(code),
        parent=index.parent(code),
        population=index.population(code),
    )
