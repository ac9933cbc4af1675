"""The code mapping, for operators (thin: the service does the work)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from api.deps import Operator, SessionDep
from api.interop import service
from api.interop.schemas import (
    CodeBindingChange,
    CodeBindingIn,
    CodeBindingOut,
    Result,
    ResultCodeIn,
    ResultCodeOut,
)
from api.pagination import Page, PagerDep
from api.public_ids import CODE_BINDING, CodeBindingPath, encode

router = APIRouter(prefix="/codes", tags=["code mapping"])

REFUSED: dict[int | str, dict[str, Any]] = {
    422: {"description": "a malformed code, or a LOINC code without its name the first time"}
}


@router.get(
    "/test-items",
    response_model=Page[CodeBindingOut],
    summary="Test items and analytes bound to LOINC codes",
)
def list_bindings(session: SessionDep, _user: Operator, page: PagerDep) -> Page[CodeBindingOut]:
    return page.page(service.list_bindings(session, page.window), lambda b: (b.id,))


@router.post(
    "/test-items",
    response_model=CodeBindingOut,
    status_code=status.HTTP_201_CREATED,
    summary="Bind a test item or analyte name (for one product or any) to a LOINC code",
    responses={**REFUSED, 409: {"description": "the name is already bound for these products"}},
)
def add_binding(
    session: SessionDep, user: Operator, body: CodeBindingIn, response: Response
) -> CodeBindingOut:
    """From then on every message for a matching test carries that code (a name without a
    binding is sent as text, with a note that no code is known)."""
    binding = service.add_binding(session, user, body)
    response.headers["Location"] = f"/api/codes/test-items/{encode(CODE_BINDING, binding.id)}"
    return binding


@router.get("/test-items/{binding_id}", response_model=CodeBindingOut, summary="One binding")
def get_binding(
    session: SessionDep, _user: Operator, binding_id: CodeBindingPath
) -> CodeBindingOut:
    return service.get_binding(session, binding_id)


@router.patch(
    "/test-items/{binding_id}",
    response_model=CodeBindingOut,
    summary="Bind the name to another LOINC code",
    responses=REFUSED,
)
def change_binding(
    session: SessionDep, user: Operator, binding_id: CodeBindingPath, body: CodeBindingChange
) -> CodeBindingOut:
    return service.change_binding(session, user, binding_id, body)


@router.get(
    "/results",
    response_model=Page[ResultCodeOut],
    summary="Confirmed results as SNOMED CT codes",
)
def list_result_codes(session: SessionDep, _user: Operator, page: PagerDep) -> Page[ResultCodeOut]:
    def position(row: ResultCodeOut) -> tuple[str]:
        return (row.result,)

    return page.page(page.window.take(service.list_result_codes(session), position), position)


@router.put(
    "/results/{result}",
    response_model=ResultCodeOut,
    summary="Change the SNOMED CT code a confirmed result is sent as",
    responses=REFUSED,
)
def set_result_code(
    session: SessionDep, user: Operator, result: Result, body: ResultCodeIn
) -> ResultCodeOut:
    return service.set_result_code(session, user, result, body)
