from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Response, UploadFile, status

from api.deps import CtxDep, ManufacturerUser, Operator, OperatorOrManufacturer, SessionDep
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
from api.uploads import read_limited

router = APIRouter(tags=["organisations"])


@router.post(
    "/manufacturers",
    response_model=ManufacturerOut,
    status_code=status.HTTP_201_CREATED,
    summary="Step 1: a manufacturer signs up with its qualifications",
)
def sign_up(session: SessionDep, body: ManufacturerSignUp, response: Response) -> ManufacturerOut:
    """Creates the application (pending) and the manufacturer's account. Upload documents next,
    then wait for an operator's review."""
    manufacturer, _user = service.sign_up(session, body)
    response.headers["Location"] = f"/api/manufacturers/{manufacturer.id}"
    return ManufacturerOut.model_validate(manufacturer)


@router.get("/manufacturers", response_model=list[ManufacturerOut], summary="List applications")
def list_manufacturers(
    session: SessionDep, _operator: Operator, status: str | None = None
) -> list[ManufacturerOut]:
    return service.manufacturers(session, status)


@router.get(
    "/manufacturers/{manufacturer_id}",
    response_model=ManufacturerDetail,
    summary="A manufacturer with its documents",
)
def get_manufacturer(
    session: SessionDep, user: OperatorOrManufacturer, manufacturer_id: int
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
    manufacturer_id: int,
    file: Annotated[UploadFile, File()],
    kind: Annotated[str, Form()] = "other",
) -> DocumentOut:
    service.get_manufacturer(session, user, manufacturer_id)
    data = read_limited(file, ctx.settings.max_document_bytes, "document")
    document = service.add_document(
        session, ctx, user, manufacturer_id, kind=kind, filename=file.filename or "", data=data
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
    manufacturer_id: int,
    document_id: int,
) -> Response:
    document, data = service.document_content(session, ctx, user, manufacturer_id, document_id)
    return Response(
        data,
        media_type=document.content_type,
        headers={"Content-Disposition": f'attachment; filename="{document.id}-{document.kind}"'},
    )


@router.post(
    "/manufacturers/{manufacturer_id}/review",
    response_model=ManufacturerOut,
    summary="Step 1: an operator approves or rejects a manufacturer",
)
def review_manufacturer(
    session: SessionDep, operator: Operator, manufacturer_id: int, body: ManufacturerReview
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
    response.headers["Location"] = f"/api/institutions/{institution.id}"
    return InstitutionOut.model_validate(institution)


@router.get(
    "/institutions/{institution_id}", response_model=InstitutionOut, summary="One institution"
)
def get_institution(
    session: SessionDep, _operator: Operator, institution_id: int
) -> InstitutionOut:
    return InstitutionOut.model_validate(service.get_institution(session, institution_id))


@router.get("/institutions", response_model=list[InstitutionOut], summary="List institutions")
def list_institutions(session: SessionDep, _operator: Operator) -> list[InstitutionOut]:
    return service.institutions(session)


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
    response.headers["Location"] = f"/api/cdc-offices/{office.id}"
    return CdcOfficeOut.model_validate(office)


@router.get("/cdc-offices/{office_id}", response_model=CdcOfficeOut, summary="One CDC office")
def get_cdc_office(session: SessionDep, _operator: Operator, office_id: int) -> CdcOfficeOut:
    return CdcOfficeOut.model_validate(service.get_cdc_office(session, office_id))


@router.get("/cdc-offices", response_model=list[CdcOfficeOut], summary="List CDC offices")
def list_cdc_offices(session: SessionDep, _operator: Operator) -> list[CdcOfficeOut]:
    return service.cdc_offices(session)
