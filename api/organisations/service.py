"""Manufacturer applications and their review; institutions and CDC offices."""

from __future__ import annotations

from sqlalchemy.orm import Session

from api.accounts import queries as account_queries
from api.accounts import service as accounts
from api.accounts.schemas import Caller, StaffCreate
from api.accounts.tables import Role, User
from api.audit.service import record
from api.context import AppContext
from api.db.base import utcnow
from api.errors import ConflictError, ForbiddenError, InvalidError, NotFoundError
from api.organisations import queries
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
from api.organisations.tables import CdcOffice, Institution, Manufacturer, ManufacturerDocument
from api.pagination import ALL, Window
from api.regions.service import require_region
from api.uploads import sniff_document

DOCUMENT_KINDS = ("business_licence", "registration_certificate", "other")
# An application whose contact address has not yet sent back its code: not shown to
# operators, deleted once the code expired.
UNCONFIRMED = "unconfirmed"


def sign_up(
    session: Session, body: ManufacturerSignUp, *, confirmed: bool = True
) -> tuple[Manufacturer, User]:
    """Open the application (pending) and the manufacturer's account.

    The public sign-up (:mod:`api.signup.manufacturers`) opens it ``confirmed=False``:
    ``unconfirmed`` and inactive, hidden from operators and recorded in the audit log only
    once the code e-mailed to the contact address comes back (:func:`confirm_application`).
    """
    if queries.manufacturer_by_licence(session, body.business_licence_no) is not None:
        raise ConflictError(
            "a manufacturer with this business licence number is already registered"
        )
    manufacturer = Manufacturer(
        name=body.name,
        business_licence_no=body.business_licence_no,
        device_certificates=list(dict.fromkeys(body.device_certificates)),
        contact_email=body.contact_email,
        status="pending" if confirmed else UNCONFIRMED,
    )
    session.add(manufacturer)
    session.flush()
    user = accounts.create_user(
        session,
        username=body.username,
        password=body.password,
        role=Role.manufacturer,
        display_name=body.name,
        manufacturer_id=manufacturer.id,
        active=confirmed,
    )
    if confirmed:
        record(session, user, "sign_up", "manufacturer", manufacturer.id)
    return manufacturer, user


def confirm_application(session: Session, user: User) -> Manufacturer:
    """The contact address answered: the account opens and the application waits for review."""
    manufacturer = session.get(Manufacturer, user.manufacturer_id) if user.manufacturer_id else None
    if manufacturer is None or manufacturer.status != UNCONFIRMED:
        raise InvalidError("this account has no application waiting for its code")
    manufacturer.status = "pending"
    user.active = True
    documents = [d.id for d in queries.documents(session, manufacturer.id)]
    record(session, user, "sign_up", "manufacturer", manufacturer.id, documents=documents)
    return manufacturer


def withdraw_unconfirmed(session: Session, manufacturer: Manufacturer) -> None:
    """Delete an application whose code expired unused, with its account and documents
    (their bytes stay in the content-addressed store, which never deletes)."""
    for document in queries.documents(session, manufacturer.id):
        session.delete(document)
    for user in account_queries.users_of_manufacturer(session, manufacturer.id):
        session.delete(user)
    session.flush()  # before the manufacturer: no relationship tells the flush the order
    session.delete(manufacturer)
    session.flush()


def manufacturers(
    session: Session, status: str | None = None, window: Window = ALL
) -> list[ManufacturerOut]:
    """The applications (of one ``status`` when given), oldest first."""
    rows = queries.manufacturers(session, status, window)
    return [ManufacturerOut.model_validate(m) for m in rows]


def manufacturer_detail(session: Session, user: Caller, manufacturer_id: int) -> ManufacturerDetail:
    """A manufacturer with its documents, if ``user`` is an operator or acts for it."""
    manufacturer = get_manufacturer(session, user, manufacturer_id)
    documents = queries.documents(session, manufacturer.id)
    return ManufacturerDetail(
        **ManufacturerOut.model_validate(manufacturer).model_dump(),
        documents=[DocumentOut.model_validate(d) for d in documents],
    )


def own_manufacturer(session: Session, user: Caller) -> ManufacturerDetail:
    """The manufacturer ``user`` acts for, with its documents."""
    if user.manufacturer_id is None:
        raise ForbiddenError("this account acts for no manufacturer")
    return manufacturer_detail(session, user, user.manufacturer_id)


def get_manufacturer(session: Session, user: Caller, manufacturer_id: int) -> Manufacturer:
    """The manufacturer, if ``user`` is an operator or acts for it."""
    manufacturer = session.get(Manufacturer, manufacturer_id)
    if manufacturer is None:
        raise NotFoundError(f"no manufacturer with id {manufacturer_id}")
    if user.role != Role.operator and user.manufacturer_id != manufacturer.id:
        raise NotFoundError(f"no manufacturer with id {manufacturer_id}")  # not yours
    return manufacturer


def add_document(
    session: Session,
    ctx: AppContext,
    user: Caller,
    manufacturer_id: int,
    *,
    kind: str,
    filename: str,
    data: bytes,
) -> ManufacturerDocument:
    manufacturer = get_manufacturer(session, user, manufacturer_id)
    if user.manufacturer_id != manufacturer.id:
        raise ForbiddenError("only the manufacturer itself uploads its documents")
    document = store_document(session, ctx, manufacturer.id, check_document(kind, filename, data))
    record(session, user, "upload_document", "manufacturer", manufacturer.id, document=document.id)
    return document


CheckedDocument = tuple[str, str, str, bytes]
"""``(kind, filename, content type, data)`` of a document :func:`check_document` accepted."""


