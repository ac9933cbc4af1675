from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from api.public_ids import AuditId, UserId


class AuditEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: AuditId
    at: datetime
    actor_id: UserId | None
    actor_role: str | None
    action: str
    object_type: str
    object_id: str
    detail: dict[str, Any]
