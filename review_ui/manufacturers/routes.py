"""Manufacturer pages: sign-up with documents, review status, products with a template
preview, batches with their code exports and how many units have been used.

Every change goes through the same services as the JSON API (``api.organisations``,
``api.products``, ``api.batches``), so the rules (approval, certificates, kit
validation, ownership) are the API's own.
"""

from __future__ import annotations

import base64
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import File, Form, Request, UploadFile
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from api.accounts import service as accounts
from api.accounts.schemas import Principal, Role
from api.batches import service as batches
from api.batches.schemas import BatchCreate, ExportKind
from api.context import AppContext
from api.deps import CtxDep, SessionDep
from api.errors import DomainError, FieldProblem
from api.organisations import service as organisations
from api.organisations.schemas import ManufacturerDetail, ManufacturerSignUp
from api.products import service as products
from api.products.schemas import ProductOut
from api.products.validation import KitInvalidError
from api.public_ids import BATCH, PRODUCT, BatchPath, DocumentPath, ProductPath, decode, encode
from api.security.ratelimit import RateLimitedError
from api.signup import manufacturers as applications
from review_ui.manufacturers.forms import (
    domain_message,
    lines,
    read_files,
    validation_messages,
)
from review_ui.manufacturers.views import (
    DOCUMENT_KINDS,
    batch_rows,
    document_response,
    kit_summary,
    usage,
)
from review_ui.session import (
    ManufacturerPage,
    OptionalPageUser,
    PageForbidden,
    home_for,
    page_router,
    set_session_cookie,
)
from review_ui.templating import error_page, render

router = page_router(prefix="/manufacturer", tags=["manufacturer pages"])

BOTH_FILES = "Choose both files: the kit description (kit.json) and the template image"
NOTICES = {
    "document": "The document was uploaded.",
    "welcome": "Your application was sent. An operator will review it; this page shows its status.",
    "product": "The product was registered.",
    "batch": "The batch was created and its unit codes issued.",
}


def _notice(request: Request) -> str | None:
    return NOTICES.get(request.query_params.get("done", ""))


def _manufacturer(session: Session, user: Principal) -> ManufacturerDetail:
    try:
        return organisations.own_manufacturer(session, user)
    except DomainError as exc:
        raise PageForbidden("This account acts for no manufacturer.") from exc


# Sign-up -------------------------------------------------------------------


@router.get("/sign-up")
def sign_up_page(request: Request, user: OptionalPageUser) -> Response:
    if user is not None and user.role == Role.manufacturer:
        return RedirectResponse(home_for(user), status_code=303)
    return render(
        request, "manufacturers/sign_up.html", {"form": {}, "errors": [], "kinds": DOCUMENT_KINDS}
    )


