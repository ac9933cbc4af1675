"""A manufacturer in a real browser: every page labelled and 360 px wide, the kit preview
swapped in without losing the chosen files, and the label sheet downloaded as a PDF."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from test_cdc_first_screen import axe_findings

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
    wide.locator("form:has(#kit)").get_by_role("button", name="Check and preview").click()
    wide.wait_for_selector("#kit-preview img[src^='data:image/png']")
    assert wide.url.endswith("/manufacturer/products/new")
    assert wide.eval_on_selector("#kit", "el => el.files.length") == 1
    page_checks(wide)
    screenshot(wide, "manufacturer-product-preview")
    phone_form = new_page(viewport=PHONE)
    login(phone_form, "maker")
    phone_form.goto("/manufacturer/products/new")
    page_checks(phone_form)
    # The form with its picture and a line still fits a phone's width.
    phone_form.set_input_files("#kb-template", str(DEMO_KIT / "template.png"))
    phone_form.wait_for_selector("#kb-image:not([hidden])")
    phone_form.get_by_role("button", name="Add a line").click()
    page_checks(phone_form)
    screenshot(phone_form, "manufacturer-kit-form-phone")


def _product_kit(live_server: Any, product_code: str) -> dict[str, Any]:
    from sqlalchemy import select

    from api.products.tables import Product

    with live_server.ctx.database.session() as session:
        product = session.scalar(select(Product).where(Product.product_code == product_code))
        assert product is not None, product_code
        return dict(product.kit_document)


def _on_template(page: Any, x: float, y: float) -> tuple[float, float]:
    """The screen point of template pixel (x, y) in the form's picture (enlarged or not)."""
    box = page.locator("#kb-image").bounding_box()
    natural = page.eval_on_selector("#kb-image", "img => [img.naturalWidth, img.naturalHeight]")
    return box["x"] + x * box["width"] / natural[0], box["y"] + y * box["height"] / natural[1]


def _drag(page: Any, start: tuple[float, float], end: tuple[float, float]) -> None:
    page.mouse.move(*_on_template(page, *start))
    page.mouse.down()
    page.mouse.move(*_on_template(page, *end), steps=6)
    page.mouse.up()


def test_a_kit_built_on_the_template_equals_the_same_kit_written_in_json(
    new_page: Callable[..., Any],
    login: Callable[..., None],
    live_server: Any,
    screenshot: Callable[[Any, str], Any],
    page_checks: Callable[[Any], None],
    tmp_path: Path,
) -> None:
    written = json.loads((DEMO_KIT / "kit.json").read_text())
    written["product_code"] = "SAME-KIT-JSON"
    window, box = written["template"]["window"], written["template"]["code_box"]

    page = new_page(viewport={"width": 1366, "height": 900})
    login(page, "maker")
    page.goto("/manufacturer/products/new")
    page_checks(page)
    page.set_input_files("#kb-template", str(DEMO_KIT / "template.png"))
    page.wait_for_selector("#kb-image:not([hidden])")
    page.get_by_label("Product code").fill("SAME-KIT-FORM")
    page.get_by_label("Product name").fill(written["name"])
    page.get_by_label("What it tests for (test item)").fill(written["test_item"]["name"])
    page.get_by_label("LOINC code (optional)").fill(written["test_item"]["loinc"])
    page.get_by_label("Format").select_option("cassette")
    page.get_by_label("The sample flows").select_option(written["template"]["flow"])
    # Drag the window, then the code box, across the picture.
    page.locator("#kb-stage").scroll_into_view_if_needed()
    _drag(
        page,
        (window["x"], window["y"]),
        (window["x"] + window["w"], window["y"] + window["h"]),
    )
    assert page.locator("#kb-status").inner_text() == (
        f"Result window: x {window['x']}, y {window['y']}, {window['w']} × {window['h']} pixels."
    )
    page.get_by_label("drags the code box").check()
    _drag(page, (box["x"], box["y"]), (box["x"] + box["size"], box["y"] + box["size"]))
    # Click each line where the written kit says it is (flow down: from the window's top).
    page.get_by_label("places a line").check()
    middle = window["x"] + window["w"] / 2
    for line in written["lines"]:
        page.get_by_label("A click places a").select_option(line["role"])
        page.mouse.click(*_on_template(page, middle, window["y"] + line["at"] * window["h"]))
    assert page.locator("#kb-lines > li").count() == 2
    assert page.get_by_label("Name", exact=True).nth(0).input_value() == "T"
    assert page.get_by_label("Analyte it detects").first.input_value() == "SARS-CoV-2 antigen"
    # What the picture set is also in the number fields (the keyboard's way in).
    assert page.get_by_label("Left (x)").first.input_value() == str(window["x"])
    assert page.get_by_label("Height", exact=True).input_value() == str(window["h"])
    # The scale from the window's measured length (19.1 mm for 191 px), or typed as is.
    page.get_by_label("Scale: template pixels per millimetre").fill("5")
    assert page.get_by_label(
        "Or: the result window's length along the flow (mm)"
    ).input_value() == ("38.2")
    page.get_by_label("Or: the result window's length along the flow (mm)").fill("19.1")
    assert page.get_by_label("Scale: template pixels per millimetre").input_value() == "10"
    page.get_by_label("Scale: template pixels per millimetre").fill("10")
    page.get_by_label("Line width (mm)").fill("1")
    page.get_by_label("Read the result from (minutes after the sample)").fill("15")
    page.get_by_label("Read it until (minutes after the sample)").fill("30")
    shown = json.loads(
        page.get_by_label("The kit description this builds (kit.json)").input_value()
    )
    assert shown["template"]["window"] == window
    page.locator("#kit-builder").get_by_role("button", name="Check and preview").click()
    page.wait_for_selector("#kit-preview img[src^='data:image/png']")
    screenshot(page, "manufacturer-kit-form")
    page.locator("#kit-builder").get_by_role("button", name="Register product").click()
    page.wait_for_url("**/manufacturer/products/prd_*")

    # The same kit, written as JSON and uploaded.
    kit_file = tmp_path / "kit.json"
    kit_file.write_text(json.dumps(written))
    upload = new_page()
    login(upload, "maker")
    upload.goto("/manufacturer/products/new")
    upload.set_input_files("#kit", str(kit_file))
    upload.set_input_files("#template", str(DEMO_KIT / "template.png"))
    form = upload.locator("form:has(#kit)")
    form.get_by_role("button", name="Register product").click()
    upload.wait_for_url("**/manufacturer/products/prd_*")

    built = _product_kit(live_server, "SAME-KIT-FORM")
    uploaded = _product_kit(live_server, "SAME-KIT-JSON")
    assert built.pop("product_code") == "SAME-KIT-FORM"
    assert uploaded.pop("product_code") == "SAME-KIT-JSON"
    assert built == uploaded


