"""What the outbox's services take and return."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator

from api.public_ids import CdcOfficeRef, DeliveryId, InstitutionRef

Format = Literal["fhir", "hl7", "vigil-json"]
"""What an endpoint receives: a FHIR message Bundle, an HL7 ORU^R01, or Vigil's own JSON."""

CONTENT_TYPES: dict[str, str] = {
    "fhir": "application/fhir+json",
    "hl7": "x-application/hl7-v2+er7",
    "vigil-json": "application/json",
}

DeliveryStatus = Literal["pending", "delivered", "dead"]


class EndpointCreate(BaseModel):
    """A webhook endpoint for one CDC office or institution (exactly one of the two ids)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=100)]
    url: HttpUrl
    format: Format
    cdc_office_id: CdcOfficeRef | None = None
    institution_id: InstitutionRef | None = None
    scope_region_code: Annotated[str, Field(min_length=1, max_length=32)] | None = Field(
        default=None, description="the owner's region, or a region inside it; the owner's if unset"
    )

    @model_validator(mode="after")
    def _one_owner(self) -> EndpointCreate:
        if (self.cdc_office_id is None) == (self.institution_id is None):
            raise ValueError("give exactly one of cdc_office_id and institution_id")
        return self


class EndpointUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool


class EndpointOut(BaseModel):
    """An endpoint and its health."""

    id: str
    name: str
    url: str
    format: Format
    scope_region_code: str
    owner_kind: Literal["cdc_office", "institution"]
    owner_id: str = Field(description="the owner's id (a CDC office or institution id)")
    enabled: bool
    created_at: datetime
    last_success_at: datetime | None
    last_failure_at: datetime | None
    last_error: str | None
    consecutive_failures: int
    backlog: int = Field(description="deliveries not yet sent")
    dead_letters: int = Field(description="deliveries that gave up; resend them")


class SecretIssued(BaseModel):
    """A new signing secret, shown once; the previous one signs until ``previous_expires_at``."""

    endpoint: EndpointOut
    secret: str
    previous_expires_at: datetime | None


class DeliveryOut(BaseModel):
    """One message to one subscriber, as an operator sees it (no body, no address)."""

    id: DeliveryId
    message_id: str
    kind: str
    channel: str
    endpoint_id: str | None
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_attempt_at: datetime | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