def check_document(kind: str, filename: str, data: bytes) -> CheckedDocument:
    """A qualification document, once its kind and bytes (PDF, JPEG or PNG) are acceptable.

    Raises
    ------
    InvalidError
        An unknown kind, or bytes that are no PDF, JPEG or PNG.
    """
    if kind not in DOCUMENT_KINDS:
        raise InvalidError(f"kind: must be one of {', '.join(DOCUMENT_KINDS)}")
    return kind, filename[:255] or "document", sniff_document(data), data


def store_document(
    session: Session, ctx: AppContext, manufacturer_id: int, checked: CheckedDocument
) -> ManufacturerDocument:
    """Keep a checked document for a manufacturer; the caller records why in the audit log."""
    kind, filename, content_type, data = checked
    document = ManufacturerDocument(
        manufacturer_id=manufacturer_id,
        kind=kind,
        filename=filename,
        content_type=content_type,
        sha256=ctx.documents.put(data),
        size_bytes=len(data),
    )
    session.add(document)
    session.flush()
    return document


def get_document(
    session: Session, user: Caller, manufacturer_id: int, document_id: int
) -> ManufacturerDocument:
    manufacturer = get_manufacturer(session, user, manufacturer_id)
    document = session.get(ManufacturerDocument, document_id)
    if document is None or document.manufacturer_id != manufacturer.id:
        raise NotFoundError(f"no document {document_id} for manufacturer {manufacturer_id}")
    return document


def document_content(
    session: Session, ctx: AppContext, user: Caller, manufacturer_id: int, document_id: int
) -> tuple[DocumentOut, bytes]:
    """A qualification document and its bytes, for the manufacturer itself or an operator."""
    document = get_document(session, user, manufacturer_id, document_id)
    return DocumentOut.model_validate(document), ctx.documents.get(document.sha256)


def review(
    session: Session, operator: Caller, manufacturer_id: int, body: ManufacturerReview
) -> ManufacturerOut:
    """Approve or reject an application; a rejection needs a reason the manufacturer can read."""
    manufacturer = get_manufacturer(session, operator, manufacturer_id)
    if manufacturer.status == UNCONFIRMED:
        raise InvalidError("this application's contact address has not confirmed it yet")
    reason = (body.reason or "").strip() or None
    if body.decision == "reject" and reason is None:
        raise InvalidError("reason: a rejection needs a reason")
    manufacturer.status = "approved" if body.decision == "approve" else "rejected"
    manufacturer.review_reason = reason
    manufacturer.reviewed_by = operator.id
    manufacturer.reviewed_at = utcnow()
    record(
        session,
        operator,
        f"manufacturer_{manufacturer.status}",
        "manufacturer",
        manufacturer.id,
        reason=reason,
    )
    return ManufacturerOut.model_validate(manufacturer)


def require_approved(session: Session, user: Caller) -> Manufacturer:
    """The manufacturer ``user`` acts for, which must be approved to register products."""
    manufacturer = session.get(Manufacturer, user.manufacturer_id) if user.manufacturer_id else None
    if manufacturer is None:
        raise ForbiddenError("this account acts for no manufacturer")
    if manufacturer.status != "approved":
        raise ForbiddenError(
            f"your manufacturer is {manufacturer.status}; only approved manufacturers go on"
        )
    return manufacturer


def create_institution(
    session: Session, ctx: AppContext, operator: Caller, body: InstitutionCreate
) -> Institution:
    require_region(ctx, body.region_code)
    institution = Institution(name=body.name, region_code=body.region_code, address=body.address)
    session.add(institution)
    session.flush()
    record(session, operator, "create_institution", "institution", institution.id)
    return institution


def create_cdc_office(
    session: Session, ctx: AppContext, operator: Caller, body: CdcOfficeCreate
) -> CdcOffice:
    require_region(ctx, body.region_code)
    office = CdcOffice(name=body.name, region_code=body.region_code)
    session.add(office)
    session.flush()
    record(session, operator, "create_cdc_office", "cdc_office", office.id)
    return office


def open_staff_account(
    session: Session, operator: Caller, body: StaffCreate, *, via: str | None = None
) -> User:
    """An operator opens a staff account, linked to an existing institution or CDC office."""
    if body.institution_id is not None and session.get(Institution, body.institution_id) is None:
        raise InvalidError("institution_id: a clinician needs an existing medical institution")
    if body.cdc_office_id is not None and session.get(CdcOffice, body.cdc_office_id) is None:
        raise InvalidError("cdc_office_id: a CDC officer needs an existing CDC office")
    user = accounts.create_user(
        session,
        username=body.username,
        password=body.password,
        role=Role(body.role),
        display_name=body.display_name,
        institution_id=body.institution_id,
        cdc_office_id=body.cdc_office_id,
    )
    detail = {"via": via} if via else {}
    record(session, operator, "create_user", "user", user.id, role=user.role, **detail)
    return user


def institutions(session: Session, window: Window = ALL) -> list[InstitutionOut]:
    return [InstitutionOut.model_validate(i) for i in queries.institutions(session, window=window)]


def cdc_offices(session: Session, window: Window = ALL) -> list[CdcOfficeOut]:
    return [CdcOfficeOut.model_validate(o) for o in queries.cdc_offices(session, window=window)]


def get_institution(session: Session, institution_id: int) -> Institution:
    institution = session.get(Institution, institution_id)
    if institution is None:
        raise NotFoundError(f"no institution with id {institution_id}")
    return institution


def get_cdc_office(session: Session, office_id: int) -> CdcOffice:
    office = session.get(CdcOffice, office_id)
    if office is None:
        raise NotFoundError(f"no CDC office with id {office_id}")
    return office
