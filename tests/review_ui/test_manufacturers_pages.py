"""Manufacturer pages through HTTP: sign-up with documents, products, batches, exports."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from review_ui_helpers import user_named
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.batches.tables import Batch
from api.organisations.tables import Manufacturer, ManufacturerDocument
from api.products.preview import render_preview
from api.products.tables import Product
from api.public_ids import BATCH, DOCUMENT, PRODUCT, encode
from pipeline.kit import load_kit, parse_kit
from review_ui.session import SESSION_COOKIE

DEMO_KIT = Path(__file__).resolve().parents[2] / "datasets" / "kits" / "demo"
PDF = b"%PDF-1.4 licence scan"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def kit_files(product_code: str = "NEW-KIT-1", **changes: Any) -> dict[str, Any]:
    kit = json.loads((DEMO_KIT / "kit.json").read_text())
    kit["product_code"] = product_code
    kit.update(changes)
    return {
        "kit": ("kit.json", json.dumps(kit).encode(), "application/json"),
        "template": ("template.png", (DEMO_KIT / "template.png").read_bytes(), "image/png"),
    }


def sign_up_form(**changes: str) -> dict[str, str]:
    form = {
        "name": "Acme Rapid Tests",
        "business_licence_no": "ACME-2024-01",
        "device_certificates": "ACME-MDR-1\nACME-MDR-2",
        "contact_email": "ra@acme.example",
        "username": "acme",
        "password": "long enough secret",
    }
    form.update(changes)
    return form


class Mailboxes:
    """The e-mail channel as the manufacturers' contact addresses see it (``ctx.notifier``;
    delivery over real SMTP is tests/api/security/test_sign_up.py's)."""

    def __init__(self) -> None:
        self.mails: list[tuple[str, str]] = []

    def send(self, channel: str, address: str, text: str) -> None:
        assert channel == "email"
        self.mails.append((address, text))

    def last_code(self) -> str:
        return self.mails[-1][1].split("code is ")[1].split(".")[0]


@pytest.fixture
def mailboxes(ctx: Any) -> Mailboxes:
    ctx.notifier = Mailboxes()
    return ctx.notifier


def sign_up_and_confirm(pages: Any, mailboxes: Mailboxes) -> Any:
    """Sign up on the page (licence attached) and send back the e-mailed code."""
    pages.get("/manufacturer/sign-up")
    form = sign_up_form()
    files = [("licence_document", ("licence.pdf", PDF, "application/pdf"))]
    answered = pages.post("/manufacturer/sign-up", form, files=files)
    assert answered.status_code == 200, answered.text
    assert "Check your e-mail" in answered.text
    return pages.post(
        "/manufacturer/sign-up/confirm",
        {"username": form["username"], "email_code": mailboxes.last_code()},
    )


def demo_batch(session: Session) -> Batch:
    batch = session.scalar(select(Batch).where(Batch.lot_number == "DEMO-LOT-001"))
    assert batch is not None
    return batch


def test_only_manufacturers_see_the_pages(pages: Any) -> None:
    response = pages.get("/manufacturer", follow_redirects=False)
    assert response.status_code == 303
    for username in ("operator", "cdc-north", "clinician-north", "patient1"):
        pages.log_in(username)
        for path in ("/manufacturer", "/manufacturer/products/new", "/manufacturer/batches/1"):
            assert pages.get(path).status_code == 403, (username, path)


