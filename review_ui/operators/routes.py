"""Operator pages: review manufacturers (with their documents), and manage medical
institutions, clinicians, CDC offices (with their officers) and regions.

Changes go through the API's services (``api.organisations``, ``api.accounts``),
with the same validation and audit entries as the JSON API.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Form, Request
from markupsafe import Markup
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from api.accounts import service as accounts
from api.accounts.schemas import Principal, Role, StaffCreate
from api.context import AppContext
from api.deps import CtxDep, SessionDep
from api.errors import DomainError
from api.organisations import service as organisations
from api.organisations.schemas import (
    CdcOfficeCreate,
    InstitutionCreate,
    ManufacturerDetail,
    ManufacturerReview,
)
from api.products import service as products
from api.public_ids import MANUFACTURER, DocumentPath, ManufacturerPath, encode
from api.regions.geo import LEVELS
from review_ui.cdc.view import region_features
from review_ui.charts import choropleth
from review_ui.manufacturers.forms import domain_message, validation_messages
from review_ui.manufacturers.views import DOCUMENT_KINDS, document_response
from review_ui.session import OperatorPage, page_router
from review_ui.templating import error_page, render

router = page_router(prefix="/operator", tags=["operator pages"])

NOT_CHECKED = (
    "Not approved: tick “I have checked the business licence, device certificates and"
    " documents” to approve."
)
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
    makers = organisations.manufacturers(session)
    by_status = Counter(m.status for m in makers)
    return render(
        request,
        "operators/overview.html",
        {
            "pending": [m for m in makers if m.status == "pending"],
            "counts": {
                "Applications waiting": by_status.get("pending", 0),
                "Approved manufacturers": by_status.get("approved", 0),
                "Medical institutions": len(organisations.institutions(session)),
                "Clinicians": len(accounts.list_accounts(session, Role.clinician)),
                "CDC offices": len(organisations.cdc_offices(session)),
                "CDC officers": len(accounts.list_accounts(session, Role.cdc_officer)),
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
            "manufacturers": organisations.manufacturers(session, chosen or None),
            "status": chosen,
            "statuses": STATUSES,
        },
        user=user,
    )


def _manufacturer_page(
    request: Request,
    session: Session,
    user: Principal,
    manufacturer: ManufacturerDetail,
    errors: list[str],
    reason: str = "",
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "operators/manufacturer.html",
        {
            "m": manufacturer,
            "documents": manufacturer.documents,
            "kinds": DOCUMENT_KINDS,
            "products": products.products_of(session, user, manufacturer.id),
            "errors": errors,
            "reason": reason,
            "notice": None if errors else _notice(request),
            "statuses": STATUSES,
        },
        user=user,
        status_code=status_code,
    )


def _not_found(request: Request, user: Principal, message: str) -> Response:
    return error_page(request, message, user=user)


def _find_manufacturer(
    session: Session, user: Principal, manufacturer_id: int
) -> ManufacturerDetail | None:
    try:
        return organisations.manufacturer_detail(session, user, manufacturer_id)
    except DomainError:
        return None


@router.get("/manufacturers/{manufacturer_id}")
def manufacturer(
    request: Request, session: SessionDep, user: OperatorPage, manufacturer_id: ManufacturerPath
) -> Response:
    found = _find_manufacturer(session, user, manufacturer_id)
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
    return document_response(session, ctx, user, manufacturer_id, document_id)


@router.post("/manufacturers/{manufacturer_id}/review")
def review_manufacturer(
    request: Request,
    session: SessionDep,
    user: OperatorPage,
    manufacturer_id: ManufacturerPath,
    decision: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    checked: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    found = _find_manufacturer(session, user, manufacturer_id)
    if found is None:
        return _not_found(request, user, f"No manufacturer with number {manufacturer_id}.")
    # Approving lets the manufacturer's kits into the flow: a slip of the mouse must not
    # do it, with or without JavaScript, so the page asks for the check here.
    if decision == "approve" and not checked:
        return _manufacturer_page(request, session, user, found, [NOT_CHECKED], reason, 422)
    try:
        body = ManufacturerReview(decision=decision, reason=reason or None)
        reviewed = organisations.review(session, user, manufacturer_id, body)
    except ValidationError:
        return _manufacturer_page(
            request, session, user, found, ["Choose approve or reject"], reason, 422
        )
    except DomainError as exc:
        return _manufacturer_page(
            request, session, user, found, [domain_message(exc)], reason, exc.status_code
        )
    return RedirectResponse(
        f"/operator/manufacturers/{encode(MANUFACTURER, manufacturer_id)}?done={reviewed.status}",
        status_code=303,
    )


# Institutions and clinicians -----------------------------------------------


@dataclass(frozen=True)
class _ListPage:
    """A list with a form to add to it: the template, and what the list shows."""

    template: str
    rows: Callable[[Session, AppContext], dict[str, Any]]

    def show(
        self,
        request: Request,
        session: Session,
        ctx: AppContext,
        user: Principal,
        errors: list[str] | None = None,
        form: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Response:
        """The page; with ``errors``, the form as sent (``form``) and why it was refused."""
        context = {
            **self.rows(session, ctx),
            "errors": errors or [],
            "form": form or {},
            "notice": None if errors else _notice(request),
        }
        return render(request, self.template, context, user=user, status_code=status_code)

    def submit(
        self,
        request: Request,
        session: Session,
        ctx: AppContext,
        user: Principal,
        form: dict[str, str],
        act: Callable[[], object],
        done: str,
    ) -> Response:
        """Run the form's ``act``, then go on to ``done``; on refusal show the page again
        with the reasons (422 for a form that does not validate, else the service's code).
        A service checks before it writes, so a refused action has written nothing."""
        try:
            act()
        except ValidationError as exc:
            return self.show(request, session, ctx, user, validation_messages(exc), form, 422)
        except DomainError as exc:
            errors = [domain_message(exc)]
            return self.show(request, session, ctx, user, errors, form, exc.status_code)
        return RedirectResponse(done, status_code=303)


def _institution_rows(session: Session, ctx: AppContext) -> dict[str, Any]:
    clinicians = Counter(u.institution_id for u in accounts.list_accounts(session, Role.clinician))
    rows = [
        {"i": i, "region": _region_label(ctx, i.region_code), "clinicians": clinicians[i.id]}
        for i in organisations.institutions(session)
    ]
    return {"rows": rows, "regions": _region_choices(ctx)}


INSTITUTIONS = _ListPage("operators/institutions.html", _institution_rows)


@router.get("/institutions")
def institutions(
    request: Request, session: SessionDep, ctx: CtxDep, user: OperatorPage
) -> Response:
    return INSTITUTIONS.show(request, session, ctx, user)


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

    done = "/operator/institutions?done=institution"
    return INSTITUTIONS.submit(request, session, ctx, user, form, act, done)


def _clinician_rows(session: Session, ctx: AppContext) -> dict[str, Any]:
    institution_list = organisations.institutions(session)
    names = {i.id: i for i in institution_list}
    rows = []
    for u in accounts.list_accounts(session, Role.clinician):
        institution = names.get(u.institution_id or -1)
        rows.append(
            {
                "u": u,
                "institution": institution.name if institution else "",
                "region": _region_label(ctx, institution.region_code) if institution else "",
            }
        )
    return {"rows": rows, "institutions": institution_list}


CLINICIANS = _ListPage("operators/clinicians.html", _clinician_rows)


@router.get("/clinicians")
def clinicians(request: Request, session: SessionDep, ctx: CtxDep, user: OperatorPage) -> Response:
    return CLINICIANS.show(request, session, ctx, user)


def _open_account(
    page: _ListPage,
    request: Request,
    session: Session,
    ctx: AppContext,
    operator: Principal,
    fields: dict[str, str],
    password: str,
    done: str,
) -> Response:
    """Open a staff account from the page's form ``fields`` (display name, user name and
    the role's organisation: ``institution_id`` for a clinician, else ``cdc_office_id``)."""
    role = "clinician" if "institution_id" in fields else "cdc_officer"

    def act() -> None:
        body = StaffCreate(
            username=fields["username"].strip(),
            password=password,
            display_name=fields["display_name"].strip(),
            role=role,
            institution_id=fields.get("institution_id", "").strip() or None,
            cdc_office_id=fields.get("cdc_office_id", "").strip() or None,
        )
        organisations.open_staff_account(session, operator, body, via="page")

    return page.submit(request, session, ctx, operator, fields, act, done)


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
    done = "/operator/clinicians?done=clinician"
    return _open_account(CLINICIANS, request, session, ctx, user, form, password, done)


# CDC offices and officers --------------------------------------------------


def _office_rows(session: Session, ctx: AppContext) -> dict[str, Any]:
    office_list = organisations.cdc_offices(session)
    officers = accounts.list_accounts(session, Role.cdc_officer)
    by_office = Counter(o.cdc_office_id for o in officers)
    offices = {o.id: o for o in office_list}
    return {
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
    }


OFFICES = _ListPage("operators/cdc_offices.html", _office_rows)


@router.get("/cdc-offices")
def cdc_offices(request: Request, session: SessionDep, ctx: CtxDep, user: OperatorPage) -> Response:
    return OFFICES.show(request, session, ctx, user)


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
    return OFFICES.submit(
        request,
        session,
        ctx,
        user,
        form,
        lambda: organisations.create_cdc_office(
            session, ctx, user, CdcOfficeCreate(name=name.strip(), region_code=region_code)
        ),
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
    done = "/operator/cdc-offices?done=officer"
    return _open_account(OFFICES, request, session, ctx, user, form, password, done)


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
    for institution in organisations.institutions(session):
        institution_region[institution.id] = institution.region_code
        add(institution.region_code, "institutions")
    for office in organisations.cdc_offices(session):
        add(office.region_code, "offices")
    for clinician in accounts.list_accounts(session, Role.clinician):
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
