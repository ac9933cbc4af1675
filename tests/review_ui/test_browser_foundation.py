"""The log-in page in a real browser: keyboard only, labelled, and 360 px wide."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

PHONE = {"width": 360, "height": 740}


def test_log_in_with_the_keyboard_alone_on_a_phone(
    new_page: Callable[..., Any],
    screenshot: Callable[[Any, str], Any],
    page_checks: Callable[[Any], None],
) -> None:
    page = new_page(viewport=PHONE)
    page.goto("/")
    assert page.url.endswith("/login")
    page_checks(page)
    screenshot(page, "login-phone")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to main content"
    page.focus("#username")
    page.keyboard.type("clinician-north")
    page.keyboard.press("Tab")
    page.keyboard.type("wrong password")
    page.keyboard.press("Enter")
    page.wait_for_selector("[role=alert]")
    assert "Wrong user name or password" in page.inner_text("[role=alert]")
    page.fill("#password", "vigil-demo-2024")
    page.keyboard.press("Enter")
    page.wait_for_url("**/review")
    page.goto("/account")
    page_checks(page)
    assert "clinician-north" in page.inner_text("main")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login")
