from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from api.public_ids import EventId


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: EventId
    kind: str
    region_code: str
    payload: dict[str, Any]
    created_at: datetime


class StreamTokenOut(BaseModel):
    """Pass as ``?stream_token=`` to ``/api/events/stream``; only to connect, not to read on."""

    stream_token: str
    expires_at: datetime
