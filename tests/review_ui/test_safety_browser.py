"""Clinical safety in Chromium: the read window runs from the sample, an early photo is held
with the minutes to wait, a photo of another unit is refused, and a late photo's reading
is confirmed on the review page only with its own key, keys working after the sliders.

Screenshots at 1366 x 768 and 360 x 780 go to ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from review_ui_helpers import (
    REGION_SOUTH,
    log_in,
    new_patient,
    rendered_photo,
    send_photo,
    start_test,
)

from api.batches.tables import Unit
from api.public_ids import PROPOSAL, TEST, encode
from api.selftests import lifecycle

WIDE = {"width": 1366, "height": 768}
NARROW = {"width": 360, "height": 780}


def _patient_with_test(live_server: Any) -> tuple[str, int, str]:
    """A patient who scanned a south code (the sample not yet applied): (user, test, code)."""
    ctx = live_server.ctx
    with ctx.database.session() as session:
        user, _ = new_patient(session, ctx)
        test = start_test(session, ctx, user, REGION_SOUTH)
        unit = session.get(Unit, test.unit_id)
        assert unit is not None
        return user.username, test.id, unit.code


def _start_timer(page: Any, minutes_ago: int) -> None:
    page.get_by_text("I added it a few minutes ago").click()
    page.get_by_label("How many minutes ago?").fill(str(minutes_ago))
    page.get_by_role("button", name="Start the timer from then").click()
    page.wait_for_selector("#timer")


def _send(page: Any, photo: bytes) -> None:
    page.set_input_files(
        "#photo", files=[{"name": "test.jpg", "mimeType": "image/jpeg", "buffer": photo}]
    )
    page.get_by_role("button", name="Send the photo").click()


@pytest.mark.parametrize("viewport", [NARROW, WIDE], ids=["360x780", "1366x768"])
def test_an_early_photo_is_held_with_the_minutes_to_wait(
    new_page: Callable[..., Any],
    live_server: Any,
    screenshot: Callable[[Any, str], Any],
    page_checks: Callable[[Any], None],
    viewport: dict[str, int],
) -> None:
    username, test_id, code = _patient_with_test(live_server)
    phone = new_page(viewport=viewport)
    log_in(phone, username)
    phone.goto(f"/patient/tests/{encode(TEST, test_id)}")
    assert phone.locator("#sample").is_visible()
    assert phone.locator("#photo").count() == 0  # no photo before the timer runs
    page_checks(phone)
    size = f"{viewport['width']}x{viewport['height']}"
    screenshot(phone, f"safety-patient-sample-{size}")
    _start_timer(phone, 6)
    _send(phone, rendered_photo(code, {"T": 0.4, "C": 0.8}, 1))
    alert = phone.get_by_role("alert")
    alert.wait_for()
    assert "Wait 9 more minutes, then take the photo." in alert.inner_text()
    assert phone.locator("#photo").is_visible()  # the patient can send it again later
    page_checks(phone)
    screenshot(phone, f"safety-patient-too-early-{size}")


def test_a_photo_of_another_unit_is_refused(
    new_page: Callable[..., Any],
    live_server: Any,
    screenshot: Callable[[Any, str], Any],
    page_checks: Callable[[Any], None],
) -> None:
    username, test_id, code = _patient_with_test(live_server)
    _other_user, _other_test, other_code = _patient_with_test(live_server)
    phone = new_page(viewport=NARROW)
    log_in(phone, username)
    phone.goto(f"/patient/tests/{encode(TEST, test_id)}")
    _start_timer(phone, 20)
    # The real pipeline reads the QR code in the photo: it is the other unit's.
    _send(phone, rendered_photo(other_code, {"T": 0.45, "C": 0.8}, 2))
    phone.wait_for_selector("#retake", timeout=60_000)
    said = phone.inner_text("#retake")
    assert f"shows the test with code {other_code}, not the one you scanned ({code})" in said
    page_checks(phone)
    screenshot(phone, "safety-patient-other-unit-360x780")


@pytest.fixture
def late_item(live_server: Any) -> tuple[int, int]:
    """A south positive photographed 45 minutes after the sample (the kit reads 15-30),
    read by the real pipeline: (proposal id, test id)."""
    ctx = live_server.ctx
    with ctx.database.session() as session:
        user, _ = new_patient(session, ctx)
        test = start_test(session, ctx, user, REGION_SOUTH)  # scanned 20 minutes ago
        lifecycle.sample_applied(session, user, test, test.claimed_at - timedelta(minutes=25))
        session.commit()
        unit = session.get(Unit, test.unit_id)
        assert unit is not None
        for seed in range(3):
            proposal = send_photo(
                session, ctx, user, test, rendered_photo(unit.code, {"T": 0.45, "C": 0.8}, seed)
            )
            if proposal is not None and proposal.status == "ok":
                break
        assert proposal is not None
        assert proposal.status == "ok", proposal.issues
        return proposal.id, test.id


def test_a_late_reading_needs_its_own_key_even_after_the_sliders(
    new_page: Callable[..., Any],
    late_item: tuple[int, int],
    screenshot: Callable[[Any, str], Any],
    page_checks: Callable[[Any], None],
) -> None:
    proposal_id, test_id = late_item
    page = new_page(viewport=WIDE)
    log_in(page, "clinician-south")
    page.goto(f"/review/items/{encode(PROPOSAL, proposal_id)}")
    screenshot(page, "safety-review-late-1366x768")
    state = page.locator("#read-time-state")
    assert "too late" in state.inner_text()
    # The timing sits beside the decision buttons, on the first screen.
    state_box = state.bounding_box()
    confirm_box = page.locator("#confirm-button").bounding_box()
    assert state_box is not None
    assert confirm_box is not None
    assert state_box["y"] + state_box["height"] <= WIDE["height"]
    assert confirm_box["y"] + confirm_box["height"] <= WIDE["height"]
    assert abs(confirm_box["y"] - (state_box["y"] + state_box["height"])) < 200
    # The page opens on the straightened result window, beside the decision.
    # The page opens on the straightened result window, beside the decision, with the
    # model's answer beside the buttons.
    window_box = page.locator("#pane-window svg").bounding_box()
    assert window_box is not None
    assert window_box["y"] + window_box["height"] <= WIDE["height"]
    hint = page.locator("#model-hint")
    assert "positive" in hint.inner_text()
    hint_box = hint.bounding_box()
    assert hint_box is not None
    assert hint_box["y"] + hint_box["height"] <= WIDE["height"]
    page_checks(page)
    # Brightness touched: the slider has the focus, the keys still work.
    page.locator("#brightness").click()
    assert page.evaluate("document.activeElement.id") == "brightness"
    page.keyboard.press("c")
    ask = page.locator("#read-time-ask")
    ask.wait_for(state="visible")
    assert f"/review/items/{encode(PROPOSAL, proposal_id)}" in page.url  # nothing was decided
    screenshot(page, "safety-review-late-asks-1366x768")
    page.keyboard.press("a")
    assert page.locator("#read-time-ok").is_checked()
    page.locator("#contrast").click()  # the other slider too
    page.keyboard.press("c")
    page.wait_for_url(lambda url: encode(PROPOSAL, proposal_id) not in url)
    # The next item shows with a bar that names the test just decided by its public id.
    undo = page.locator(".undo-bar")
    said = undo.inner_text()
    assert f"You confirmed positive on test {encode(TEST, test_id)}" in said
    assert f"test {test_id} " not in said  # never the database's number
    screenshot(page, "safety-review-undo-1366x768")


def test_the_qr_link_keeps_the_code_through_registration(
    new_page: Callable[..., Any],
    live_server: Any,
    screenshot: Callable[[Any, str], Any],
    page_checks: Callable[[Any], None],
) -> None:
    from review_ui_helpers import Phones, unused_code

    from api.identity import make_test_id

    with live_server.ctx.database.session() as session:
        code = unused_code(session)
    phones = live_server.ctx.notifier = Phones()
    phone = new_page(viewport=NARROW, has_touch=True, is_mobile=True)
    phone.goto(f"/u/{code}")
    assert code in phone.inner_text("#start-code")
    page_checks(phone)
    screenshot(phone, "safety-qr-start-360x780")
    phone.get_by_role("link", name="Register and start the test").click()
    phone.get_by_label("Full name").fill("Zhou Min")
    phone.get_by_label("National ID number").fill(make_test_id(58))
    phone.get_by_label("Mobile phone number").fill("+86 139 5555 0002")
    phone.get_by_label("Choose a user name").fill("zhou-min")
    phone.get_by_label("Choose a password").fill("a long password")
    phone.get_by_role("button", name="Register").click()
    # The page says the same whoever is registered; the code comes by text message.
    phone.get_by_label("Code from the text message").fill(phones.last_code())
    phone.get_by_role("button", name="Confirm").click()
    phone.wait_for_url("**/patient/scan?code=*")
    assert phone.get_by_label("Code (or the short code").input_value() == code
    page_checks(phone)
    screenshot(phone, "safety-qr-scan-360x780")


def test_one_key_swaps_window_and_photo_and_zoom_goes_to_the_window(
    new_page: Callable[..., Any],
    late_item: tuple[int, int],
    screenshot: Callable[[Any, str], Any],
) -> None:
    proposal_id, _test_id = late_item
    page = new_page(viewport=WIDE)
    log_in(page, "clinician-south")
    page.goto(f"/review/items/{encode(PROPOSAL, proposal_id)}")
    page.wait_for_function("document.getElementById('photo').naturalWidth > 0")
    stage = page.locator("#stage")
    # Where the reading found the window in the photo, kept with the proposal.
    box = [float(v) for v in (stage.get_attribute("data-window-box") or "").split(",")]
    assert len(box) == 4
    assert 0 <= box[0] < box[2] <= 1
    assert 0 <= box[1] < box[3] <= 1

    def widths() -> tuple[float, float]:
        window = page.locator("#pane-window").bounding_box()
        photo = page.locator("#pane-photo").bounding_box()
        assert window is not None
        assert photo is not None
        return window["width"], photo["width"]

    # It opens on the window, large, with the whole photo small beside it.
    assert stage.get_attribute("data-view") == "window"
    window_w, photo_w = widths()
    assert window_w > 2 * photo_w
    # One key swaps them, also with a slider holding the focus.
    page.locator("#contrast").click()
    page.keyboard.press("w")
    assert stage.get_attribute("data-view") == "photo"
    window_w, photo_w = widths()
    assert photo_w > 2 * window_w
    # Zooming brings the result window to the middle of the viewer, not the photo's centre.
    for _ in range(4):
        page.keyboard.press("+")
    where = page.evaluate(
        """(box) => {
            const photo = document.getElementById('photo').getBoundingClientRect();
            const viewer = document.getElementById('viewer').getBoundingClientRect();
            return {
                x: photo.left + (box[0] + box[2]) / 2 * photo.width,
                y: photo.top + (box[1] + box[3]) / 2 * photo.height,
                cx: viewer.left + viewer.width / 2,
                cy: viewer.top + viewer.height / 2,
                photo_cx: photo.left + photo.width / 2,
                photo_cy: photo.top + photo.height / 2,
                zoom: photo.width / document.getElementById('photo').naturalWidth,
            };
        }""",
        box,
    )
    assert abs(where["x"] - where["cx"]) < 2
    assert abs(where["y"] - where["cy"]) < 2
    # (the window is away from the photo's centre, so this tells the two apart)
    assert abs(where["photo_cx"] - where["cx"]) + abs(where["photo_cy"] - where["cy"]) > 20
    screenshot(page, "review-photo-zoomed-1366x768")
    page.keyboard.press("w")
    assert stage.get_attribute("data-view") == "window"
