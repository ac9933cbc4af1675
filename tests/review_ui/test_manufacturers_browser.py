"""A manufacturer in a real browser: every page labelled and 360 px wide, the kit preview
swapped in without losing the chosen files, and the label sheet downloaded as a PDF."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from api.public_ids import PRODUCT, encode

PHONE = {"width": 360, "height": 740}
LAPTOP = {"width": 1280, "height": 860}
DEMO_KIT = Path(__file__).resolve().parents[2] / "datasets" / "kits" / "demo"


def image_width(page: Any, selector: str) -> int:
    """The loaded image's width (0 if it never loads); polled, the page's CSP forbids eval."""
    for _ in range(50):
        width = page.eval_on_selector(selector, "img => img.complete ? img.naturalWidth : -1")
        if width >= 0:
            return int(width)
        page.wait_for_timeout(100)
    return 0


def test_label_sheet_download_and_every_page_on_a_phone(
    new_page: Callable[..., Any],
    login: Callable[..., None],
    screenshot: Callable[[Any, str], Any],
    page_checks: Callable[[Any], None],
    tmp_path: Path,
) -> None:
    signup = new_page(viewport=PHONE)
    signup.goto("/manufacturer/sign-up")
    page_checks(signup)
    screenshot(signup, "manufacturer-sign-up-phone")

    page = new_page(viewport=PHONE)
    login(page, "maker")
    assert page.url.endswith("/manufacturer")
    page_checks(page)
    screenshot(page, "manufacturer-home-phone")

    page.get_by_role("link", name="DEMO-LOT-001").first.click()
    page.wait_for_url("**/manufacturer/batches/*")
    page_checks(page)
    screenshot(page, "manufacturer-batch-phone")
    with page.expect_download() as download_info:
        page.locator("#labels-pdf").click()
    download = download_info.value
    assert download.suggested_filename == "DEMO-LOT-001-labels.pdf"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    data = saved.read_bytes()
    assert data.startswith(b"%PDF-")
    assert b"%%EOF" in data[-1024:]

    page.goto(f"/manufacturer/products/{encode(PRODUCT, 1)}")
    page.wait_for_selector("img[src$='preview.png']")
    assert image_width(page, "img[src$='preview.png']") > 0
    page_checks(page)
    screenshot(page, "manufacturer-product-phone")

    # The preview comes back into the form's page (htmx): the chosen files stay chosen.
    wide = new_page(viewport=LAPTOP)
    login(wide, "maker")
    wide.goto("/manufacturer/products/new")
    kit = json.loads((DEMO_KIT / "kit.json").read_text())
    kit["product_code"] = "BROWSER-KIT"
    kit_file = tmp_path / "kit.json"
    kit_file.write_text(json.dumps(kit))
    wide.set_input_files("#kit", str(kit_file))
    wide.set_input_files("#template", str(DEMO_KIT / "template.png"))
    wide.get_by_role("button", name="Check and preview").click()
    wide.wait_for_selector("#kit-preview img[src^='data:image/png']")
    assert wide.url.endswith("/manufacturer/products/new")
    assert wide.eval_on_selector("#kit", "el => el.files.length") == 1
    page_checks(wide)
    screenshot(wide, "manufacturer-product-preview")
    phone_form = new_page(viewport=PHONE)
    login(phone_form, "maker")
    phone_form.goto("/manufacturer/products/new")
    page_checks(phone_form)
