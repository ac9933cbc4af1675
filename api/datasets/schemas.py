"""What an export of confirmed cases is asked for, and what drift monitoring gives."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

CODE = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class ExportSelection(BaseModel):
    """Which confirmed cases to export (by the day the photo was taken, UTC)."""

    model_config = ConfigDict(extra="forbid")

    since: date | None = Field(None, description="photos taken on or after this day")
    until: date | None = Field(None, description="photos taken on or before this day")
    products: list[str] = Field(default_factory=list, max_length=100, description="product codes")
    regions: list[str] = Field(default_factory=list, max_length=500, description="region codes")

    @model_validator(mode="after")
    def _ordered(self) -> ExportSelection:
        if self.since and self.until and self.since > self.until:
            raise ValueError("since must not be after until")
        for code in (*self.products, *self.regions):
            if not code or len(code) > 64:
                raise ValueError(f"not a code: {code[:70]!r}")
        return self

    def parameters(self) -> dict[str, Any]:
        """The selection as the datasheet records it (sorted: same selection, same text)."""
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "products": sorted(set(self.products)),
            "regions": sorted(set(self.regions)),
        }


class ExportSummary(BaseModel):
    version: str = Field(description="confirmed-cases@<first 12 hex of the content hash>")
    content_hash: str
    n_cases: int
    files: int


class DriftSeries(BaseModel):
    """One product and lot: per ISO week and in total, with alerts beyond the usual range."""

    product_code: str
    lot: str
    weeks: list[dict[str, Any]]
    total: dict[str, Any]
    alerts: list[str]


class DriftOut(BaseModel):
    since: date
    series: list[DriftSeries]