def test_sign_up_with_documents_logs_in_and_shows_the_pending_review(
    pages: Any, session: Session, mailboxes: Mailboxes
) -> None:
    page = pages.get("/manufacturer/sign-up")
    assert page.status_code == 200
    answered = pages.post(
        "/manufacturer/sign-up",
        sign_up_form(),
        files=[
            ("licence_document", ("licence.pdf", PDF, "application/pdf")),
            ("certificate_documents", ("cert1.png", PNG_MAGIC + b"x", "image/png")),
            ("certificate_documents", ("cert2.pdf", PDF, "application/pdf")),
        ],
    )
    assert answered.status_code == 200, answered.text
    assert SESSION_COOKIE not in answered.headers.get("set-cookie", "")
    assert mailboxes.mails[-1][0] == "ra@acme.example"
    wrong = pages.post(
        "/manufacturer/sign-up/confirm", {"username": "acme", "email_code": "000000"}
    )
    assert wrong.status_code == 422
    assert "wrong, expired or used up" in wrong.text
    response = pages.post(
        "/manufacturer/sign-up/confirm", {"username": "acme", "email_code": mailboxes.last_code()}
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/manufacturer?done=welcome"
    manufacturer = session.scalar(
        select(Manufacturer).where(Manufacturer.business_licence_no == "ACME-2024-01")
    )
    assert manufacturer is not None
    assert manufacturer.status == "pending"
    assert manufacturer.device_certificates == ["ACME-MDR-1", "ACME-MDR-2"]
    kinds = sorted(
        d.kind
        for d in session.scalars(
            select(ManufacturerDocument).where(
                ManufacturerDocument.manufacturer_id == manufacturer.id
            )
        )
    )
    assert kinds == ["business_licence", "registration_certificate", "registration_certificate"]
    home = pages.get("/manufacturer")  # the sign-up's cookie is the session
    assert home.status_code == 200
    assert "waiting for review" in home.text
    assert "licence.pdf" in home.text
    assert "once your application is approved" in home.text
    new_product = pages.get("/manufacturer/products/new")
    assert "products can be registered once it is approved" in new_product.text
    refused = pages.post(
        "/manufacturer/products", {"registration_certificate_no": "ACME-MDR-1"}, files=kit_files()
    )
    assert refused.status_code == 403
    assert "products can be registered once it is approved" in refused.text


def test_sign_up_refuses_bad_input_and_keeps_what_was_typed(pages: Any, session: Session) -> None:
    pages.get("/manufacturer/sign-up")
    without_licence = pages.post("/manufacturer/sign-up", sign_up_form())
    assert without_licence.status_code == 422
    assert "attach a scan of the licence" in without_licence.text
    assert 'value="Acme Rapid Tests"' in without_licence.text
    assert "long enough secret" not in without_licence.text  # never echo a password
    wrong_type = pages.post(
        "/manufacturer/sign-up",
        sign_up_form(),
        files=[("licence_document", ("licence.txt", b"plain text", "text/plain"))],
    )
    assert wrong_type.status_code == 422
    assert "PDF, JPEG or PNG" in wrong_type.text
    bad_fields = pages.post(
        "/manufacturer/sign-up",
        sign_up_form(business_licence_no="no spaces!", password="short"),
        files=[("licence_document", ("licence.pdf", PDF, "application/pdf"))],
    )
    assert bad_fields.status_code == 422
    assert "Business licence number" in bad_fields.text
    assert "Password" in bad_fields.text
    assert (
        session.scalar(select(Manufacturer).where(Manufacturer.name == "Acme Rapid Tests")) is None
    )


def test_the_sign_up_page_tells_no_one_who_is_registered(
    pages: Any, session: Session, mailboxes: Mailboxes
) -> None:
    def sign_up(**changes: str) -> str:
        pages.client.cookies.clear()
        pages.get("/manufacturer/sign-up")
        answer = pages.post(
            "/manufacturer/sign-up",
            sign_up_form(**changes),
            files=[("licence_document", ("licence.pdf", PDF, "application/pdf"))],
        )
        assert answer.status_code == 200, answer.text
        assert SESSION_COOKIE not in answer.headers.get("set-cookie", "")
        # What differs by who typed it: the user name, and each visitor's CSRF token.
        return re.sub("[0-9a-f]{64}", "TOKEN", answer.text.replace(changes["username"], "USER"))

    licence_taken = sign_up(business_licence_no="91110000-DEMO01", username="acme2")
    name_taken = sign_up(username="patient1")
    new = sign_up(username="acme3")
    assert licence_taken == name_taken == new
    told = [text for _address, text in mailboxes.mails[-3:]]
    assert "Someone tried to sign up a manufacturer" in told[0]
    assert "user name you chose is taken" in told[1]
    assert "Your Vigil code is" in told[2]
    # A refused document is refused alike: the answer may not depend on who is registered.
    for username in ("patient1", "acme4"):
        wrong_type = pages.post(
            "/manufacturer/sign-up",
            sign_up_form(username=username, business_licence_no="ACME-2024-09"),
            files=[("licence_document", ("licence.txt", b"plain text", "text/plain"))],
        )
        assert wrong_type.status_code == 422
        assert "PDF, JPEG or PNG" in wrong_type.text


def test_the_sign_up_page_is_throttled_per_address(pages: Any, mailboxes: Mailboxes) -> None:
    pages.get("/manufacturer/sign-up")
    answers = [pages.post("/manufacturer/sign-up", sign_up_form()) for _ in range(20)]
    assert {a.status_code for a in answers} == {422}  # no licence attached: refused, counted
    refused = pages.post(
        "/manufacturer/sign-up",
        sign_up_form(),
        files=[("licence_document", ("licence.pdf", PDF, "application/pdf"))],
    )
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert mailboxes.mails == []  # nothing went out for the refused try
    confirm = pages.post("/manufacturer/sign-up/confirm", {"username": "acme", "email_code": "1"})
    assert confirm.status_code == 429


def test_home_shows_products_batches_and_units_used(pages: Any) -> None:
    pages.log_in("maker")
    html = pages.get("/manufacturer").text
    assert "approved" in html
    assert "Demo SARS-CoV-2 Antigen Rapid Test" in html
    assert "DEMO-LOT-001" in html
    # Six demo patients scanned a unit each (the page tests' demo stops at the scan).
    assert "6 of 200 used" in html
    assert re.search(r'<progress[^>]+max="200" value="6"', html)


def test_preview_draws_the_kit_before_registering(pages: Any) -> None:
    pages.log_in("maker")
    pages.get("/manufacturer/products/new")
    page = pages.post("/manufacturer/products/preview", files=kit_files())
    assert page.status_code == 200
    assert "data:image/png;base64," in page.text
    assert "T (test)" not in page.text  # the names are drawn in the picture, not printed
    assert "Position from the sample end" in page.text
    fragment = pages.post(
        "/manufacturer/products/preview", files=kit_files(), headers={"HX-Request": "true"}
    )
    assert fragment.text.lstrip().startswith('<div id="kit-preview"')
    broken = kit_files()
    document = json.loads(broken["kit"][1])
    document["lines"][0]["at"] = 1.7
    broken["kit"] = ("kit.json", json.dumps(document).encode(), "application/json")
    refused = pages.post("/manufacturer/products/preview", files=broken)
    assert refused.status_code == 422
    assert "lines" in refused.text
    assert "data:image/png" not in refused.text


def test_register_a_product_then_a_batch_and_download_its_codes(
    pages: Any, session: Session
) -> None:
    pages.log_in("maker")
    pages.get("/manufacturer/products/new")
    response = pages.post(
        "/manufacturer/products",
        {"registration_certificate_no": "DL-MDR-2024-0001"},
        files=kit_files("NEW-KIT-1"),
    )
    assert response.status_code == 303, response.text
    product = session.scalar(select(Product).where(Product.product_code == "NEW-KIT-1"))
    assert product is not None
    assert (
        response.headers["location"]
        == f"/manufacturer/products/{encode(PRODUCT, product.id)}?done=product"
    )
    page = pages.get(response.headers["location"])
    assert "The product was registered." in page.text
    image = pages.get(f"/manufacturer/products/{encode(PRODUCT, product.id)}/preview.png")
    assert image.headers["content-type"] == "image/png"
    assert image.content.startswith(PNG_MAGIC)

    expiry = (date.today() + timedelta(days=200)).isoformat()
    created = pages.post(
        "/manufacturer/batches",
        {
            "product_id": encode(PRODUCT, product.id),
            "lot_number": "NK-001",
            "quantity": "12",
            "expiry_date": expiry,
        },
    )
    assert created.status_code == 303, created.text
    batch = session.scalar(select(Batch).where(Batch.lot_number == "NK-001"))
    assert batch is not None
    batch_page = pages.get(created.headers["location"])
    assert "0 of 12 used" in batch_page.text
    assert 'id="units-unused">12<' in batch_page.text

    codes = pages.get(f"/manufacturer/batches/{encode(BATCH, batch.id)}/codes.csv")
    assert codes.headers["content-type"].startswith("text/csv")
    assert "attachment" in codes.headers["content-disposition"]
    assert len(list(csv.DictReader(io.StringIO(codes.text)))) == 12
    some = pages.get(f"/manufacturer/batches/{encode(BATCH, batch.id)}/codes.csv?first=3&last=5")
    assert len(list(csv.DictReader(io.StringIO(some.text)))) == 3
    archive = zipfile.ZipFile(
        io.BytesIO(pages.get(f"/manufacturer/batches/{encode(BATCH, batch.id)}/codes.zip").content)
    )
    assert len([n for n in archive.namelist() if n.endswith((".png", ".svg"))]) >= 12
    pdf = pages.get(f"/manufacturer/batches/{encode(BATCH, batch.id)}/labels.pdf?first=1&last=4")
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert 'filename="NK-001-1-4-labels.pdf"' in pdf.headers["content-disposition"]


def test_batch_errors_are_shown_on_the_product_page(pages: Any, session: Session) -> None:
    pages.log_in("maker")
    product = session.scalar(select(Product).where(Product.product_code == "DEMO-COV-AG"))
    assert product is not None
    pages.get(f"/manufacturer/products/{encode(PRODUCT, product.id)}")
    past = (date.today() - timedelta(days=1)).isoformat()
    expired = pages.post(
        "/manufacturer/batches",
        {
            "product_id": encode(PRODUCT, product.id),
            "lot_number": "OLD-1",
            "quantity": "5",
            "expiry_date": past,
        },
    )
    assert expired.status_code == 422
    assert "must be in the future" in expired.text
    assert 'value="OLD-1"' in expired.text
    duplicate = pages.post(
        "/manufacturer/batches",
        {
            "product_id": encode(PRODUCT, product.id),
            "lot_number": "DEMO-LOT-001",
            "quantity": "5",
            "expiry_date": (date.today() + timedelta(days=9)).isoformat(),
        },
    )
    assert duplicate.status_code == 409
    assert "already exists" in duplicate.text
    nonsense = pages.post(
        "/manufacturer/batches",
        {
            "product_id": encode(PRODUCT, product.id),
            "lot_number": "X 1",
            "quantity": "many",
            "expiry_date": "soon",
        },
    )
    assert nonsense.status_code == 422
    assert "Quantity" in nonsense.text


def test_another_manufacturer_cannot_reach_a_batch_or_product(
    pages: Any, session: Session, mailboxes: Mailboxes
) -> None:
    batch = demo_batch(session)
    assert sign_up_and_confirm(pages, mailboxes).status_code == 303
    for path in (
        f"/manufacturer/batches/{encode(BATCH, batch.id)}",
        f"/manufacturer/batches/{encode(BATCH, batch.id)}/labels.pdf",
        f"/manufacturer/batches/{encode(BATCH, batch.id)}/codes.csv",
        f"/manufacturer/products/{encode(PRODUCT, batch.product_id)}",
        f"/manufacturer/products/{encode(PRODUCT, batch.product_id)}/preview.png",
    ):
        response = pages.get(path)
        assert response.status_code == 404, path
        assert not response.content.startswith(b"%PDF")


def test_documents_upload_and_open_inline_in_a_sandbox(pages: Any, session: Session) -> None:
    pages.log_in("maker")
    pages.get("/manufacturer")
    response = pages.post(
        "/manufacturer/documents",
        {"kind": "other"},
        files={"file": ("iso13485.pdf", PDF, "application/pdf")},
    )
    assert response.status_code == 303
    maker = user_named(session, "maker")
    document = session.scalar(
        select(ManufacturerDocument).where(
            ManufacturerDocument.manufacturer_id == maker.manufacturer_id
        )
    )
    assert document is not None
    shown = pages.get(f"/manufacturer/documents/{encode(DOCUMENT, document.id)}")
    assert shown.content == PDF
    assert shown.headers["content-disposition"].startswith("inline")
    assert "sandbox" in shown.headers["content-security-policy"]
    bad = pages.post(
        "/manufacturer/documents", {"kind": "other"}, files={"file": ("x.exe", b"MZ", "x/y")}
    )
    assert bad.status_code == 415
    assert "PDF, JPEG or PNG" in bad.text


@pytest.mark.parametrize("flow", ["down", "up", "left", "right"])
def test_the_preview_draws_lines_where_the_kit_says(flow: str) -> None:
    """On a blank template the test line is drawn across the window at its ``at``."""
    template = np.full((200, 200, 4), 255, np.uint8)
    along = flow in ("up", "down")
    window = (
        {"x": 80, "y": 40, "w": 40, "h": 120} if along else {"x": 40, "y": 80, "w": 120, "h": 40}
    )
    document = json.loads((DEMO_KIT / "kit.json").read_text())
    document["template"] = {"image": "t.png", "px_per_mm": 10.0, "window": window, "flow": flow}
    document["lines"] = [
        {"name": "T", "role": "test", "at": 0.25},
        {"name": "C", "role": "control", "at": 0.75},
    ]
    kit = parse_kit(document, template)
    image = render_preview(kit, max_side=200)
    assert image.shape == (200, 200, 3)
    # The test line's place: a quarter of the window from the sample side.
    start = {"down": 40, "up": 160, "right": 40, "left": 160}[flow]
    step = 0.25 * 120 * (1 if flow in ("down", "right") else -1)
    at = round(start + step)
    centre = 100
    pixel = image[at, centre] if along else image[centre, at]
    b, g, r = (int(v) for v in pixel)
    assert r > b + 40
    assert r > g
    control_at = round(start + 3 * step)
    pixel = image[control_at, centre] if along else image[centre, control_at]
    b, g, r = (int(v) for v in pixel)
    assert g > r  # greenish: the control line


def test_the_demo_preview_is_larger_than_the_template_and_encodes() -> None:
    kit = load_kit(DEMO_KIT / "kit.json")
    image = render_preview(kit)
    assert max(image.shape[:2]) >= max(kit.template.shape[:2])
    ok, _ = cv2.imencode(".png", image)
    assert ok


def test_the_form_s_built_json_goes_through_the_kit_validation(
    pages: Any, session: Session
) -> None:
    """The kit form sends the JSON it built (``kit_json``) with the template: the same
    checks as an uploaded kit.json, every mistake by its field, and htmx gets the
    fragment (the form keeps its fields) or, once registered, where to go."""
    pages.log_in("maker")
    pages.get("/manufacturer/products/new")
    template = {"template": ("template.png", (DEMO_KIT / "template.png").read_bytes(), "image/png")}
    kit = json.loads((DEMO_KIT / "kit.json").read_text())
    broken = {**kit, "name": "", "format": "tablet", "line_color": "red"}
    htmx = {"HX-Request": "true"}
    fragment = pages.post(
        "/manufacturer/products/preview",
        {"kit_json": json.dumps(broken)},
        files=template,
        headers=htmx,
    )
    assert fragment.status_code == 200
    assert re.findall(r'<li data-field="([^"]+)">([^<]+)</li>', fragment.text) == [
        ("name", "The product name is empty."),
        ("format", "The format must be “cassette” or “strip”."),
        ("line_color", "The line colour must be written as #rrggbb, for example #aa3366."),
    ]
    # A whole page (no htmx) lists the same three above the forms.
    page = pages.post(
        "/manufacturer/products",
        {"kit_json": json.dumps(broken), "registration_certificate_no": "DL-MDR-2024-0001"},
        files=template,
    )
    assert page.status_code == 422
    assert page.text.count("The product name is empty.") == 1
    assert "The format must be “cassette” or “strip”." in page.text
    # No template: said beside the template field.
    missing = pages.post(
        "/manufacturer/products/preview", {"kit_json": json.dumps(kit)}, headers=htmx
    )
    assert '<li data-field="template.image">Choose the template image (PNG).</li>' in missing.text
    kit["product_code"] = "BUILT-KIT-1"
    registered = pages.post(
        "/manufacturer/products",
        {"kit_json": json.dumps(kit), "registration_certificate_no": "DL-MDR-2024-0001"},
        files=template,
        headers=htmx,
    )
    product = session.scalar(select(Product).where(Product.product_code == "BUILT-KIT-1"))
    assert product is not None
    assert registered.headers["HX-Redirect"] == (
        f"/manufacturer/products/{encode(PRODUCT, product.id)}?done=product"
    )
