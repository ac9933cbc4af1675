from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.audit import queries
from api.audit.schemas import AuditEntryOut
from api.deps import Operator, SessionDep

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", response_model=list[AuditEntryOut], summary="Read the audit log (newest first)")
def list_audit(
    session: SessionDep,
    _user: Operator,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    actor_id: int | None = None,
    before_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditEntryOut]:
    rows = queries.entries(
        session,
        action=action,
        object_type=object_type,
        object_id=object_id,
        actor_id=actor_id,
        before_id=before_id,
        limit=limit,
    )
    return [AuditEntryOut.model_validate(row) for row in rows]
