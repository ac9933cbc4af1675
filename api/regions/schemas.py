from __future__ import annotations

from pydantic import BaseModel, Field


class RegionOut(BaseModel):
    code: str
    name: str
    level: str
    parent: str | None
    population: int | None = Field(
        None, description="people living there (the sum of its parts when not given)"
    )


class LocateOut(BaseModel):
    region: RegionOut
    ancestors: list[RegionOut]