def test_every_mistake_is_shown_in_plain_words(
    new_page: Callable[..., Any],
    login: Callable[..., None],
    screenshot: Callable[[Any, str], Any],
    page_checks: Callable[[Any], None],
    tmp_path: Path,
) -> None:
    broken = json.loads((DEMO_KIT / "kit.json").read_text())
    del broken["name"]
    broken["template"]["flow"] = "sideways"
    broken["lines"][1]["at"] = 1.3  # C, the control line
    # Valid, but the form has no field for it: loading the file into the form keeps it.
    broken["template"]["window_tolerance"] = {"shift_mm": 0.5, "scale": 0.02}
    kit_file = tmp_path / "kit.json"
    kit_file.write_text(json.dumps(broken))
    page = new_page()
    login(page, "maker")
    page.goto("/manufacturer/products/new")
    # An uploaded kit.json: all three mistakes listed, none in a validator's wording.
    page.set_input_files("#kit", str(kit_file))
    page.set_input_files("#template", str(DEMO_KIT / "template.png"))
    page.locator("form:has(#kit)").get_by_role("button", name="Check and preview").click()
    said = page.locator("#kit-errors li")
    said.first.wait_for()
    assert said.all_inner_texts() == [
        "The product name is missing.",
        "The flow direction must be up, down, left or right.",
        "The control line C lies outside the result window: its position must be from 0 "
        "(the sample end) to 1 (the far end).",
    ]
    # The same mistakes made in the form: each is shown beside its field.
    page.set_input_files("#kb-template", str(DEMO_KIT / "template.png"))
    page.wait_for_selector("#kb-image:not([hidden])")
    page.get_by_label("Product code").fill("MISTAKES-1")
    page.get_by_label("What it tests for (test item)").fill("SARS-CoV-2 antigen")
    for field, value in (
        ("Left (x)", "95"),
        ("Top (y)", "195"),
        ("Width", "50"),
        ("Height", "191"),
    ):
        page.get_by_label(field, exact=True).first.fill(value)
    page.get_by_label("A click places a").select_option("test")
    add = page.get_by_role("button", name="Add a line")
    add.click()
    page.get_by_label("A click places a").select_option("control")
    # By keyboard: the new line's first field takes the focus.
    add.focus()
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "kb-line-1-name"
    page.get_by_label("Position (0 to 1)").nth(1).fill("1.3")
    page.get_by_label("Read the result from (minutes after the sample)").fill("40")
    page.locator("#kit-builder").get_by_role("button", name="Check and preview").click()
    page.wait_for_selector("#kit-builder .field-error")
    name = page.get_by_label("Product name")
    assert name.get_attribute("aria-invalid") == "true"
    assert page.locator("[data-path='name'] .field-error").inner_text() == (
        "The product name is empty."
    )
    position = page.get_by_label("Position (0 to 1)").nth(1)
    assert position.get_attribute("aria-invalid") == "true"
    assert (
        page.locator("[data-path='lines.1.at'] .field-error")
        .inner_text()
        .startswith("The control line C lies outside the result window")
    )
    assert (
        "latest read time is before the earliest"
        in page.locator("[data-path='read_time_minutes'] > .field-error").inner_text()
    )
    # The summary links each mistake to its field.
    page.locator("#kit-errors a", has_text="The product name is empty.").click()
    assert page.evaluate("() => document.activeElement.id") == "kb-name"
    screenshot(page, "manufacturer-kit-form-mistakes")
    # With the picture, the lines and the mistakes shown, nothing serious for axe-core.
    assert axe_findings(page) == []
    page_checks(page)
    # The kit.json with three mistakes, loaded into the form: each beside its field.
    page.set_input_files("#kb-load", str(kit_file))
    page.wait_for_selector("#kb-status:has-text('The fields now hold kit.json')")
    assert page.locator("#kb-lines > li").count() == 2
    page.get_by_label("Product code").fill("MISTAKES-2")  # built again after an edit
    shown = json.loads(page.locator("#kb-json").input_value())
    assert shown["product_code"] == "MISTAKES-2"
    assert shown["template"]["window_tolerance"] == broken["template"]["window_tolerance"]
    page.locator("#kit-builder").get_by_role("button", name="Check and preview").click()
    page.wait_for_selector("[data-path='template.flow'] .field-error")
    beside = {
        path: page.locator(f"[data-path='{path}'] > .field-error").all_inner_texts()
        for path in ("name", "template.flow", "lines.1.at")
    }
    assert beside == {
        "name": ["The product name is missing."],
        "template.flow": ["The flow direction must be up, down, left or right."],
        "lines.1.at": [
            "The control line C lies outside the result window: its position must be from 0 "
            "(the sample end) to 1 (the far end)."
        ],
    }
    assert page.locator("#kit-builder .field-error").count() == 3  # the earlier ones are gone


