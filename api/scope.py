"""Where an account may look: the regions of its institution or CDC office."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from api.accounts.schemas import Caller
from api.accounts.tables import Role
from api.context import AppContext
from api.errors import NotFoundError
from api.organisations.tables import CdcOffice, Institution


@dataclass(frozen=True)
class Scope:
    """A set of region codes, or ``None`` for everywhere (national)."""

    regions: frozenset[str] | None

    def allows(self, region_code: str) -> bool:
        return self.regions is None or region_code in self.regions

    def check(self, region_code: str, what: str = "this record") -> None:
        if not self.allows(region_code):
            # 404, not 403: a caller learns nothing of records outside their regions.
            raise NotFoundError(f"{what} does not exist or is not yours to see")


def region_and_below(ctx: AppContext, code: str) -> frozenset[str]:
    return frozenset({code, *ctx.regions.descendants(code)})


def scope_for(session: Session, ctx: AppContext, user: Caller) -> Scope:
    """The regions ``user`` may see.

    A clinician sees the region of their institution; a CDC officer sees the
    region of their office and everything under it (a national office sees all).
    """
    if user.role == Role.clinician and user.institution_id is not None:
        institution = session.get(Institution, user.institution_id)
        if institution is not None:
            return Scope(frozenset({institution.region_code}))
    if user.role == Role.cdc_officer and user.cdc_office_id is not None:
        office = session.get(CdcOffice, user.cdc_office_id)
        if office is not None:
            return Scope(region_and_below(ctx, office.region_code))
    if user.role in (Role.operator, Role.data_scientist):
        return Scope(None)
    # Staff without an organisation see nothing rather than everything.
    return Scope(frozenset())
