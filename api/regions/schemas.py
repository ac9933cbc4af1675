from __future__ import annotations

from pydantic import BaseModel


class RegionOut(BaseModel):
    code: str
    name: str
    level: str
    parent: str | None


class LocateOut(BaseModel):
    region: RegionOut
    ancestors: list[RegionOut]
