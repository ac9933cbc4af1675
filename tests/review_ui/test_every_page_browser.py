"""Every page, as each role sees it, in Chromium: axe-core finds nothing serious or
critical, and a screenshot at 1366x768 and at 360x780 goes to
``test-artifacts/screenshots/every-page/``.

The pages are listed here by their route; ``test_every_page_route_is_listed`` fails when
a page router gains an HTML page that this list does not visit. Pages that need an id
take it from a link on another page of the same role (the seeded demo), and the test
fails if that link is missing, so a page cannot drop out of the check unnoticed.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from review_ui_helpers import ARTIFACTS, log_in, unused_code, user_named
from sqlalchemy import select
from test_cdc_first_screen import LAPTOP, PHONE, axe_findings

from api.organisations.tables import CdcOffice
from api.public_ids import CDC_OFFICE, encode
from review_ui.app import PAGE_MODULES

pytest.importorskip("playwright.sync_api")


@dataclass(frozen=True)
class Visit:
    """A page by its route; ``via`` = (page, href pattern) for a route with an id, the
    path of the link found there followed by ``suffix``."""

    route: str
    via: tuple[str, str] | None = None
    suffix: str = ""


# Who logs in (None: nobody) -> the pages they see.
PAGES: dict[str | None, tuple[Visit, ...]] = {
    None: (
        Visit("/login"),
        Visit("/patient/register"),
        Visit("/manufacturer/sign-up"),
        Visit("/u/{code}"),
        Visit("/r/{token}"),
    ),
    "patient1": (
        Visit("/patient"),
        Visit("/patient/scan"),
        Visit("/patient/tests/{test_id}", via=("/patient", r"/patient/tests/[^\"?#]+")),
        Visit("/patient/account"),
        Visit("/account"),
    ),
    "clinician-north": (
        Visit("/review"),
        Visit("/review/items/{proposal_id}", via=("/review", r"/review/items/[^\"?#/]+")),
        Visit(
            "/review/items/{proposal_id}/change",
            via=("/review", r"/review/items/[^\"?#/]+"),
            suffix="/change?to=retake",
        ),
        Visit("/review/stats"),
    ),
    "cdc-national": (
        Visit("/cdc"),
        Visit("/cdc/cases/{test_id}", via=("/cdc", r"/cdc/cases/[^\"?#]+")),
    ),
    "maker": (
        Visit("/manufacturer"),
        Visit("/manufacturer/products/new"),
        Visit(
            "/manufacturer/products/{product_id}",
            via=("/manufacturer", r"/manufacturer/products/(?!new)[^\"?#/]+"),
        ),
        Visit(
            "/manufacturer/batches/{batch_id}",
            via=("/manufacturer", r"/manufacturer/batches/[^\"?#/]+"),
        ),
    ),
    "operator": (
        Visit("/operator"),
        Visit("/operator/manufacturers"),
        Visit(
            "/operator/manufacturers/{manufacturer_id}",
            via=("/operator/manufacturers", r"/operator/manufacturers/[^\"?#/]+"),
        ),
        Visit("/operator/institutions"),
        Visit("/operator/clinicians"),
        Visit("/operator/cdc-offices"),
        Visit("/operator/regions"),
        Visit("/operator/deliveries"),
        Visit(
            "/operator/deliveries/{endpoint_id}",
            via=("/operator/deliveries", r"/operator/deliveries/[^\"?#/]+"),
        ),
        Visit("/operator/codes"),
        Visit("/review/team"),
    ),
    "scientist": (
        Visit("/science"),
        Visit("/science/shadow"),
        Visit("/science/drift"),
    ),
}

# GET routes of the page routers that are not pages: files, images, data, fragments
# and redirects.
NOT_PAGES = {
    "/",
    "/language/{lang}",
    "/cdc/panel",
    "/cdc/statistics.json",
    "/cdc/statistics/{table}.csv",
    "/cdc/stream",
    "/review/next",
    "/review/items/{proposal_id}/photo",
    "/review/items/{proposal_id}/window.png",
    "/manufacturer/documents/{document_id}",
    "/manufacturer/products/{product_id}/preview.png",
    "/manufacturer/batches/{batch_id}/codes.csv",
    "/manufacturer/batches/{batch_id}/codes.zip",
    "/manufacturer/batches/{batch_id}/labels.pdf",
    "/operator/manufacturers/{manufacturer_id}/documents/{document_id}",
    "/science/shadow/{shadow_id}/photo",
    "/science/shadow/{shadow_id}/window.png",
}


def _page_routes() -> set[str]:
    routes = set()
    for module in PAGE_MODULES:
        for route in importlib.import_module(module).router.routes:
            if "GET" in getattr(route, "methods", ()):
                routes.add(route.path)
    return routes


def test_every_page_route_is_listed() -> None:
    listed = {visit.route for visits in PAGES.values() for visit in visits}
    assert _page_routes() - NOT_PAGES == listed


def _resolve(page: Any, visit: Visit, live_server: Any) -> str:
    """The concrete path of ``visit``: an id taken from a link on another page."""
    if visit.route == "/r/{token}":
        return "/r/not-a-real-token"  # the form is the same for every token
    if visit.route == "/u/{code}":
        return f"/u/{_unused_code(live_server)}"
    if visit.via is None:
        return visit.route
    source, pattern = visit.via
    page.goto(source)
    hrefs = page.eval_on_selector_all("a[href]", "links => links.map(a => a.getAttribute('href'))")
    found = [h for h in hrefs if re.fullmatch(pattern, h.split("?")[0])]
    assert found, f"no link to {visit.route} on {source}"
    return found[0].split("?")[0] + visit.suffix


def _an_endpoint(live_server: Any) -> None:
    """A paused webhook endpoint (nothing is sent to it), so its page has a link to follow."""
    from api.outbox import service as outbox
    from api.outbox.schemas import EndpointCreate, EndpointUpdate

    with live_server.ctx.database.transaction() as session:
        operator = user_named(session, "operator")
        if outbox.list_endpoints(session):
            return
        office = session.scalars(select(CdcOffice).order_by(CdcOffice.id)).first()
        assert office is not None
        created = EndpointCreate(
            name="Every-page check",
            url="http://127.0.0.1:9/hook",
            format="vigil-json",
            cdc_office_id=encode(CDC_OFFICE, office.id),
        )
        issued = outbox.create_endpoint(session, live_server.ctx, operator, created)
        outbox.update_endpoint(session, operator, issued.endpoint.id, EndpointUpdate(enabled=False))


def _unused_code(live_server: Any) -> str:
    with live_server.ctx.database.session() as session:
        return unused_code(session)


def _slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "root"


@pytest.mark.parametrize("role", list(PAGES), ids=[r or "anonymous" for r in PAGES])
def test_every_page_passes_axe_at_both_sizes(
    new_page: Callable[..., Any], live_server: Any, role: str | None
) -> None:
    folder = ARTIFACTS / "every-page"
    folder.mkdir(parents=True, exist_ok=True)
    findings: dict[str, list[dict[str, Any]]] = {}
    for viewport in (LAPTOP, PHONE):
        size = f"{viewport['width']}x{viewport['height']}"
        page = new_page(viewport=viewport)
        if role == "operator":
            _an_endpoint(live_server)
        if role is not None:
            log_in(page, role)
        for visit in PAGES[role]:
            path = _resolve(page, visit, live_server)
            response = page.goto(path)
            assert response is not None
            assert response.ok, f"{path} as {role}: HTTP {response.status}"
            page.screenshot(
                path=str(folder / f"{role or 'anonymous'}-{_slug(visit.route)}-{size}.png"),
                full_page=True,
            )
            found = axe_findings(page)
            if found:
                findings[f"{visit.route} at {size}"] = found
    assert findings == {}, json.dumps(findings, indent=1)