@router.post("/sign-up")
def sign_up(
    request: Request,
    session: SessionDep,
    ctx: CtxDep,
    name: Annotated[str, Form(max_length=400)] = "",
    business_licence_no: Annotated[str, Form(max_length=200)] = "",
    device_certificates: Annotated[str, Form(max_length=20_000)] = "",
    contact_email: Annotated[str, Form(max_length=400)] = "",
    username: Annotated[str, Form(max_length=400)] = "",
    password: Annotated[str, Form(max_length=400)] = "",
    licence_document: Annotated[UploadFile | str | None, File()] = None,
    certificate_documents: Annotated[list[UploadFile | str] | None, File()] = None,
    other_documents: Annotated[list[UploadFile | str] | None, File()] = None,
) -> Response:
    """Apply: the manufacturer, its account and its documents in one transaction, opened
    once the code e-mailed to the contact address comes back (:func:`confirm_sign_up`)."""
    form = {
        "name": name,
        "business_licence_no": business_licence_no,
        "device_certificates": device_certificates,
        "contact_email": contact_email,
        "username": username,
    }
    try:  # counted before anything is read: each try could tell whether a name exists
        ctx.throttle.check_address(request.client.host if request.client else None)
    except RateLimitedError as exc:
        return _sign_up_again(request, form, [exc.message], 429, exc.retry_after)
    errors: list[str] = []
    try:
        body = ManufacturerSignUp(
            name=name.strip(),
            business_licence_no=business_licence_no.strip(),
            device_certificates=lines(device_certificates),
            contact_email=contact_email.strip(),
            username=username.strip(),
            password=password,
        )
    except ValidationError as exc:
        errors = validation_messages(exc)
    limit = ctx.settings.max_document_bytes
    try:
        documents = [
            ("business_licence", *f)
            for f in read_files([licence_document], limit, "business licence document")
        ]
        documents += [
            ("registration_certificate", *f)
            for f in read_files(certificate_documents or [], limit, "certificate document")
        ]
        documents += [("other", *f) for f in read_files(other_documents or [], limit, "document")]
    except DomainError as exc:
        errors.append(domain_message(exc))
        documents = []
    if not any(kind == "business_licence" for kind, _, _ in documents):
        errors.append("Business licence document: attach a scan of the licence (PDF, JPEG or PNG)")
    if not errors:
        try:
            with session.begin_nested():  # a refusal undoes what the sign-up wrote
                applications.apply(session, ctx, body, documents)
        except DomainError as exc:
            errors.append(domain_message(exc))
    if errors:
        return _sign_up_again(request, form, errors, 422)
    # The same page whether or not the licence or user name is registered: the e-mail says.
    return _confirm_page(request, body.username, None, 200)


def _sign_up_again(
    request: Request,
    form: dict[str, str],
    errors: list[str],
    status_code: int,
    retry_after: int | None = None,
) -> Response:
    response = render(
        request,
        "manufacturers/sign_up.html",
        {"form": form, "errors": errors, "kinds": DOCUMENT_KINDS},
        status_code=status_code,
    )
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _confirm_page(
    request: Request,
    username: str,
    error: str | None,
    status_code: int,
    retry_after: int | None = None,
) -> Response:
    context = {"username": username, "error": error, "accepted": applications.ACCEPTED}
    response = render(request, "manufacturers/confirm.html", context, status_code=status_code)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