LONG_NAME = (
    "Pneumococcal-Urinary-Antigen-Immunochromatographic-Rapid-Diagnostic-Test-Cassette-"
    "for-Professional-and-Home-Use-Extended-Shelf-Life-Edition"
)


def test_a_long_product_name_fits_its_labels_on_a_phone(
    new_page: Callable[..., Any],
    login: Callable[..., None],
    screenshot: Callable[[Any, str], Any],
    page_checks: Callable[[Any], None],
    tmp_path: Path,
) -> None:
    kit = json.loads((DEMO_KIT / "kit.json").read_text())
    kit.update(product_code="LONG-NAME-1", name=LONG_NAME)
    kit_file = tmp_path / "kit.json"
    kit_file.write_text(json.dumps(kit))
    page = new_page(viewport=PHONE)
    login(page, "maker")
    page.goto("/manufacturer/products/new")
    page.set_input_files("#kit", str(kit_file))
    page.set_input_files("#template", str(DEMO_KIT / "template.png"))
    page.locator("form:has(#kit)").get_by_role("button", name="Register product").click()
    page.wait_for_url("**/manufacturer/products/prd_*")
    page_checks(page)
    page.get_by_label("Lot number").fill("LONG-LOT-1")
    page.get_by_label("Units").fill("5")
    page.get_by_role("button", name="Create batch and issue codes").click()
    page.wait_for_url("**/manufacturer/batches/*")
    page_checks(page)
    two_lines = (
        "e => e.getBoundingClientRect().height <= 2.2 * parseFloat(getComputedStyle(e).lineHeight)"
    )
    back = page.locator(f"a.name-clamp[title='{LONG_NAME}']")
    assert back.evaluate(two_lines)
    screenshot(page, "manufacturer-long-name-batch-phone")
    page.goto("/manufacturer")
    page_checks(page)
    # In both tables: two lines at most, cut with an ellipsis, the whole name in the title.
    names = page.locator(f".name-clamp[title='{LONG_NAME}']")
    assert names.count() == 2
    for i in range(2):
        assert names.nth(i).evaluate(two_lines)
        assert names.nth(i).evaluate("e => e.scrollHeight > e.clientHeight")  # it was cut
    screenshot(page, "manufacturer-long-name-home-phone")
