"""Batches: issuing one unit code per unit, exporting them, revoking units."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from sqlalchemy import Table
from sqlalchemy.orm import Session

from api.accounts.schemas import Caller, Role
from api.audit.service import record
from api.batches import queries
from api.batches.schemas import BatchCreate, BatchExport, BatchOut, BatchRevoke, ExportKind
from api.batches.tables import Batch, Unit, UnitState
from api.context import AppContext
from api.errors import ConflictError, ForbiddenError, InvalidError, NotFoundError
from api.organisations.service import require_approved
from api.pagination import ALL, Window
from api.products.service import get_product
from api.products.tables import Product
from api.unit_codes import (
    UnitLabel,
    codes_qr_zip,
    iter_codes_csv,
    label_sheet_pdf,
    write_unit_codes,
)


def effective_state(state: str, expiry: date, today: date | None = None) -> str:
    """A unit's state as people see it: an unused unit past its expiry date is expired."""
    today = today or date.today()
    if state == UnitState.unused and expiry < today:
        return UnitState.expired
    return state


def create_batch(session: Session, ctx: AppContext, user: Caller, body: BatchCreate) -> BatchOut:
    """Step 3: a batch and one fresh unit code per unit (streamed: COPY on PostgreSQL)."""
    require_approved(session, user)
    product = get_product(session, user, body.product_id)
    if body.quantity > ctx.settings.max_batch_quantity:
        raise InvalidError(f"quantity: at most {ctx.settings.max_batch_quantity} units per batch")
    if body.expiry_date <= date.today():
        raise InvalidError("expiry_date: must be in the future")
    if queries.batch_by_lot(session, product.id, body.lot_number) is not None:
        raise ConflictError(f"lot '{body.lot_number}' already exists for this product")
    batch = Batch(
        product_id=product.id,
        lot_number=body.lot_number,
        quantity=body.quantity,
        expiry_date=body.expiry_date,
        created_by=user.id,
    )
    session.add(batch)
    session.flush()
    units = Unit.__table__
    assert isinstance(units, Table)
    write_unit_codes(session, units, batch.id, body.quantity)
    record(session, user, "create_batch", "batch", batch.id, quantity=body.quantity)
    return batch_view(session, batch)


def get_batch(session: Session, user: Caller, batch_id: int) -> tuple[Batch, Product]:
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise NotFoundError(f"no batch with id {batch_id}")
    product = session.get(Product, batch.product_id)
    assert product is not None
    if user.role != Role.operator and user.manufacturer_id != product.manufacturer_id:
        raise NotFoundError(f"no batch with id {batch_id}")  # not yours: as if absent
    return batch, product


def view_batch(session: Session, user: Caller, batch_id: int) -> BatchOut:
    batch, _product = get_batch(session, user, batch_id)
    return batch_view(session, batch)


def list_batches(
    session: Session, user: Caller, product_id: int | None = None, window: Window = ALL
) -> list[BatchOut]:
    """Every batch for an operator, a manufacturer's own for a manufacturer (of one
    product when ``product_id`` is given), with their unit counts."""
    owner = None if user.role == Role.operator else user.manufacturer_id
    found = queries.batches(session, owner, window)
    return [batch_view(session, b) for b in found if product_id in (None, b.product_id)]


def batch_view(session: Session, batch: Batch) -> BatchOut:
    """The batch as clients see it, with its units counted by (effective) state."""
    return BatchOut.model_validate(batch).model_copy(update={"units": unit_counts(session, batch)})


def unit_counts(session: Session, batch: Batch) -> dict[str, int]:
    counts = {state.value: 0 for state in UnitState}
    for state, count in queries.state_counts(session, batch.id).items():
        counts[effective_state(state, batch.expiry_date)] += count
    return counts


def labels(
    session: Session,
    batch: Batch,
    product: Product,
    first: int | None = None,
    last: int | None = None,
) -> Iterator[UnitLabel]:
    width = len(str(batch.quantity))
    for serial, code in queries.unit_codes(session, batch.id, first, last):
        yield UnitLabel(
            serial=str(serial).zfill(width),
            code=code,
            lot=batch.lot_number,
            expiry=batch.expiry_date,
            product_code=product.product_code,
            product_name=product.name,
        )


def export(
    session: Session,
    ctx: AppContext,
    user: Caller,
    batch_id: int,
    kind: ExportKind,
    first: int | None = None,
    last: int | None = None,
) -> BatchExport:
    """The manufacturer's download of a batch's codes, serials ``first`` to ``last`` (clamped
    to the batch); the API and the pages both serve this."""
    batch, product = get_batch(session, user, batch_id)
    if user.role != Role.manufacturer:
        raise ForbiddenError("only the manufacturer downloads its unit codes")
    first, last = (min(max(n, 1), batch.quantity) if n else None for n in (first, last))
    rows = labels(session, batch, product, first, last)
    span = f"-{first or 1}-{last or batch.quantity}" if first or last else ""
    safe_lot = "".join(c if c.isalnum() or c in "._-" else "_" for c in batch.lot_number)
    filename = f"{safe_lot}{span}-{kind}"
    base_url = ctx.settings.public_base_url
    if kind == "codes.csv":
        return BatchExport(
            filename, "text/csv; charset=utf-8", iter_codes_csv(list(rows), base_url)
        )
    if kind == "qr.zip":
        return BatchExport(filename, "application/zip", codes_qr_zip(rows, base_url))
    pdf = label_sheet_pdf(
        rows,
        product_name=product.name,
        lot=batch.lot_number,
        expiry=batch.expiry_date,
        base_url=base_url,
    )
    return BatchExport(filename, "application/pdf", pdf)


def revoke(session: Session, user: Caller, batch_id: int, body: BatchRevoke) -> int:
    """Revoke the batch's unused units (all, or the given serials); used ones stay as they are."""
    batch, _product = get_batch(session, user, batch_id)
    if user.role != Role.manufacturer:
        raise ForbiddenError("only the manufacturer revokes its units")
    if body.serials is not None and max(body.serials) > batch.quantity:
        raise InvalidError(f"serials: this batch has serials 1 to {batch.quantity}")
    count = queries.revoke_unused(session, batch.id, body.serials, body.reason)
    record(session, user, "revoke_units", "batch", batch.id, count=count, reason=body.reason)
    return count
