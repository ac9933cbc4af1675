"""SQL for products."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.pagination import ALL, Window
from api.products.tables import Product


def product_by_code(session: Session, product_code: str) -> Product | None:
    return session.scalar(select(Product).where(Product.product_code == product_code))


def products(
    session: Session, manufacturer_id: int | None = None, window: Window = ALL
) -> Sequence[Product]:
    query = window.apply(select(Product), Product.id)
    if manufacturer_id is not None:
        query = query.where(Product.manufacturer_id == manufacturer_id)
    return session.scalars(query).all()
