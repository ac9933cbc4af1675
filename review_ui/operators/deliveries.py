"""Operator pages for delivery to agencies: webhook endpoints with their health, each
endpoint's dead letters with a button to resend them, and the standard-code mapping.

Everything goes through the API's services (``api.outbox.service``, ``api.interop.service``):
a resend here is the same use case, with the same audit entry, as
``POST /api/webhooks/deliveries/{id}/resend``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Query, Request
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from api.accounts.schemas import Principal
from api.deps import SessionDep
from api.errors import DomainError
from api.interop import service as codes
from api.interop.schemas import CodeBindingChange, CodeBindingIn, Result, ResultCodeIn
from api.outbox import service as outbox
from api.public_ids import DELIVERY, CodeBindingPath, DeliveryPath, encode
from review_ui.manufacturers.forms import domain_message, validation_messages
from review_ui.session import OperatorPage, page_router
from review_ui.templating import error_page, render

router = page_router(prefix="/operator", tags=["operator pages"])

DEAD_LETTERS_PER_PAGE = 50
"""Dead letters shown at once; a "next" link pages on by delivery number."""

OWNER_KINDS = {"cdc_office": "CDC office", "institution": "Medical institution"}


@router.get("/deliveries")
def endpoints(request: Request, session: SessionDep, user: OperatorPage) -> Response:
    return render(
        request,
        "operators/deliveries.html",
        {"endpoints": outbox.list_endpoints(session), "owner_kinds": OWNER_KINDS},
        user=user,
    )


@router.get("/deliveries/{endpoint_id}")
def endpoint(
    request: Request,
    session: SessionDep,
    user: OperatorPage,
    endpoint_id: str,
    after: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    """One endpoint's health and its dead letters, oldest first, ``after`` a delivery number."""
    try:
        found = outbox.get_endpoint(session, endpoint_id)
    except DomainError:
        return error_page(request, f"No webhook endpoint {endpoint_id}.", user=user)
    letters = outbox.failures(
        session,
        channels=[outbox.WEBHOOK],
        dead_only=True,
        after_id=after,
        limit=DEAD_LETTERS_PER_PAGE + 1,
        endpoint_id=found.id,
    )
    shown = letters[:DEAD_LETTERS_PER_PAGE]
    more = len(letters) > DEAD_LETTERS_PER_PAGE
    return render(
        request,
        "operators/endpoint.html",
        {
            "e": found,
            "owner_kinds": OWNER_KINDS,
            "letters": shown,
            "next_after": shown[-1].id if more else None,
            "resent": request.query_params.get("resent", ""),
        },
        user=user,
    )


@router.post("/deliveries/{endpoint_id}/resend/{delivery_id}")
def resend(
    request: Request,
    session: SessionDep,
    user: OperatorPage,
    endpoint_id: str,
    delivery_id: DeliveryPath,
) -> Response:
    """Put a dead letter back in the outbox with a fresh set of attempts (same message id)."""
    try:
        outbox.resend(session, user, delivery_id)
    except DomainError as exc:
        return error_page(
            request,
            domain_message(exc),
            user=user,
            status_code=exc.status_code,
            title="Not resent",
        )
    public = encode(DELIVERY, delivery_id)
    return RedirectResponse(f"/operator/deliveries/{endpoint_id}?resent={public}", status_code=303)


def _codes_page(
    request: Request,
    session: Session,
    user: Principal,
    errors: list[str] | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    stored = codes.stored_mapping(session)
    return render(
        request,
        "operators/codes.html",
        {
            "items": codes.list_bindings(session),
            "results": codes.list_result_codes(session),
            "loinc_codes": stored.loinc_codes,
            "errors": errors or [],
            "form": form or {},
            "done": CODE_NOTICES.get(request.query_params.get("done", "")),
        },
        user=user,
        status_code=status_code,
    )


CODE_NOTICES = {
    "added": "The binding was added: messages from now on carry its code.",
    "changed": "The binding was changed: messages from now on carry the new code.",
    "result": "The result's SNOMED CT code was changed.",
}


def _refused(exc: ValidationError | DomainError) -> list[str]:
    if isinstance(exc, DomainError):
        return [domain_message(exc)]
    return validation_messages(exc)


@router.get("/codes")
def code_mapping(request: Request, session: SessionDep, user: OperatorPage) -> Response:
    """The LOINC and SNOMED CT mapping the messages use, with forms to extend and change it."""
    return _codes_page(request, session, user)


@router.post("/codes")
def add_binding(
    request: Request,
    session: SessionDep,
    user: OperatorPage,
    product_code: Annotated[str, Form(max_length=64)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    loinc: Annotated[str, Form(max_length=10)] = "",
    loinc_display: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    """Bind a test item or analyte name to a LOINC code (audited, as the API's)."""
    form = {
        "product_code": product_code,
        "name": name,
        "loinc": loinc,
        "loinc_display": loinc_display,
    }
    try:
        body = CodeBindingIn(
            product_code=product_code.strip() or None,
            name=name,
            loinc=loinc.strip(),
            loinc_display=loinc_display.strip() or None,
        )
        with session.begin_nested():
            codes.add_binding(session, user, body)
    except (ValidationError, DomainError) as exc:
        return _codes_page(request, session, user, _refused(exc), form, 422)
    return RedirectResponse("/operator/codes?done=added#bindings", status_code=303)


@router.post("/codes/{binding_id}")
def change_binding(
    request: Request,
    session: SessionDep,
    user: OperatorPage,
    binding_id: CodeBindingPath,
    loinc: Annotated[str, Form(max_length=10)] = "",
    loinc_display: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    try:
        body = CodeBindingChange(loinc=loinc.strip(), loinc_display=loinc_display.strip() or None)
        with session.begin_nested():
            codes.change_binding(session, user, binding_id, body)
    except (ValidationError, DomainError) as exc:
        return _codes_page(request, session, user, _refused(exc), status_code=422)
    return RedirectResponse("/operator/codes?done=changed#bindings", status_code=303)


@router.post("/codes/results/{result}")
def set_result_code(
    request: Request,
    session: SessionDep,
    user: OperatorPage,
    result: Result,
    code: Annotated[str, Form(max_length=20)] = "",
    display: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    try:
        body = ResultCodeIn(code=code.strip(), display=display)
        with session.begin_nested():
            codes.set_result_code(session, user, result, body)
    except (ValidationError, DomainError) as exc:
        return _codes_page(request, session, user, _refused(exc), status_code=422)
    return RedirectResponse("/operator/codes?done=result#results", status_code=303)
