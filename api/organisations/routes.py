from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Response, UploadFile, status

from api.accounts.schemas import SignUpAccepted, SignUpConfirm
from api.deps import (
    ClientAddress,
    CtxDep,
    ManufacturerUser,
    Operator,
    OperatorOrManufacturer,
    SessionDep,
)
from api.organisations import service
from api.organisations.schemas import (
    CdcOfficeCreate,
    CdcOfficeOut,
    DocumentOut,
    InstitutionCreate,
    InstitutionOut,
    ManufacturerDetail,
    ManufacturerOut,
    ManufacturerReview,
    ManufacturerSignUp,
)
from api.pagination import Page, PagerDep
from api.public_ids import (
    CDC_OFFICE,
    DOCUMENT,
    INSTITUTION,
    MANUFACTURER,
    CdcOfficePath,
    DocumentPath,
    InstitutionPath,
    ManufacturerPath,
    encode,
)
from api.signup import manufacturers as signup
from api.uploads import read_limited

router = APIRouter(tags=["organisations"])


@router.post(
    "/manufacturers",
    response_model=SignUpAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Step 1: a manufacturer signs up with its qualifications",
)
def sign_up(
    session: SessionDep, ctx: CtxDep, _address: ClientAddress, body: ManufacturerSignUp
) -> SignUpAccepted:
    """The same answer whether or not the licence number or user name is registered; an
    e-mail to the contact address carries the code for ``/manufacturers/confirm`` (or what
    to do). Counted per client address like a log-in."""
    signup.apply(session, ctx, body)
    return SignUpAccepted(detail=signup.ACCEPTED)


@router.post(
    "/manufacturers/confirm",
    response_model=ManufacturerOut,
    status_code=status.HTTP_201_CREATED,
    summary="Step 1: confirm a sign-up with the code e-mailed to the contact address",
)
def confirm(
    session: SessionDep,
    ctx: CtxDep,
    _address: ClientAddress,
    body: SignUpConfirm,
    response: Response,
) -> ManufacturerOut:
    """Opens the account and sends the application to review: log in, upload documents,
    wait for an operator."""
    manufacturer, _user = signup.confirm(session, ctx, body.username, body.code)
    response.headers["Location"] = f"/api/manufacturers/{encode(MANUFACTURER, manufacturer.id)}"
    return ManufacturerOut.model_validate(manufacturer)


@router.get("/manufacturers", response_model=Page[ManufacturerOut], summary="List applications")
def list_manufacturers(
    session: SessionDep, _operator: Operator, page: PagerDep, status: str | None = None
) -> Page[ManufacturerOut]:
    rows = service.manufacturers(session, status, page.window)
    return page.page(rows, lambda m: (m.id,))


@router.get(
    "/manufacturers/{manufacturer_id}",
    response_model=ManufacturerDetail,
    summary="A manufacturer with its documents",
)
def get_manufacturer(
    session: SessionDep, user: OperatorOrManufacturer, manufacturer_id: ManufacturerPath
) -> ManufacturerDetail:
    return service.manufacturer_detail(session, user, manufacturer_id)


@router.post(
    "/manufacturers/{manufacturer_id}/documents",
    response_model=DocumentOut,
    status_code=status.HTTP_201_CREATED,
    summary="Upload a qualification document (PDF, JPEG or PNG)",
)
def upload_document(
    session: SessionDep,
    ctx: CtxDep,
    user: ManufacturerUser,
    manufacturer_id: ManufacturerPath,
    file: Annotated[UploadFile, File()],
    response: Response,
    kind: Annotated[str, Form()] = "other",
) -> DocumentOut:
    service.get_manufacturer(session, user, manufacturer_id)
    data = read_limited(file, ctx.settings.max_document_bytes, "document")
    document = service.add_document(
        session, ctx, user, manufacturer_id, kind=kind, filename=file.filename or "", data=data
    )
    response.headers["Location"] = (
        f"/api/manufacturers/{encode(MANUFACTURER, manufacturer_id)}"
        f"/documents/{encode(DOCUMENT, document.id)}"
    )
    return DocumentOut.model_validate(document)


@router.get(
    "/manufacturers/{manufacturer_id}/documents/{document_id}",
    response_class=Response,
    summary="Download a qualification document",
)
def download_document(
    session: SessionDep,
    ctx: CtxDep,
    user: OperatorOrManufacturer,
    manufacturer_id: ManufacturerPath,
    document_id: DocumentPath,
) -> Response:
    document, data = service.document_content(session, ctx, user, manufacturer_id, document_id)
    name = f"{encode(DOCUMENT, document.id)}-{document.kind}"
    return Response(
        data,
        media_type=document.content_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.post(
    "/manufacturers/{manufacturer_id}/review",
    response_model=ManufacturerOut,
    summary="Step 1: an operator approves or rejects a manufacturer",
)
def review_manufacturer(
    session: SessionDep,
    operator: Operator,
    manufacturer_id: ManufacturerPath,
    body: ManufacturerReview,
) -> ManufacturerOut:
    return service.review(session, operator, manufacturer_id, body)


@router.post(
    "/institutions",
    response_model=InstitutionOut,
    status_code=status.HTTP_201_CREATED,
    summary="Register a medical institution",
)
def create_institution(
    session: SessionDep,
    ctx: CtxDep,
    operator: Operator,
    body: InstitutionCreate,
    response: Response,
) -> InstitutionOut:
    institution = service.create_institution(session, ctx, operator, body)
    response.headers["Location"] = f"/api/institutions/{encode(INSTITUTION, institution.id)}"
    return InstitutionOut.model_validate(institution)


@router.get(
    "/institutions/{institution_id}", response_model=InstitutionOut, summary="One institution"
)
def get_institution(
    session: SessionDep, _operator: Operator, institution_id: InstitutionPath
) -> InstitutionOut:
    return InstitutionOut.model_validate(service.get_institution(session, institution_id))


@router.get("/institutions", response_model=Page[InstitutionOut], summary="List institutions")
def list_institutions(
    session: SessionDep, _operator: Operator, page: PagerDep
) -> Page[InstitutionOut]:
    return page.page(service.institutions(session, page.window), lambda i: (i.id,))


@router.post(
    "/cdc-offices",
    response_model=CdcOfficeOut,
    status_code=status.HTTP_201_CREATED,
    summary="Register a CDC office",
)
def create_cdc_office(
    session: SessionDep, ctx: CtxDep, operator: Operator, body: CdcOfficeCreate, response: Response
) -> CdcOfficeOut:
    office = service.create_cdc_office(session, ctx, operator, body)
    response.headers["Location"] = f"/api/cdc-offices/{encode(CDC_OFFICE, office.id)}"
    return CdcOfficeOut.model_validate(office)


@router.get("/cdc-offices/{office_id}", response_model=CdcOfficeOut, summary="One CDC office")
def get_cdc_office(
    session: SessionDep, _operator: Operator, office_id: CdcOfficePath
) -> CdcOfficeOut:
    return CdcOfficeOut.model_validate(service.get_cdc_office(session, office_id))


@router.get("/cdc-offices", response_model=Page[CdcOfficeOut], summary="List CDC offices")
def list_cdc_offices(
    session: SessionDep, _operator: Operator, page: PagerDep
) -> Page[CdcOfficeOut]:
    return page.page(service.cdc_offices(session, page.window), lambda o: (o.id,))
