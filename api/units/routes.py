from __future__ import annotations

from fastapi import APIRouter

from api.deps import SessionDep
from api.units import service
from api.units.schemas import UnitLookup

router = APIRouter(prefix="/units", tags=["units"])


@router.get(
    "/{code}",
    response_model=UnitLookup,
    summary="Step 4: look a unit code up (public: product, lot, expiry, state; no person)",
)
def look_up(session: SessionDep, code: str) -> UnitLookup:
    return service.lookup(session, code)
