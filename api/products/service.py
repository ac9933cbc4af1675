"""Product registration: a validated ``rdt-kit/1`` description and its template image."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from api.accounts.schemas import Caller, Role
from api.audit.service import record
from api.context import AppContext
from api.errors import ConflictError, InvalidError, NotFoundError
from api.organisations.service import require_approved
from api.pagination import ALL, Window
from api.products import queries
from api.products.schemas import ProductOut
from api.products.tables import Product

if TYPE_CHECKING:
    from pipeline.kit import Kit


def register(
    session: Session,
    ctx: AppContext,
    user: Caller,
    *,
    kit_bytes: bytes,
    template_bytes: bytes,
    registration_certificate_no: str,
) -> ProductOut:
    """Step 2: register a product of the caller's (approved) manufacturer."""
    manufacturer = require_approved(session, user)
    upload = ctx.vision.kit_upload(kit_bytes, template_bytes)
    kit = upload.kit
    certificate = registration_certificate_no.strip()
    if certificate not in manufacturer.device_certificates:
        raise InvalidError(
            "registration_certificate_no: not one of your registered device certificates "
            f"({', '.join(manufacturer.device_certificates)})"
        )
    if queries.product_by_code(session, kit.product_code) is not None:
        raise ConflictError(f"product code '{kit.product_code}' is already registered")
    description = kit.description
    product = Product(
        manufacturer_id=manufacturer.id,
        product_code=kit.product_code,
        name=description.name,
        test_item_name=description.test_item.name,
        test_item_loinc=description.test_item.loinc,
        registration_certificate_no=certificate,
        kit_document=kit.to_json(),
        template_png=upload.template_png,
        template_sha256=hashlib.sha256(upload.template_png).hexdigest(),
    )
    session.add(product)
    session.flush()
    record(session, user, "register_product", "product", product.id, code=product.product_code)
    return ProductOut.model_validate(product)


def list_products(session: Session, user: Caller, window: Window = ALL) -> list[ProductOut]:
    """Every product for an operator; a manufacturer's own for a manufacturer."""
    owner = None if user.role == Role.operator else user.manufacturer_id
    return [ProductOut.model_validate(p) for p in queries.products(session, owner, window)]


def products_of(session: Session, user: Caller, manufacturer_id: int) -> list[ProductOut]:
    """The products of one manufacturer (``user`` must be an operator or act for it)."""
    if user.role != Role.operator and user.manufacturer_id != manufacturer_id:
        raise NotFoundError(f"no manufacturer with id {manufacturer_id}")  # not yours
    return [ProductOut.model_validate(p) for p in queries.products(session, manufacturer_id)]


def get_product(session: Session, user: Caller, product_id: int) -> Product:
    product = session.get(Product, product_id)
    if product is None:
        raise NotFoundError(f"no product with id {product_id}")
    if user.role != Role.operator and user.manufacturer_id != product.manufacturer_id:
        raise NotFoundError(f"no product with id {product_id}")  # not yours: as if absent
    return product


def view_product(session: Session, user: Caller, product_id: int) -> ProductOut:
    return ProductOut.model_validate(get_product(session, user, product_id))


def product_kit(session: Session, ctx: AppContext, user: Caller, product_id: int) -> Kit:
    """The kit of one of ``user``'s products, with its template (for previews and facts)."""
    return kit_of(ctx, get_product(session, user, product_id))


def kit_of(ctx: AppContext, product: Product) -> Kit:
    """The product's kit with its template, for reading photos and drawing previews.

    The template is read from ``product`` only when the process has not decoded this kit
    yet (the reading task loads the product without it: ``readings.queries.reading_inputs``).
    """
    return ctx.vision.stored_kit(
        product.kit_document, product.template_sha256, lambda: product.template_png
    )
