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


def test_approving_asks_first_and_reject_is_red(
    new_page: Callable[..., Any], login: Callable[..., None], live_server: Any
) -> None:
    from api.organisations.schemas import ManufacturerSignUp
    from api.organisations.service import sign_up

    with live_server.ctx.database.session() as session:
        applicant, _ = sign_up(
            session,
            ManufacturerSignUp(
                name="Careful Click Diagnostics",
                business_licence_no="91110000-CLICK1",
                device_certificates=["DL-MDR-2024-0777"],
                contact_email="ra@careful-click.example",
                username="careful-click",
                password="vigil-demo-2024",
            ),
        )
        session.commit()
        url = f"/operator/manufacturers/{encode(MANUFACTURER, applicant.id)}"
    page = new_page()
    login(page, "operator")
    page.goto(url)
    status = page.locator("#manufacturer-status")
    waiting = status.inner_text()
    # Reject is drawn in the alarm colour (--positive, red), not the reassuring green.
    reject = page.get_by_role("button", name="Reject")
    assert reject.evaluate("b => getComputedStyle(b).color") == "rgb(179, 38, 30)"
    # Approving asks first, without JavaScript too: Approve without the tick that says the
    # documents were checked is refused, and the application stays waiting.
    page.get_by_role("button", name="Approve").click()
    page.wait_for_selector("text=Not approved")
    page.goto(url)
    assert page.locator("#manufacturer-status").inner_text() == waiting
    page.get_by_label("I have checked the business licence", exact=False).check()
    page.get_by_role("button", name="Approve").click()
    page.wait_for_selector("#manufacturer-status:text('approved')")


def test_the_lot_number_pattern_is_a_valid_browser_pattern(
    new_page: Callable[..., Any], login: Callable[..., None]
) -> None:
    """Browsers compile ``pattern`` with the ``v`` flag and ignore one that does not
    compile (no check at all): every pattern on the manufacturer's pages must compile."""
    page = new_page()
    login(page, "maker")
    page.goto("/manufacturer")
    page.locator("a[href^='/manufacturer/products/prd_']").first.click()
    page.wait_for_selector("#lot_number")
    for pattern in page.eval_on_selector_all("[pattern]", "els => els.map(e => e.pattern)"):
        page.evaluate("p => new RegExp(p, 'v')", pattern)  # raises when it does not compile
    lot = page.locator("#lot_number")
    lot.fill("LOT/2024.1-A_b")
    assert lot.evaluate("e => e.validity.valid")
    lot.fill("bad lot!")
    assert lot.evaluate("e => e.validity.patternMismatch")
