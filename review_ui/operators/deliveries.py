"""Operator pages for delivery to agencies: webhook endpoints with their health, each
endpoint's dead letters with a button to resend them, and the standard-code mapping.

Everything goes through the API's services (``api.outbox.service``, ``api.interop.codes``):
a resend here is the same use case, with the same audit entry, as
``POST /api/webhooks/deliveries/{id}/resend``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request
from starlette.responses import RedirectResponse, Response

from api.deps import SessionDep
from api.errors import DomainError
from api.interop.codes import load_seed
from api.outbox import service as outbox
from api.public_ids import DELIVERY, DeliveryPath, encode
from review_ui.manufacturers.forms import domain_message
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


@router.get("/codes")
def codes(request: Request, user: OperatorPage) -> Response:
    """The LOINC and SNOMED CT mapping the messages use (read-only: see the template)."""
    table = load_seed()
    items = sorted(
        (
            {
                "product_code": product_code,
                "name": name,
                "loinc": loinc,
                "display": table.loinc_display(loinc),
            }
            for (product_code, name), loinc in table.test_items.items()
        ),
        key=lambda row: (row["product_code"] or "", row["name"] or ""),
    )
    return render(
        request,
        "operators/codes.html",
        {"items": items, "results": table.results, "loinc_codes": table.loinc_codes},
        user=user,
    )
