from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.audit import queries
from api.audit.schemas import AuditEntryOut, stored_object_id
from api.deps import Operator, SessionDep
from api.pagination import Page, PagerDep
from api.public_ids import UserRef

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", response_model=Page[AuditEntryOut], summary="Read the audit log (newest first)")
def list_audit(
    session: SessionDep,
    _user: Operator,
    page: PagerDep,
    action: Annotated[str | None, Query(max_length=100)] = None,
    object_type: Annotated[str | None, Query(max_length=100)] = None,
    object_id: Annotated[str | None, Query(max_length=200)] = None,
    actor_id: Annotated[UserRef | None, Query()] = None,
) -> Page[AuditEntryOut]:
    rows = queries.entries(
        session,
        action=action,
        object_type=object_type,
        object_id=stored_object_id(object_id) if object_id else None,
        actor_id=actor_id,
        before_id=page.after_value(),
        limit=page.limit + 1,
    )
    return page.page(rows, lambda e: (e.id,), AuditEntryOut.model_validate)