@router.post("/sign-up/confirm")
def confirm_sign_up(
    request: Request,
    session: SessionDep,
    ctx: CtxDep,
    username: Annotated[str, Form(max_length=254)] = "",
    email_code: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """The code e-mailed at sign-up opens the account, logs it in and sends the
    application to review."""
    try:
        ctx.throttle.check_address(request.client.host if request.client else None)
        with session.begin_nested():
            _applied, maker = applications.confirm(session, ctx, username, email_code.strip())
    except RateLimitedError as exc:
        return _confirm_page(request, username, exc.message, 429, exc.retry_after)
    except DomainError as exc:
        return _confirm_page(request, username, domain_message(exc), exc.status_code)
    signed_in = accounts.open_session(session, ctx, accounts.principal(maker), via="sign-up page")
    response = RedirectResponse("/manufacturer?done=welcome", status_code=303)
    set_session_cookie(request, response, signed_in.token, ctx.settings.token_ttl_minutes * 60)
    return response


# Home: status, documents, products, batches --------------------------------


def _home(
    request: Request,
    session: Session,
    user: Principal,
    errors: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    manufacturer = _manufacturer(session, user)
    product_list = products.list_products(session, user)
    names = {p.id: p.name for p in product_list}
    return render(
        request,
        "manufacturers/home.html",
        {
            "manufacturer": manufacturer,
            "documents": manufacturer.documents,
            "products": product_list,
            "batches": batch_rows(batches.list_batches(session, user), names),
            "kinds": DOCUMENT_KINDS,
            "notice": None if errors else _notice(request),
            "errors": errors or [],
        },
        user=user,
        status_code=status_code,
    )


@router.get("")
def home(request: Request, session: SessionDep, user: ManufacturerPage) -> Response:
    return _home(request, session, user)


def _batch_defaults() -> dict[str, Any]:
    return {"expiry_date": (date.today() + timedelta(days=365)).isoformat(), "quantity": 1000}


class _RefusedError(Exception):
    """A page-level refusal (nothing to upload, and the like); ``field``: the form's path."""

    status_code = 422

    def __init__(self, detail: str, field: str = "") -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


def _message(exc: DomainError | _RefusedError) -> str:
    return domain_message(exc) if isinstance(exc, DomainError) else exc.detail


@router.post("/documents")
def upload_document(
    request: Request,
    session: SessionDep,
    ctx: CtxDep,
    user: ManufacturerPage,
    kind: Annotated[str, Form(max_length=40)] = "other",
    file: Annotated[UploadFile | str | None, File()] = None,
) -> Response:
    manufacturer = _manufacturer(session, user)
    try:
        chosen = read_files([file], ctx.settings.max_document_bytes, "document")
        if not chosen:
            raise _RefusedError("Choose a file to upload (PDF, JPEG or PNG)")
        filename, data = chosen[0]
        organisations.add_document(
            session, ctx, user, manufacturer.id, kind=kind, filename=filename, data=data
        )
    except (DomainError, _RefusedError) as exc:
        return _home(request, session, user, [_message(exc)], exc.status_code)
    return RedirectResponse("/manufacturer?done=document#documents", status_code=303)


@router.get("/documents/{document_id}")
def document(
    session: SessionDep, ctx: CtxDep, user: ManufacturerPage, document_id: DocumentPath
) -> Response:
    manufacturer = _manufacturer(session, user)
    return document_response(session, ctx, user, manufacturer.id, document_id)


# Products ------------------------------------------------------------------


def _product_form_context(manufacturer: ManufacturerDetail, **extra: Any) -> dict[str, Any]:
    return {
        "manufacturer": manufacturer,
        "certificates": manufacturer.device_certificates,
        "errors": [],
        "preview": None,
        **extra,
    }


@router.get("/products/new")
def new_product(request: Request, session: SessionDep, user: ManufacturerPage) -> Response:
    manufacturer = _manufacturer(session, user)
    return render(
        request,
        "manufacturers/product_new.html",
        _product_form_context(manufacturer),
        user=user,
    )


def _kit_and_template(
    ctx: AppContext,
    kit: UploadFile | str | None,
    kit_json: str,
    template: UploadFile | str | None,
) -> tuple[bytes, bytes]:
    """The kit description (an uploaded kit.json, else the form's built JSON) and template."""
    limit = ctx.settings.max_document_bytes
    files = read_files([kit], limit, "kit description")
    images = read_files([template], limit, "template image")
    if files:
        kit_bytes = files[0][1]
    elif kit_json.strip():
        kit_bytes = kit_json.encode()
        if len(kit_bytes) > limit:
            raise _RefusedError(f"The kit description is too large (at most {limit:,} bytes)")
    else:
        raise _RefusedError(BOTH_FILES)
    if not images:
        if files:
            raise _RefusedError(BOTH_FILES)
        raise _RefusedError("Choose the template image (PNG).", field="template.image")
    return kit_bytes, images[0][1]


def _problems(exc: DomainError | _RefusedError) -> list[FieldProblem]:
    """Every mistake of a kit description by its field, else the one refusal."""
    if isinstance(exc, KitInvalidError):
        return exc.errors
    return [FieldProblem(field=getattr(exc, "field", ""), message=_message(exc))]


def _kit_form_answer(
    request: Request,
    manufacturer: ManufacturerDetail,
    user: Principal,
    exc: DomainError | _RefusedError | None = None,
    preview: dict[str, Any] | None = None,
) -> Response:
    """The form's answer: htmx gets the preview fragment (the form keeps its files and
    fields), a plain form post the whole page."""
    problems = _problems(exc) if exc is not None else []
    context = _product_form_context(
        manufacturer,
        errors=[p.message for p in problems],
        kit_errors=problems,
        preview=preview,
    )
    if request.headers.get("HX-Request"):
        return render(
            request, "manufacturers/_kit_preview.html", context, user=user, status_code=200
        )
    status = exc.status_code if exc is not None else 200
    return render(request, "manufacturers/product_new.html", context, user=user, status_code=status)


KitFile = Annotated[UploadFile | str | None, File()]
# The description the page's form builds (the same validation as an uploaded kit.json).
KitJson = Annotated[str, Form(max_length=1_000_000)]


@router.post("/products/preview")
def preview_upload(
    request: Request,
    session: SessionDep,
    ctx: CtxDep,
    user: ManufacturerPage,
    kit: KitFile = None,
    template: KitFile = None,
    kit_json: KitJson = "",
) -> Response:
    """Check a kit description and template without registering: the preview, or what is wrong."""
    manufacturer = _manufacturer(session, user)
    try:
        kit_bytes, template_bytes = _kit_and_template(ctx, kit, kit_json, template)
        parsed = ctx.vision.parse_kit(kit_bytes, template_bytes)
    except (DomainError, _RefusedError) as exc:
        return _kit_form_answer(request, manufacturer, user, exc)
    preview = {
        "image": "data:image/png;base64," + base64.b64encode(ctx.vision.preview(parsed)).decode(),
        "kit": kit_summary(parsed),
    }
    return _kit_form_answer(request, manufacturer, user, preview=preview)


@router.post("/products")
def register_product(
    request: Request,
    session: SessionDep,
    ctx: CtxDep,
    user: ManufacturerPage,
    registration_certificate_no: Annotated[str, Form(max_length=200)] = "",
    kit: KitFile = None,
    template: KitFile = None,
    kit_json: KitJson = "",
) -> Response:
    manufacturer = _manufacturer(session, user)
    try:
        kit_bytes, template_bytes = _kit_and_template(ctx, kit, kit_json, template)
        if not registration_certificate_no.strip():
            raise _RefusedError("Registration certificate: choose the product's certificate")
        product = products.register(
            session,
            ctx,
            user,
            kit_bytes=kit_bytes,
            template_bytes=template_bytes,
            registration_certificate_no=registration_certificate_no,
        )
    except (DomainError, _RefusedError) as exc:
        return _kit_form_answer(request, manufacturer, user, exc)
    where = f"/manufacturer/products/{encode(PRODUCT, product.id)}?done=product"
    if request.headers.get("HX-Request"):
        return Response(status_code=200, headers={"HX-Redirect": where})
    return RedirectResponse(where, status_code=303)


def _own_product(session: Session, user: Principal, product_id: int) -> ProductOut | None:
    try:
        return products.view_product(session, user, product_id)
    except DomainError:
        return None


@router.get("/products/{product_id}")
def product_page(
    request: Request,
    session: SessionDep,
    ctx: CtxDep,
    user: ManufacturerPage,
    product_id: ProductPath,
) -> Response:
    product = _own_product(session, user, product_id)
    if product is None:
        return _not_found(request, user, "No such product among yours.")
    return _product_page(request, session, ctx, user, product, [], _batch_defaults())


def _product_page(
    request: Request,
    session: Session,
    ctx: AppContext,
    user: Principal,
    product: ProductOut,
    errors: list[str],
    batch_form: dict[str, Any],
    status_code: int = 200,
) -> Response:
    manufacturer = _manufacturer(session, user)
    product_batches = batches.list_batches(session, user, product.id)
    return render(
        request,
        "manufacturers/product.html",
        {
            "product": product,
            "kit": kit_summary(products.product_kit(session, ctx, user, product.id)),
            "batches": batch_rows(product_batches, {product.id: product.name}),
            "errors": errors,
            "batch_form": batch_form,
            "notice": _notice(request),
            "approved": manufacturer.status == "approved",
        },
        user=user,
        status_code=status_code,
    )


@router.get("/products/{product_id}/preview.png")
def product_preview(
    session: SessionDep, ctx: CtxDep, user: ManufacturerPage, product_id: ProductPath
) -> Response:
    try:
        kit = products.product_kit(session, ctx, user, product_id)
    except DomainError:
        return Response("no such product", status_code=404, media_type="text/plain")
    return Response(
        ctx.vision.preview(kit),
        media_type="image/png",
        headers={"Cache-Control": "private, max-age=3600"},
    )


def _not_found(request: Request, user: Principal, message: str) -> Response:
    return error_page(request, message, user=user)


# Batches -------------------------------------------------------------------


@router.post("/batches")
def create_batch(
    request: Request,
    session: SessionDep,
    ctx: CtxDep,
    user: ManufacturerPage,
    product_id: Annotated[str, Form(max_length=64)],
    lot_number: Annotated[str, Form(max_length=200)] = "",
    quantity: Annotated[str, Form(max_length=20)] = "",
    expiry_date: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    number = decode(PRODUCT, product_id)
    product = _own_product(session, user, number) if number is not None else None
    if product is None:
        return _not_found(request, user, "No such product among yours.")
    form = {"lot_number": lot_number, "quantity": quantity, "expiry_date": expiry_date}
    try:
        body = BatchCreate(
            product_id=product_id,
            lot_number=lot_number.strip(),
            quantity=quantity,
            expiry_date=expiry_date,
        )
        batch = batches.create_batch(session, ctx, user, body)
    except ValidationError as exc:
        return _product_page(
            request, session, ctx, user, product, validation_messages(exc), form, 422
        )
    except DomainError as exc:
        return _product_page(
            request, session, ctx, user, product, [domain_message(exc)], form, exc.status_code
        )
    return RedirectResponse(
        f"/manufacturer/batches/{encode(BATCH, batch.id)}?done=batch", status_code=303
    )


@router.get("/batches/{batch_id}")
def batch_page(
    request: Request, session: SessionDep, user: ManufacturerPage, batch_id: BatchPath
) -> Response:
    try:
        batch = batches.view_batch(session, user, batch_id)
        product = products.view_product(session, user, batch.product_id)
    except DomainError:
        return _not_found(request, user, "No such batch among yours.")
    return render(
        request,
        "manufacturers/batch.html",
        {
            "batch": batch,
            "product": product,
            "usage": usage(batch.units, batch.quantity),
            "notice": _notice(request),
        },
        user=user,
    )


def _download(
    request: Request,
    session: Session,
    ctx: AppContext,
    user: Principal,
    batch_id: int,
    kind: ExportKind,
) -> Response:
    """A batch's codes in the serial range the form asks for (``first``/``last``)."""

    def serial(name: str) -> int | None:
        text = request.query_params.get(name, "").strip()
        return int(text) if text.isdigit() else None

    try:
        found = batches.export(session, ctx, user, batch_id, kind, serial("first"), serial("last"))
    except DomainError:
        return _not_found(request, user, "No such batch among yours.")
    return found.response()


@router.get("/batches/{batch_id}/codes.csv")
def codes_csv(
    request: Request, session: SessionDep, ctx: CtxDep, user: ManufacturerPage, batch_id: BatchPath
) -> Response:
    return _download(request, session, ctx, user, batch_id, "codes.csv")


@router.get("/batches/{batch_id}/codes.zip")
def codes_zip(
    request: Request, session: SessionDep, ctx: CtxDep, user: ManufacturerPage, batch_id: BatchPath
) -> Response:
    return _download(request, session, ctx, user, batch_id, "qr.zip")


@router.get("/batches/{batch_id}/labels.pdf")
def labels_pdf(
    request: Request, session: SessionDep, ctx: CtxDep, user: ManufacturerPage, batch_id: BatchPath
) -> Response:
    return _download(request, session, ctx, user, batch_id, "labels.pdf")
