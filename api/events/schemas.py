from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, field_serializer

from api.public_ids import TEST, EventId, encode

# The record ids events carry in their payloads, by key.
_PAYLOAD_IDS = {"test_id": TEST}


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: EventId
    kind: str
    region_code: str
    payload: dict[str, Any]
    created_at: datetime

    @field_serializer("payload", when_used="json")
    def _public_payload(self, payload: dict[str, Any]) -> dict[str, Any]:
        # Payloads are stored with record ids; clients see the public ids.
        return {
            k: encode(_PAYLOAD_IDS[k], v) if k in _PAYLOAD_IDS and isinstance(v, int) else v
            for k, v in payload.items()
        }


class StreamTokenOut(BaseModel):
    """Pass as ``?stream_token=`` to ``/api/events/stream``; only to connect, not to read on."""

    stream_token: str
    expires_at: datetime
