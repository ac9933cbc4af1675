"""Operator pages through HTTP: manufacturer review, institutions, clinicians, CDC, regions."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
from review_ui_helpers import user_named
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.accounts.tables import User
from api.audit.tables import AuditEntry
from api.context import AppContext
from api.organisations.schemas import ManufacturerSignUp
from api.organisations.service import add_document, sign_up
from api.organisations.tables import CdcOffice, Institution, Manufacturer
from api.public_ids import CDC_OFFICE, INSTITUTION, MANUFACTURER, encode

PDF = b"%PDF-1.4 licence"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def applicant(session: Session, ctx: AppContext) -> Manufacturer:
    manufacturer, maker = sign_up(
        session,
        ManufacturerSignUp(
            name="Pending Maker Ltd",
            business_licence_no="PEND-0001",
            device_certificates=["PEND-CERT"],
            contact_email="qa@pending.example",
            username="pending-maker",
            password="correct horse battery",
        ),
    )
    add_document(
        session, ctx, maker, manufacturer.id, kind="business_licence", filename="l.pdf", data=PDF
    )
    session.commit()
    return manufacturer


def test_only_operators_see_the_pages(pages: Any) -> None:
    assert pages.get("/operator", follow_redirects=False).status_code == 303
    paths = (
        "/operator",
        "/operator/manufacturers",
        "/operator/institutions",
        "/operator/clinicians",
        "/operator/cdc-offices",
        "/operator/regions",
    )
    for username in ("maker", "cdc-national", "clinician-south", "patient2", "scientist"):
        pages.log_in(username)
        for path in paths:
            assert pages.get(path).status_code == 403, (username, path)
    pages.log_in("operator")
    for path in paths:
        assert pages.get(path).status_code == 200, path


def test_the_overview_lists_applications_waiting(pages: Any, applicant: Manufacturer) -> None:
    pages.log_in("operator")
    html = pages.get("/operator").text
    assert "Pending Maker Ltd" in html
    assert f"/operator/manufacturers/{encode(MANUFACTURER, applicant.id)}" in html
    listed = pages.get("/operator/manufacturers?status=approved").text
    assert "Demo Diagnostics Co." in listed
    assert "Pending Maker Ltd" not in listed


def test_review_shows_documents_needs_a_reason_to_reject_and_a_check_to_approve(
    pages: Any, session: Session, applicant: Manufacturer
) -> None:
    pages.log_in("operator")
    page = pages.get(f"/operator/manufacturers/{encode(MANUFACTURER, applicant.id)}")
    assert "l.pdf" in page.text
    link = f"/operator/manufacturers/{encode(MANUFACTURER, applicant.id)}/documents/"
    start = page.text.index(link)
    document_url = page.text[start : page.text.index('"', start)]
    document = pages.get(document_url)
    assert document.content == PDF
    assert "sandbox" in document.headers["content-security-policy"]

    no_reason = pages.post(
        f"/operator/manufacturers/{encode(MANUFACTURER, applicant.id)}/review",
        {"decision": "reject", "reason": " "},
    )
    assert no_reason.status_code == 422
    assert "a rejection needs a reason" in no_reason.text
    session.refresh(applicant)
    assert applicant.status == "pending"

    rejected = pages.post(
        f"/operator/manufacturers/{encode(MANUFACTURER, applicant.id)}/review",
        {"decision": "reject", "reason": "The licence scan is unreadable."},
    )
    assert rejected.status_code == 303
    session.refresh(applicant)
    assert applicant.status == "rejected"
    assert applicant.review_reason == "The licence scan is unreadable."
    assert "it can read your reason" in pages.get(rejected.headers["location"]).text

    # Approving asks for the check on the server, so it holds without JavaScript too.
    unchecked = pages.post(
        f"/operator/manufacturers/{encode(MANUFACTURER, applicant.id)}/review",
        {"decision": "approve"},
    )
    assert unchecked.status_code == 422
    assert "Not approved: tick" in unchecked.text
    session.refresh(applicant)
    assert applicant.status == "rejected"

    approved = pages.post(
        f"/operator/manufacturers/{encode(MANUFACTURER, applicant.id)}/review",
        {"decision": "approve", "checked": "1"},
    )
    assert approved.status_code == 303
    session.refresh(applicant)
    assert applicant.status == "approved"
    actions = list(
        session.scalars(select(AuditEntry.action).where(AuditEntry.object_id == str(applicant.id)))
    )
    assert "manufacturer_rejected" in actions
    assert "manufacturer_approved" in actions
    # Another manufacturer's document through this manufacturer's address: not found.
    other = pages.get(
        f"/operator/manufacturers/{encode(MANUFACTURER, applicant.id + 99)}/documents/1"
    )
    assert other.status_code == 404


def test_register_an_institution_and_its_clinician_who_can_then_log_in(
    pages: Any, session: Session
) -> None:
    pages.log_in("operator")
    pages.get("/operator/institutions")
    bad_region = pages.post(
        "/operator/institutions",
        {"name": "Harbour Clinic", "region_code": "NOWHERE", "address": "2 Quay"},
    )
    assert bad_region.status_code == 422
    assert "unknown region code" in bad_region.text
    assert 'value="Harbour Clinic"' in bad_region.text
    created = pages.post(
        "/operator/institutions",
        {"name": "Harbour Clinic", "region_code": "DL-N-01-02", "address": "2 Quay"},
    )
    assert created.status_code == 303
    institution = session.scalar(select(Institution).where(Institution.name == "Harbour Clinic"))
    assert institution is not None
    assert "Millbrook (DL-N-01-02)" in pages.get("/operator/institutions").text

    pages.get("/operator/clinicians")
    taken = pages.post(
        "/operator/clinicians",
        {
            "display_name": "Dr New",
            "username": "clinician-north",
            "password": "long enough secret",
            "institution_id": encode(INSTITUTION, institution.id),
        },
    )
    assert taken.status_code == 409
    assert "is taken" in taken.text
    short = pages.post(
        "/operator/clinicians",
        {
            "display_name": "Dr New",
            "username": "dr-new",
            "password": "short",
            "institution_id": encode(INSTITUTION, institution.id),
        },
    )
    assert short.status_code == 422
    assert "Password" in short.text
    opened = pages.post(
        "/operator/clinicians",
        {
            "display_name": "Dr New",
            "username": "dr-new",
            "password": "long enough secret",
            "institution_id": encode(INSTITUTION, institution.id),
        },
    )
    assert opened.status_code == 303
    clinician = user_named(session, "dr-new")
    assert (clinician.role, clinician.institution_id) == ("clinician", institution.id)
    assert "Dr New" in pages.get("/operator/clinicians").text
    assert pages.log_in("dr-new", "long enough secret").headers["location"] == "/review"


def test_register_a_cdc_office_and_an_officer_scoped_to_it(pages: Any, session: Session) -> None:
    pages.log_in("operator")
    pages.get("/operator/cdc-offices")
    office = pages.post("/operator/cdc-offices", {"name": "Aldport CDC", "region_code": "DL-N-01"})
    assert office.status_code == 303
    created = session.scalar(select(CdcOffice).where(CdcOffice.name == "Aldport CDC"))
    assert created is not None
    no_office = pages.post(
        "/operator/cdc-officers",
        {"display_name": "Officer", "username": "aldport-1", "password": "long enough secret"},
    )
    assert no_office.status_code == 422
    assert "needs an existing CDC office" in no_office.text
    officer = pages.post(
        "/operator/cdc-officers",
        {
            "display_name": "Aldport Officer",
            "username": "aldport-1",
            "password": "long enough secret",
            "cdc_office_id": encode(CDC_OFFICE, created.id),
        },
    )
    assert officer.status_code == 303
    user = session.scalar(select(User).where(User.username == "aldport-1"))
    assert user is not None
    assert user.cdc_office_id == created.id
    html = pages.get("/operator/cdc-offices").text
    assert "Aldport Officer" in html
    # The new officer's live view covers the city and its districts.
    pages.log_in("aldport-1", "long enough secret")
    live = pages.get("/cdc").text
    assert "Aldport CDC" in live
    assert '<option value="DL-N-01-02"' in live
    assert '<option value="DL-S-02-01"' not in live


def test_the_regions_page_maps_institutions(pages: Any) -> None:
    pages.log_in("operator")
    html = pages.get("/operator/regions").text
    start = html.rindex("<svg", 0, html.index('id="regions-map"'))
    svg = ET.fromstring(html[start : html.index("</svg>", start) + 6])
    paths = {p.get("data-code"): p.get("data-value") for p in svg.iter(f"{SVG}path")}
    assert len(paths) == 8  # the demo's districts
    assert paths["DL-N-01-01"] == "1"  # one demo hospital there
    assert paths["DL-N-02-01"] == "0"
    provinces = pages.get("/operator/regions?level=province&show=offices").text
    assert "Map: CDC offices by province" in provinces
    # The table counts everything under each region: Demoland has both institutions,
    # their four clinicians (a second reader each) and all three offices.
    row = provinces[provinces.index("<td>DL</td>") :]
    cells = [c.split("</td>")[0] for c in row.split('<td class="num">')[1:4]]
    assert cells == ["2", "4", "3"]
