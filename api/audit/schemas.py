from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from api import public_ids
from api.public_ids import AuditId, UserId, encode


class AuditEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: AuditId
    at: datetime
    actor_id: UserId | None
    actor_role: str | None
    action: str
    object_type: str
    object_id: str = Field(description="the record's public id where it has one")
    detail: dict[str, Any]

    @field_serializer("object_id", when_used="json")
    def _public_object_id(self, value: str) -> str:
        # Stored as the record's number; shown as its public id, as everywhere else.
        kind = OBJECT_KINDS.get(self.object_type)
        return encode(kind, int(value)) if kind is not None and value.isdigit() else value


# The audited records that have public ids, by object_type.
OBJECT_KINDS = {
    "self_test": public_ids.TEST,
    "upload": public_ids.UPLOAD,
    "proposal": public_ids.PROPOSAL,
    "review": public_ids.REVIEW,
    "user": public_ids.USER,
    "patient": public_ids.PATIENT,
    "manufacturer": public_ids.MANUFACTURER,
    "product": public_ids.PRODUCT,
    "batch": public_ids.BATCH,
    "institution": public_ids.INSTITUTION,
    "cdc_office": public_ids.CDC_OFFICE,
    "outbox_delivery": public_ids.DELIVERY,
}


def stored_object_id(public: str) -> str:
    """The ``object_id`` as stored for a public id given as a filter (else as given)."""
    kind = public_ids.KINDS.get(public.partition("_")[0])
    number = public_ids.decode(kind, public) if kind is not None else None
    return public if number is None else str(number)
