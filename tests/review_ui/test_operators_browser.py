"""The operator's pages in a real browser: labelled, 360 px wide, and a review by keyboard."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from api.public_ids import MANUFACTURER, encode

PHONE = {"width": 360, "height": 740}

PAGES = (
    ("/operator", "operator-overview"),
    ("/operator/manufacturers", "operator-manufacturers"),
    ("/operator/manufacturers/{first}", "operator-manufacturer"),
    ("/operator/institutions", "operator-institutions"),
    ("/operator/clinicians", "operator-clinicians"),
    ("/operator/cdc-offices", "operator-cdc-offices"),
    ("/operator/regions", "operator-regions"),
    ("/operator/deliveries", "operator-deliveries"),
    ("/operator/codes", "operator-codes"),
)


def test_operator_pages_hold_on_a_phone_and_work_by_keyboard(
    new_page: Callable[..., Any],
    login: Callable[..., None],
    screenshot: Callable[[Any, str], Any],
    page_checks: Callable[[Any], None],
) -> None:
    page = new_page(viewport=PHONE)
    login(page, "operator")
    for path, name in PAGES:
        page.goto(path.format(first=encode(MANUFACTURER, 1)))
        page_checks(page)
        screenshot(page, f"{name}-phone")
    # Register an institution with the keyboard alone.
    page.goto("/operator/institutions")
    page.focus("#name")
    page.keyboard.type("Keyboard Clinic")
    page.keyboard.press("Tab")
    page.keyboard.press("End")  # the last region in the list
    page.keyboard.press("Tab")
    page.keyboard.type("3 Tab Street")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=The medical institution was registered.")
    assert "Keyboard Clinic" in page.inner_text("main")
    # The regions map's districts are links a keyboard reaches.
    page.goto("/operator/regions")
    assert page.locator("#regions-map path.region").count() == 8
