"""Webhook endpoints and failed deliveries, for operators (thin: the service does the work)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from api.deps import CtxDep, Operator, SessionDep
from api.outbox import service
from api.outbox.schemas import (
    DeliveryOut,
    EndpointCreate,
    EndpointOut,
    EndpointUpdate,
    SecretIssued,
)
from api.pagination import Page, PagerDep
from api.public_ids import DeliveryPath

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such endpoint or delivery"}}


@router.get("/endpoints", response_model=Page[EndpointOut], summary="Endpoints and their health")
def list_endpoints(session: SessionDep, _user: Operator, page: PagerDep) -> Page[EndpointOut]:
    rows = service.list_endpoints(session, page.window)
    return page.page(rows, lambda e: (e.id,))


@router.post(
    "/endpoints",
    response_model=SecretIssued,
    status_code=status.HTTP_201_CREATED,
    summary="Register a CDC office's or institution's endpoint; its secret is shown once",
    responses={422: {"description": "unknown owner, or a scope outside the owner's region"}},
)
def create_endpoint(
    session: SessionDep, ctx: CtxDep, user: Operator, body: EndpointCreate, response: Response
) -> SecretIssued:
    issued = service.create_endpoint(session, ctx, user, body)
    response.headers["Location"] = f"/api/webhooks/endpoints/{issued.endpoint.id}"
    return issued


@router.get(
    "/endpoints/{endpoint_id}",
    response_model=EndpointOut,
    summary="One endpoint",
    responses=NOT_FOUND,
)
def get_endpoint(session: SessionDep, _user: Operator, endpoint_id: str) -> EndpointOut:
    return service.get_endpoint(session, endpoint_id)


@router.patch(
    "/endpoints/{endpoint_id}",
    response_model=EndpointOut,
    summary="Pause or resume an endpoint (paused, its deliveries wait)",
    responses=NOT_FOUND,
)
def update_endpoint(
    session: SessionDep, user: Operator, endpoint_id: str, body: EndpointUpdate
) -> EndpointOut:
    return service.update_endpoint(session, user, endpoint_id, body)


@router.post(
    "/endpoints/{endpoint_id}/secrets",
    response_model=SecretIssued,
    status_code=status.HTTP_201_CREATED,
    summary="Rotate the signing secret; the old one signs too until the grace period ends",
    responses=NOT_FOUND,
)
def rotate_secret(
    session: SessionDep, ctx: CtxDep, user: Operator, endpoint_id: str, response: Response
) -> SecretIssued:
    """The secret itself is shown only here; ``Location`` names the endpoint it signs for."""
    issued = service.rotate_secret(session, ctx, user, endpoint_id)
    response.headers["Location"] = f"/api/webhooks/endpoints/{issued.endpoint.id}"
    return issued


@router.get(
    "/failures",
    response_model=Page[DeliveryOut],
    summary="Dead-lettered deliveries, and those still retrying after errors",
)
def failures(
    session: SessionDep,
    _user: Operator,
    page: PagerDep,
    channel: Annotated[list[str] | None, Query(description="webhook, sms, email")] = None,
    dead_only: bool = False,
) -> Page[DeliveryOut]:
    rows = service.failures(
        session,
        channels=channel,
        dead_only=dead_only,
        after_id=page.after_value() or 0,
        limit=page.limit + 1,
    )
    return page.page(rows, lambda d: (d.id,))


@router.post(
    "/deliveries/{delivery_id}/resend",
    response_model=DeliveryOut,
    summary="Send a dead-lettered delivery again, with a fresh set of attempts",
    responses={**NOT_FOUND, 409: {"description": "the delivery is not dead-lettered"}},
)
def resend(session: SessionDep, user: Operator, delivery_id: DeliveryPath) -> DeliveryOut:
    return service.resend(session, user, delivery_id)
