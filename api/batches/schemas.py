from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response, StreamingResponse

from api.public_ids import BatchId, ProductId, ProductRef


class BatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: ProductRef
    lot_number: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z._/-]+$")]
    quantity: Annotated[int, Field(ge=1)]
    expiry_date: date


class BatchOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: BatchId
    product_id: ProductId
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


ExportKind = Literal["codes.csv", "qr.zip", "labels.pdf"]


@dataclass(frozen=True)
class BatchExport:
    """A download of a batch's unit codes: CSV, a ZIP of QR images, or a label sheet."""

    filename: str
    media_type: str
    content: bytes | Iterator[bytes]

    def response(self) -> Response:
        """The download as an HTTP answer (never cached: the codes are the kit's secrets)."""
        headers = {
            "Content-Disposition": f'attachment; filename="{self.filename}"',
            "Cache-Control": "no-store",
        }
        if isinstance(self.content, bytes):
            return Response(self.content, media_type=self.media_type, headers=headers)
        return StreamingResponse(self.content, media_type=self.media_type, headers=headers)
