from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.accounts.schemas import Password, Username
from api.public_ids import CdcOfficeId, DocumentId, InstitutionId, ManufacturerId

Text200 = Annotated[str, Field(min_length=1, max_length=200)]
CertificateNo = Annotated[str, Field(min_length=3, max_length=100, pattern=r"^[^\s].*[^\s]$")]


class ManufacturerSignUp(BaseModel):
    """A manufacturer's application, with the account it will log in with."""

    model_config = ConfigDict(extra="forbid")

    name: Text200
    business_licence_no: Annotated[
        str, Field(min_length=5, max_length=64, pattern=r"^[0-9A-Za-z-]+$")
    ]
    device_certificates: Annotated[
        list[CertificateNo],
        Field(min_length=1, max_length=100, description="medical-device registration certificates"),
    ]
    contact_email: Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
    username: Username
    password: Password


class DocumentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: DocumentId
    kind: str
    filename: str
    content_type: str
    sha256: str
    size_bytes: int
    uploaded_at: datetime


class ManufacturerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: ManufacturerId
    name: str
    business_licence_no: str
    device_certificates: list[str]
    contact_email: str
    status: Literal["unconfirmed", "pending", "approved", "rejected"]
    review_reason: str | None
    reviewed_at: datetime | None
    created_at: datetime


class ManufacturerDetail(ManufacturerOut):
    documents: list[DocumentOut]


class ManufacturerReview(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject"]
    reason: Annotated[str, Field(max_length=2000)] | None = Field(
        None, description="required when rejecting"
    )


class InstitutionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text200
    region_code: Annotated[str, Field(min_length=1, max_length=32)]
    address: Annotated[str, Field(min_length=1, max_length=500)]


class InstitutionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: InstitutionId
    name: str
    region_code: str
    address: str


class CdcOfficeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text200
    region_code: Annotated[str, Field(min_length=1, max_length=32)]


class CdcOfficeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: CdcOfficeId
    name: str
    region_code: str
