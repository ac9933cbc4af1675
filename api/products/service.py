"""Product registration: a validated ``rdt-kit/1`` description and its template image."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from api.accounts.tables import Role, User
from api.audit.service import record
from api.context import AppContext
from api.errors import ConflictError, InvalidError, NotFoundError
from api.organisations.service import require_approved
from api.products import queries
from api.products.tables import Product

if TYPE_CHECKING:
    from pipeline.kit import Kit


def register(
    session: Session,
    ctx: AppContext,
    user: User,
    *,
    kit_bytes: bytes,
    template_bytes: bytes,
    registration_certificate_no: str,
) -> Product:
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
    return product


def get_product(session: Session, user: User, product_id: int) -> Product:
    product = session.get(Product, product_id)
    if product is None:
        raise NotFoundError(f"no product with id {product_id}")
    if user.role != Role.operator and user.manufacturer_id != product.manufacturer_id:
        raise NotFoundError(f"no product with id {product_id}")  # not yours: as if absent
    return product


def kit_of(ctx: AppContext, product: Product) -> Kit:
    """The product's kit with its template, for reading photos and drawing previews."""
    return ctx.vision.stored_kit(
        product.kit_document, product.template_png, product.template_sha256
    )
