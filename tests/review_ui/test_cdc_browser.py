"""A CDC officer's live view in a real browser: a positive released elsewhere arrives live.

Another actor (this test, over the HTTP API) registers a patient who scans a kit in
the officer's district, uploads a photo, and a clinician confirms the positive
proposal, while the officer's page stays open. The page must show both events
without being reloaded.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from cdc_helpers import fake_reading, png
from sqlalchemy import select

from api.batches.tables import Unit, UnitState
from api.identity import make_test_id
from api.patients import service as patients
from api.patients.schemas import PatientRegister
from api.public_ids import TEST, decode, encode

expect = pytest.importorskip("playwright.sync_api").expect

LAPTOP = {"width": 1280, "height": 860}
PHONE = {"width": 360, "height": 740}
PASSWORD = "vigil-demo-2024"
NORTH = "DL-N-01-01"  # cdc-north's district, where clinician-north works
_numbers = itertools.count(900)


@pytest.fixture
def positive_reader(live_server: Any) -> Iterator[None]:
    """The live server reads photos in-process: make its next readings confident positives
    (this test is about the feed, the vision has its own tests)."""
    vision = live_server.ctx.vision
    previous = vision.reader
    vision.reader = lambda _photo, _kit: fake_reading("positive")
    yield
    vision.reader = previous


def api_token(api: httpx.Client, username: str, password: str = PASSWORD) -> dict[str, str]:
    response = api.post("/api/auth/token", data={"username": username, "password": password})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def unused_code(live_server: Any) -> str:
    with live_server.ctx.database.session() as session:
        # From the end of the demo batch, away from codes other tests take from the front.
        code = session.scalar(
            select(Unit.code)
            .where(Unit.state == UnitState.unused)
            .order_by(Unit.serial.desc())
            .limit(1)
        )
    assert code is not None
    return code


def start_test_as_new_patient(api: httpx.Client, live_server: Any) -> tuple[int, dict[str, str]]:
    n = next(_numbers)
    username = f"live-patient-{n}"
    # Registered directly: the API's sign-up confirms by text message (tested on its own in
    # tests/api/security/test_sign_up.py); this test is about what the CDC sees.
    body = PatientRegister(
        name=f"Live Patient {n}",
        national_id=make_test_id(n),
        phone=f"+86 139 0000 {n:04d}",
        username=username,
        password=PASSWORD,
    )
    with live_server.ctx.database.transaction() as session:
        patients.register(session, live_server.ctx, body)
    patient = api_token(api, username)
    point = live_server.ctx.regions.region(NORTH).geometry.representative_point()
    claimed = api.post(
        "/api/tests",
        json={"code": unused_code(live_server), "latitude": point.y, "longitude": point.x},
        headers=patient,
    )
    assert claimed.status_code == 201, claimed.text
    return decode(TEST, claimed.json()["id"]) or 0, patient


def release_positive(api: httpx.Client, test_id: int, patient: dict[str, str]) -> None:
    uploaded = api.post(
        f"/api/tests/{encode(TEST, test_id)}/photos",
        files={"photo": ("photo.png", png(test_id), "image/png")},
        headers=patient,
    )
    assert uploaded.status_code in (200, 202), uploaded.text
    clinician = api_token(api, "clinician-north")
    queue = api.get("/api/reviews/queue", headers=clinician).json()["items"]
    (item,) = [i for i in queue if i["test_id"] == encode(TEST, test_id)]
    assert item["proposed_result"] == "positive"
    decided = api.post(
        f"/api/proposals/{item['proposal_id']}/review",
        # sent seconds after the scan: an early photo, confirmed on purpose
        json={"decision": "confirm", "round": item["round"], "read_time_ok": True},
        headers=clinician,
    )
    assert decided.status_code in (200, 201), decided.text


def test_a_new_positive_arrives_live_without_reload(
    new_page: Callable[..., Any],
    live_server: Any,
    login: Callable[..., None],
    screenshot: Callable[[Any, str], Any],
    page_checks: Callable[[Any], None],
    positive_reader: None,
) -> None:
    page = new_page(viewport=LAPTOP)
    login(page, "cdc-north")
    page.goto("/cdc")
    page.wait_for_selector("#feed-status:text('Live')")
    page_checks(page)
    screenshot(page, "cdc-live-view")
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads
    before = int(page.inner_text("#total-positive"))

    with httpx.Client(base_url=live_server.base_url, timeout=30) as api:
        test_id, patient = start_test_as_new_patient(api, live_server)
        started = page.wait_for_selector(
            "#live-feed .feed-item--started.feed-item--new >> text=Old Harbour"
        )
        assert started is not None
        assert page.inner_text("#count-started") == "1"
        release_positive(api, test_id, patient)

    link = page.wait_for_selector(
        f'#live-feed .feed-item--positive a[href="/cdc/cases/{encode(TEST, test_id)}"]'
    )
    assert link is not None
    banner = page.locator("#live-alert")
    assert banner.is_visible()
    assert "New confirmed positive in Old Harbour" in banner.inner_text()
    assert page.get_attribute("#live-alert", "role") == "alert"
    assert page.inner_text("#count-positive") == "1"
    # The figures refresh themselves (htmx, on the positive event).
    expect(page.locator("#total-positive")).to_have_text(str(before + 1))
    assert page.evaluate("window.__sameDocument") is True
    screenshot(page, "cdc-live-positive")

    # The patient's page, from the banner's link; a phone-sized check of both pages.
    page.locator("#live-alert a").click()
    page.wait_for_url(f"**/cdc/cases/{encode(TEST, test_id)}")
    assert "Live Patient" in page.inner_text("#patient-name")
    screenshot(page, "cdc-case")
    phone = new_page(viewport=PHONE)
    login(phone, "cdc-north")
    for path, name in (
        (f"/cdc/cases/{encode(TEST, test_id)}", "cdc-case-phone"),
        ("/cdc", "cdc-live-phone"),
    ):
        phone.goto(path)
        page_checks(phone)
        screenshot(phone, name)
