"""Operator pages: review manufacturers (with their documents), and manage medical
institutions, clinicians, CDC offices (with their officers) and regions.

Changes go through the API's services (``api.organisations``, ``api.accounts``),
with the same validation and audit entries as the JSON API.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Annotated

from fastapi import Form, Request
from markupsafe import Markup
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from api.accounts import queries as account_queries
from api.accounts.schemas import StaffCreate
from api.accounts.tables import Role, User
from api.context import AppContext
from api.deps import CtxDep, SessionDep
from api.errors import DomainError
from api.organisations import queries as org_queries
from api.organisations import service as organisations
from api.organisations.schemas import CdcOfficeCreate, InstitutionCreate, ManufacturerReview
from api.organisations.tables import Manufacturer
from api.products import queries as product_queries
from api.public_ids import MANUFACTURER, DocumentPath, ManufacturerPath, encode
from api.regions.geo import LEVELS
from review_ui.cdc.view import region_features
from review_ui.charts import choropleth
from review_ui.manufacturers.forms import domain_message, validation_messages
from review_ui.manufacturers.routes import DOCUMENT_KINDS, document_response
from review_ui.session import OperatorPage, page_router
from review_ui.templating import error_page, render

router = page_router(prefix="/operator", tags=["operator pages"])

STATUSES = {"pending": "Waiting for review", "approved": "Approved", "rejected": "Rejected"}
NOTICES = {
    "approved": "The manufacturer was approved.",
    "rejected": "The manufacturer was rejected; it can read your reason.",
    "institution": "The medical institution was registered.",
    "clinician": "The clinician's account was opened.",
    "office": "The CDC office was registered.",
    "officer": "The CDC officer's account was opened.",
}
MAP_COUNTS = {
    "institutions": "medical institutions",
    "offices": "CDC offices",
    "clinicians": "clinicians",
}


def _notice(request: Request) -> str | None:
    return NOTICES.get(request.query_params.get("done", ""))


def _region_choices(ctx: AppContext) -> list[tuple[str, str]]:
    regions = ctx.regions
    return [
        (code, "\u2003" * LEVELS.index(regions.level(code)) + f"{regions.name(code)} ({code})")
        for code in regions.codes()
    ]


def _region_label(ctx: AppContext, code: str) -> str:
    return f"{ctx.regions.name(code)} ({code})" if ctx.regions.has(code) else code


# Overview and manufacturers ------------------------------------------------


@router.get("")
def overview(request: Request, session: SessionDep, user: OperatorPage) -> Response:
    makers = list(org_queries.manufacturers(session))
    by_status = Counter(m.status for m in makers)
    return render(
        request,
        "operators/overview.html",
        {
            "pending": [m for m in makers if m.status == "pending"],
            "counts": {
                "Applications waiting": by_status.get("pending", 0),
                "Approved manufacturers": by_status.get("approved", 0),
                "Medical institutions": len(org_queries.institutions(session)),
                "Clinicians": len(account_queries.users(session, Role.clinician.value)),
                "CDC offices": len(org_queries.cdc_offices(session)),
                "CDC officers": len(account_queries.users(session, Role.cdc_officer.value)),
            },
        },
        user=user,
    )


@router.get("/manufacturers")
def manufacturers(
    request: Request, session: SessionDep, user: OperatorPage, status: str = ""
) -> Response:
    chosen = status if status in STATUSES else ""
    return render(
        request,
        "operators/manufacturers.html",
        {
            "manufacturers": org_queries.manufacturers(session, chosen or None),
            "status": chosen,
            "statuses": STATUSES,
        },
        user=user,
    )


def _manufacturer_page(
    request: Request,
    session: Session,
    user: User,
    manufacturer: Manufacturer,
    errors: list[str],
    reason: str = "",
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "operators/manufacturer.html",
        {
            "m": manufacturer,
            "documents": org_queries.documents(session, manufacturer.id),
            "kinds": DOCUMENT_KINDS,
            "products": product_queries.products(session, manufacturer.id),
            "errors": errors,
            "reason": reason,
            "notice": None if errors else _notice(request),
            "statuses": STATUSES,
        },
        user=user,
        status_code=status_code,
    )


def _not_found(request: Request, user: User, message: str) -> Response:
    return error_page(request, message, user=user)


@router.get("/manufacturers/{manufacturer_id}")
def manufacturer(
    request: Request, session: SessionDep, user: OperatorPage, manufacturer_id: ManufacturerPath
) -> Response:
    found = session.get(Manufacturer, manufacturer_id)
    if found is None:
        return _not_found(request, user, f"No manufacturer with number {manufacturer_id}.")
    return _manufacturer_page(request, session, user, found, [])


@router.get("/manufacturers/{manufacturer_id}/documents/{document_id}")
def manufacturer_document(
    session: SessionDep,
    ctx: CtxDep,
    user: OperatorPage,
    manufacturer_id: ManufacturerPath,
    document_id: DocumentPath,
) -> Response:
    try:
        doc = organisations.get_document(session, user, manufacturer_id, document_id)
    except DomainError as exc:
        return Response(domain_message(exc), status_code=exc.status_code, media_type="text/plain")
    return document_response(ctx, doc.sha256, doc.content_type, doc.filename)


@router.post("/manufacturers/{manufacturer_id}/review")
def review_manufacturer(
    request: Request,
    session: SessionDep,
    user: OperatorPage,
    manufacturer_id: ManufacturerPath,
    decision: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    found = session.get(Manufacturer, manufacturer_id)
    if found is None:
        return _not_found(request, user, f"No manufacturer with number {manufacturer_id}.")
    try:
        with session.begin_nested():  # a refusal undoes what the action wrote
            body = ManufacturerReview(decision=decision, reason=reason or None)
            organisations.review(session, user, manufacturer_id, body)
    except ValidationError:
        return _manufacturer_page(
            request, session, user, found, ["Choose approve or reject"], reason, 422
        )
    except DomainError as exc:
        return _manufacturer_page(
            request, session, user, found, [domain_message(exc)], reason, exc.status_code
        )
    return RedirectResponse(
        f"/operator/manufacturers/{encode(MANUFACTURER, manufacturer_id)}?done={found.status}",
        status_code=303,
    )


# Institutions and clinicians -----------------------------------------------


def _submit(
    session: Session,
    act: Callable[[], object],
    again: Callable[[list[str], int], Response],
    done: str,
) -> Response:
    """Run one form's ``act``; on refusal re-show the page via ``again``, else commit and go on.

    ``again`` gets the reasons to show and the status code (422 for a form that
    does not validate, the domain error's own code otherwise).
    """
    try:
        with session.begin_nested():  # a refusal undoes what the action wrote
            act()
    except ValidationError as exc:
        return again(validation_messages(exc), 422)
    except DomainError as exc:
        return again([domain_message(exc)], exc.status_code)
    return RedirectResponse(done, status_code=303)


def _institutions_page(
    request: Request,
    session: Session,
    ctx: AppContext,
    user: User,
    errors: list[str] | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    clinicians = Counter(
        u.institution_id for u in account_queries.users(session, Role.clinician.value)
    )
    rows = [
        {"i": i, "region": _region_label(ctx, i.region_code), "clinicians": clinicians[i.id]}
        for i in org_queries.institutions(session)
    ]
    return render(
        request,
        "operators/institutions.html",
        {
            "rows": rows,
            "regions": _region_choices(ctx),
            "errors": errors or [],
            "form": form or {},
            "notice": None if errors else _notice(request),
        },
        user=user,
        status_code=status_code,
    )


@router.get("/institutions")
def institutions(
    request: Request, session: SessionDep, ctx: CtxDep, user: OperatorPage
) -> Response:
    return _institutions_page(request, session, ctx, user)


@router.post("/institutions")
def create_institution(
    request: Request,
    session: SessionDep,
    ctx: CtxDep,
    user: OperatorPage,
    name: Annotated[str, Form(max_length=400)] = "",
    region_code: Annotated[str, Form(max_length=64)] = "",
    address: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    form = {"name": name, "region_code": region_code, "address": address}

    def act() -> None:
        body = InstitutionCreate(
            name=name.strip(), region_code=region_code, address=address.strip()
        )
        organisations.create_institution(session, ctx, user, body)

    return _submit(
        session,
        act,
        lambda errors, status: _institutions_page(
            request, session, ctx, user, errors, form, status
        ),
        "/operator/institutions?done=institution",
    )


def _staff_page(
    request: Request,
    session: Session,
    ctx: AppContext,
    user: User,
    errors: list[str] | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    institution_list = list(org_queries.institutions(session))
    names = {i.id: i for i in institution_list}
    rows = []
    for u in account_queries.users(session, Role.clinician.value):
        institution = names.get(u.institution_id or -1)
        rows.append(
            {
                "u": u,
                "institution": institution.name if institution else "",
                "region": _region_label(ctx, institution.region_code) if institution else "",
            }
        )
    return render(
        request,
        "operators/clinicians.html",
        {
            "rows": rows,
            "institutions": institution_list,
            "errors": errors or [],
            "form": form or {},
            "notice": None if errors else _notice(request),
        },
        user=user,
        status_code=status_code,
    )


@router.get("/clinicians")
def clinicians(request: Request, session: SessionDep, ctx: CtxDep, user: OperatorPage) -> Response:
    return _staff_page(request, session, ctx, user)


def _open_account(
    session: Session,
    operator: User,
    role: str,
    username: str,
    password: str,
    display_name: str,
    institution_id: str = "",
    cdc_office_id: str = "",
) -> User:
    """Open a staff account from the page's form fields (raises ``ValidationError``)."""
    body = StaffCreate(
        username=username.strip(),
        password=password,
        display_name=display_name.strip(),
        role=role,
        institution_id=institution_id.strip() or None,
        cdc_office_id=cdc_office_id.strip() or None,
    )
    created = organisations.open_staff_account(session, operator, body, via="page")
    return created


@router.post("/clinicians")
def create_clinician(
    request: Request,
    session: SessionDep,
    ctx: CtxDep,
    user: OperatorPage,
    display_name: Annotated[str, Form(max_length=400)] = "",
    username: Annotated[str, Form(max_length=400)] = "",
    password: Annotated[str, Form(max_length=400)] = "",
    institution_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    form = {"display_name": display_name, "username": username, "institution_id": institution_id}
    return _submit(
        session,
        lambda: _open_account(
            session, user, "clinician", username, password, display_name, institution_id
        ),
        lambda errors, status: _staff_page(request, session, ctx, user, errors, form, status),
        "/operator/clinicians?done=clinician",
    )


# CDC offices and officers --------------------------------------------------


def _offices_page(
    request: Request,
    session: Session,
    ctx: AppContext,
    user: User,
    errors: list[str] | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    office_list = list(org_queries.cdc_offices(session))
    officers = list(account_queries.users(session, Role.cdc_officer.value))
    by_office = Counter(o.cdc_office_id for o in officers)
    offices = {o.id: o for o in office_list}
    return render(
        request,
        "operators/cdc_offices.html",
        {
            "rows": [
                {"o": o, "region": _region_label(ctx, o.region_code), "officers": by_office[o.id]}
                for o in office_list
            ],
            "officers": [
                {
                    "u": u,
                    "office": offices[u.cdc_office_id].name if u.cdc_office_id in offices else "",
                }
                for u in officers
            ],
            "offices": office_list,
            "regions": _region_choices(ctx),
            "errors": errors or [],
            "form": form or {},
            "notice": None if errors else _notice(request),
        },
        user=user,
        status_code=status_code,
    )


@router.get("/cdc-offices")
def cdc_offices(request: Request, session: SessionDep, ctx: CtxDep, user: OperatorPage) -> Response:
    return _offices_page(request, session, ctx, user)


@router.post("/cdc-offices")
def create_cdc_office(
    request: Request,
    session: SessionDep,
    ctx: CtxDep,
    user: OperatorPage,
    name: Annotated[str, Form(max_length=400)] = "",
    region_code: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    form = {"office_name": name, "office_region": region_code}
    return _submit(
        session,
        lambda: organisations.create_cdc_office(
            session, ctx, user, CdcOfficeCreate(name=name.strip(), region_code=region_code)
        ),
        lambda errors, status: _offices_page(request, session, ctx, user, errors, form, status),
        "/operator/cdc-offices?done=office",
    )


@router.post("/cdc-officers")
def create_cdc_officer(
    request: Request,
    session: SessionDep,
    ctx: CtxDep,
    user: OperatorPage,
    display_name: Annotated[str, Form(max_length=400)] = "",
    username: Annotated[str, Form(max_length=400)] = "",
    password: Annotated[str, Form(max_length=400)] = "",
    cdc_office_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    form = {"display_name": display_name, "username": username, "cdc_office_id": cdc_office_id}
    return _submit(
        session,
        lambda: _open_account(
            session,
            user,
            "cdc_officer",
            username,
            password,
            display_name,
            cdc_office_id=cdc_office_id,
        ),
        lambda errors, status: _offices_page(request, session, ctx, user, errors, form, status),
        "/operator/cdc-offices?done=officer",
    )


# Regions -------------------------------------------------------------------


def region_counts(ctx: AppContext, session: Session) -> dict[str, dict[str, int]]:
    """Medical institutions, CDC offices and clinicians in each region and everything under it."""
    regions = ctx.regions
    counts: dict[str, dict[str, int]] = {
        code: dict.fromkeys(MAP_COUNTS, 0) for code in regions.codes()
    }

    def add(code: str, key: str) -> None:
        if regions.has(code):
            for holder in regions.lineage(code):
                counts[holder][key] += 1

    institution_region = {}
    for institution in org_queries.institutions(session):
        institution_region[institution.id] = institution.region_code
        add(institution.region_code, "institutions")
    for office in org_queries.cdc_offices(session):
        add(office.region_code, "offices")
    for clinician in account_queries.users(session, Role.clinician.value):
        add(institution_region.get(clinician.institution_id or -1, ""), "clinicians")
    return counts


@router.get("/regions")
def regions_page(
    request: Request,
    session: SessionDep,
    ctx: CtxDep,
    user: OperatorPage,
    level: str = "",
    show: str = "institutions",
) -> Response:
    regions = ctx.regions
    levels = [lvl for lvl in LEVELS if regions.codes(lvl)]
    chosen = level if level in levels else levels[-1]
    metric = show if show in MAP_COUNTS else "institutions"
    counts = region_counts(ctx, session)
    codes = regions.codes(chosen)
    svg = choropleth(
        region_features(regions, codes),
        {c: float(counts[c][metric]) for c in codes},
        title=f"Map of {MAP_COUNTS[metric]} by {chosen}",
        value_label=MAP_COUNTS[metric],
        chart_id="regions-map",
    )
    tree = [
        {
            "code": code,
            "name": regions.name(code),
            "level": regions.level(code),
            "depth": LEVELS.index(regions.level(code)),
            "parent": regions.parent(code) or "",
        }
        for code in regions.codes()
    ]
    return render(
        request,
        "operators/regions.html",
        {
            "map_svg": Markup(svg),
            "levels": levels,
            "level": chosen,
            "metric": metric,
            "metrics": MAP_COUNTS,
            "tree": tree,
            "counts": counts,
        },
        user=user,
    )
