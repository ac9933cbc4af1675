"""The CDC page in Chromium: the first screen answers first, and axe-core finds nothing
serious.

At 1366x768 (a common laptop) the headline figures, the epidemic curve and the map
must all be on screen without scrolling. Screenshots at 1366x768 and 360x780 go to
``test-artifacts/screenshots/``. axe-core (vendored, see ``vendor/README.md``) checks
both sizes, the live feed included.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from review_ui_helpers import ARTIFACTS

pytest.importorskip("playwright.sync_api")

LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 360, "height": 780}
AXE = Path(__file__).with_name("vendor") / "axe-core-4.14.1.min.js"
FIRST_SCREEN = ("#headline-positives", "#headline-positivity", "#chart-epicurve", "#cdc-map")


def axe_findings(page: Any) -> list[dict[str, Any]]:
    """Serious and critical axe-core violations on the page, with where they are.

    The script is evaluated through the browser's debugging protocol, which the page's
    Content-Security-Policy (scripts from our origin only) does not cover.
    """
    page.evaluate(AXE.read_text(encoding="utf-8"))
    results = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        {
            "rule": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "where": [n["target"] for n in v["nodes"]][:5],
        }
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def on_screen(page: Any, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    assert box is not None, f"{selector} is not drawn"
    viewport = page.viewport_size
    return (
        box["y"] >= 0
        and box["x"] >= 0
        and box["y"] + box["height"] <= viewport["height"]
        and box["x"] + box["width"] <= viewport["width"]
    )


def test_first_screen_shows_the_figures_the_curve_and_the_map(
    new_page: Callable[..., Any],
    login: Callable[..., None],
    page_checks: Callable[[Any], None],
) -> None:
    page = new_page(viewport=LAPTOP)
    login(page, "cdc-national")
    page.goto("/cdc")
    page.wait_for_selector("#feed-status:text('Live')")
    page_checks(page)
    off_screen = [s for s in FIRST_SCREEN if not on_screen(page, s)]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "cdc-first-screen-1366x768.png"))
    assert off_screen == [], f"not on the first screen at 1366x768: {off_screen}"
    # The feed sits beside the figures, not above them.
    feed = page.locator("#live-feed").bounding_box()
    curve = page.locator("#chart-epicurve").bounding_box()
    assert feed is not None
    assert curve is not None
    assert feed["x"] > curve["x"] + curve["width"]
    # The headline figures say how they moved, and when the data were last updated.
    assert "previous 7 days" in page.inner_text("#headline-positives")
    assert page.locator("#last-updated").count() == 1
    assert axe_findings(page) == []

    phone = new_page(viewport=PHONE)
    login(phone, "cdc-national")
    phone.goto("/cdc")
    phone.wait_for_selector("#feed-status:text('Live')")
    page_checks(phone)
    phone.screenshot(path=str(ARTIFACTS / "cdc-first-screen-360x780.png"))
    phone.screenshot(path=str(ARTIFACTS / "cdc-page-360x780-full.png"), full_page=True)
    assert on_screen(phone, "#headline-positives")
    # Open every data table: they must hold up to axe too.
    for details in phone.locator("details").all():
        details.evaluate("d => { d.open = true; }")
    assert axe_findings(phone) == []
