from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Response, UploadFile, status

from api.deps import CtxDep, ManufacturerUser, OperatorOrManufacturer, SessionDep
from api.pagination import Page, PagerDep
from api.products import service
from api.products.schemas import ProductOut
from api.public_ids import PRODUCT, ProductPath, encode
from api.uploads import read_limited

router = APIRouter(prefix="/products", tags=["products"])


@router.post(
    "",
    response_model=ProductOut,
    status_code=status.HTTP_201_CREATED,
    summary="Step 2: register a product (kit description + template image)",
    description=(
        "A kit description with mistakes is refused with 422; the problem document's "
        "`errors` lists every mistake, each with its path in the description (`field`, "
        "e.g. `lines.1.at`) and a sentence a person can act on (`message`)."
    ),
)
def register_product(
    session: SessionDep,
    ctx: CtxDep,
    user: ManufacturerUser,
    kit: Annotated[UploadFile, File(description="kit.json (rdt-kit/1)")],
    template: Annotated[UploadFile, File(description="the template image (PNG)")],
    registration_certificate_no: Annotated[str, Form(min_length=1, max_length=100)],
    response: Response,
) -> ProductOut:
    limit = ctx.settings.max_document_bytes
    product = service.register(
        session,
        ctx,
        user,
        kit_bytes=read_limited(kit, limit, "kit"),
        template_bytes=read_limited(template, limit, "template"),
        registration_certificate_no=registration_certificate_no,
    )
    response.headers["Location"] = f"/api/products/{encode(PRODUCT, product.id)}"
    return product


@router.get("", response_model=Page[ProductOut], summary="List products (a manufacturer's own)")
def list_products(
    session: SessionDep, user: OperatorOrManufacturer, page: PagerDep
) -> Page[ProductOut]:
    return page.page(service.list_products(session, user, page.window), lambda p: (p.id,))


@router.get("/{product_id}", response_model=ProductOut, summary="One product")
def get_product(
    session: SessionDep, user: OperatorOrManufacturer, product_id: ProductPath
) -> ProductOut:
    return service.view_product(session, user, product_id)
