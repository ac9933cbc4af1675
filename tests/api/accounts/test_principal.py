"""Who is signed in, as pages and services see it: a frozen read model, not the account row."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.accounts import service as accounts
from api.accounts.schemas import Principal, Role
from api.audit.tables import AuditEntry
from api.context import AppContext
from api.scope import scope_for


def test_signing_in_opens_a_session_and_hands_back_a_frozen_principal(
    session: Session, ctx: AppContext, world: Any
) -> None:
    row = world.clinician_a
    signed_in = accounts.sign_in(session, ctx, row.username, "correct horse battery", via="page")
    who = signed_in.principal
    assert isinstance(who, Principal)
    assert (who.id, who.role, who.institution_id) == (row.id, Role.clinician, row.institution_id)
    assert accounts.principal_for_token(session, ctx, signed_in.token) == who
    assert accounts.principal_for_token(session, ctx, "made-up") is None
    with pytest.raises(ValidationError):
        who.role = Role.operator  # type: ignore[misc]  # a page cannot promote anyone
    entry = session.scalar(
        select(AuditEntry).where(AuditEntry.action == "log_in", AuditEntry.actor_id == row.id)
    )
    assert entry is not None
    assert entry.detail == {"via": "page"}


def test_services_take_the_principal_where_they_took_the_row(
    session: Session, ctx: AppContext, world: Any
) -> None:
    """One service serves the pages (a Principal) and the API (the row) alike."""
    for row in (world.clinician_a, world.clinician_b):
        principal = accounts.principal(row)
        assert scope_for(session, ctx, principal) == scope_for(session, ctx, row)
        assert scope_for(session, ctx, principal).regions
