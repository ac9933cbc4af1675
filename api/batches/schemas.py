from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class BatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: int
    lot_number: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z._/-]+$")]
    quantity: Annotated[int, Field(ge=1)]
    expiry_date: date


class BatchOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    product_id: int
    lot_number: str
    quantity: int
    expiry_date: date
    created_at: datetime
    units: dict[str, int] = Field(
        default_factory=dict, description="units by state (unused, in_use, used, expired, revoked)"
    )


class BatchRevoke(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, Field(min_length=3, max_length=1000)]
    serials: Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=1)] | None = Field(
        None, description="units to revoke; the whole batch when left out"
    )


class RevokeOut(BaseModel):
    revoked: int
