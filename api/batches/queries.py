"""SQL for batches and units."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from api.batches.tables import Batch, Unit, UnitState
from api.pagination import ALL, Window
from api.products.tables import Product


def batch_by_lot(session: Session, product_id: int, lot_number: str) -> Batch | None:
    return session.scalar(
        select(Batch).where(Batch.product_id == product_id, Batch.lot_number == lot_number)
    )


def batches(session: Session, manufacturer_id: int | None, window: Window = ALL) -> Sequence[Batch]:
    query = window.apply(select(Batch).join(Product, Product.id == Batch.product_id), Batch.id)
    if manufacturer_id is not None:
        query = query.where(Product.manufacturer_id == manufacturer_id)
    return session.scalars(query).all()


def state_counts(session: Session, batch_id: int) -> dict[str, int]:
    rows = session.execute(
        select(Unit.state, func.count()).where(Unit.batch_id == batch_id).group_by(Unit.state)
    ).all()
    return dict(rows)


def unit_codes(
    session: Session, batch_id: int, first: int | None = None, last: int | None = None
) -> Iterator[tuple[int, str]]:
    query = select(Unit.serial, Unit.code).where(Unit.batch_id == batch_id).order_by(Unit.serial)
    if first is not None:
        query = query.where(Unit.serial >= first)
    if last is not None:
        query = query.where(Unit.serial <= last)
    yield from session.execute(query.execution_options(yield_per=5000))


def revoke_unused(session: Session, batch_id: int, serials: list[int] | None, reason: str) -> int:
    query = (
        update(Unit)
        .where(Unit.batch_id == batch_id, Unit.state == UnitState.unused)
        .values(state=UnitState.revoked, revoked_reason=reason)
    )
    if serials is not None:
        query = query.where(Unit.serial.in_(serials))
    result = session.execute(query)
    return int(result.rowcount)  # type: ignore[attr-defined]


def unit_by_code(session: Session, code: str, *, lock: bool = False) -> Unit | None:
    query = select(Unit).where(Unit.code == code)
    if lock:
        query = query.with_for_update()
    return session.scalar(query)


def mark_unit(session: Session, unit_id: int, from_state: str, to_state: str) -> bool:
    """Move a unit between states only if it is still in ``from_state`` (no lost races)."""
    result = session.execute(
        update(Unit).where(Unit.id == unit_id, Unit.state == from_state).values(state=to_state)
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]
