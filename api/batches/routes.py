from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from api.batches import service
from api.batches.schemas import BatchCreate, BatchOut, BatchRevoke, RevokeOut
from api.deps import CtxDep, ManufacturerUser, OperatorOrManufacturer, SessionDep
from api.pagination import Page, PagerDep
from api.public_ids import BATCH, BatchPath, encode

router = APIRouter(prefix="/batches", tags=["batches"])

Serial = Annotated[int | None, Query(ge=1, description="first/last serial to export")]


@router.post(
    "",
    response_model=BatchOut,
    status_code=status.HTTP_201_CREATED,
    summary="Step 3: create a batch; one unit code is issued per unit",
)
def create_batch(
    session: SessionDep, ctx: CtxDep, user: ManufacturerUser, body: BatchCreate, response: Response
) -> BatchOut:
    batch = service.create_batch(session, ctx, user, body)
    response.headers["Location"] = f"/api/batches/{encode(BATCH, batch.id)}"
    return batch


@router.get("", response_model=Page[BatchOut], summary="List batches (a manufacturer's own)")
def list_batches(
    session: SessionDep, user: OperatorOrManufacturer, page: PagerDep
) -> Page[BatchOut]:
    rows = service.list_batches(session, user, window=page.window)
    return page.page(rows, lambda b: (b.id,))


@router.get("/{batch_id}", response_model=BatchOut, summary="One batch with unit counts by state")
def get_batch(session: SessionDep, user: OperatorOrManufacturer, batch_id: BatchPath) -> BatchOut:
    return service.view_batch(session, user, batch_id)


@router.get(
    "/{batch_id}/codes.csv",
    response_class=Response,
    summary="Step 3: the batch's unit codes as CSV",
)
def codes_csv(
    session: SessionDep,
    ctx: CtxDep,
    user: ManufacturerUser,
    batch_id: BatchPath,
    first: Serial = None,
    last: Serial = None,
) -> Response:
    return service.export(session, ctx, user, batch_id, "codes.csv", first, last).response()


@router.get(
    "/{batch_id}/codes.zip",
    response_class=Response,
    summary="Step 3: the batch's unit codes as a ZIP of QR images",
)
def codes_zip(
    session: SessionDep,
    ctx: CtxDep,
    user: ManufacturerUser,
    batch_id: BatchPath,
    first: Serial = None,
    last: Serial = None,
) -> Response:
    return service.export(session, ctx, user, batch_id, "qr.zip", first, last).response()


@router.get(
    "/{batch_id}/labels.pdf",
    response_class=Response,
    summary="Step 3: a printable label sheet (PDF)",
)
def labels_pdf(
    session: SessionDep,
    ctx: CtxDep,
    user: ManufacturerUser,
    batch_id: BatchPath,
    first: Serial = None,
    last: Serial = None,
) -> Response:
    return service.export(session, ctx, user, batch_id, "labels.pdf", first, last).response()


@router.post(
    "/{batch_id}/revoke", response_model=RevokeOut, summary="Revoke unused units of a batch"
)
def revoke(
    session: SessionDep, user: ManufacturerUser, batch_id: BatchPath, body: BatchRevoke
) -> RevokeOut:
    count = service.revoke(session, user, batch_id, body)
    return RevokeOut(revoked=count)
