"""Clinicians and patients in Debian's Chromium against the live demo server.

A clinician confirms one test with the keyboard alone and overrides another with a reason;
a second clinician agrees; each patient's page then shows the released result. A new
patient registers, scans (types) a code and sends a photo on a 360-pixel-wide phone.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from review_ui_helpers import (
    DEMO_PASSWORD,
    PHONE,
    REGION_NORTH,
    REGION_SOUTH,
    Phones,
    fake_reading,
    new_patient,
    rendered_photo,
    send_photo,
    start_test,
    tiny_png,
    unused_code,
    user_named,
)
from sqlalchemy import select

from api.identity import make_test_id
from api.public_ids import PROPOSAL, TEST, encode
from api.selftests.tables import Review


@dataclass
class Case:
    username: str
    proposal_id: int
    test_id: int


@pytest.fixture(scope="module")
def cases(live_server: Any) -> dict[str, Case]:
    """Two north tests read by the real pipeline (one positive, one negative), and a second
    north clinician for the second reading."""
    ctx = live_server.ctx
    made = {}
    with ctx.database.session() as session:
        for name, od in (("positive", {"T": 0.45, "C": 0.8}), ("negative", {"T": 0.0, "C": 0.8})):
            user, _ = new_patient(session, ctx)
            test = start_test(session, ctx, user, REGION_NORTH)
            from api.batches.tables import Unit

            code = session.get(Unit, test.unit_id).code  # type: ignore[union-attr]
            for seed in range(3):
                proposal = send_photo(session, ctx, user, test, rendered_photo(code, od, seed))
                if proposal is not None and proposal.status == "ok":
                    break
            assert proposal is not None
            assert proposal.status == "ok", proposal.issues
            assert proposal.result == name, proposal.reading
            made[name] = Case(user.username, proposal.id, test.id)
        # The demo has a second reader per region (clinician-north-2).
        session.commit()
    return made


def keyboard_log_in(page: Any, username: str) -> None:
    page.goto("/login")
    page.focus("#username")
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(DEMO_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/login" not in url)


def test_clinicians_decide_by_keyboard_and_patients_see_the_results(
    new_page: Callable[..., Any],
    cases: dict[str, Case],
    screenshot: Callable[[Any, str], Any],
    page_checks: Callable[[Any], None],
) -> None:
    positive, negative = cases["positive"], cases["negative"]
    clinician = new_page()
    keyboard_log_in(clinician, "clinician-north")
    assert clinician.url.endswith("/review")
    assert (
        clinician.locator(
            f'a[href^="/review/items/{encode(PROPOSAL, positive.proposal_id)}"]'
        ).count()
        == 1
    )
    page_checks(clinician)
    screenshot(clinician, "review-queue")

    # Confirm the positive with one key.
    clinician.goto(f"/review/items/{encode(PROPOSAL, positive.proposal_id)}")
    clinician.wait_for_function("document.getElementById('photo').naturalWidth > 0")
    assert "T expected" in clinician.inner_text("main")
    page_checks(clinician)
    screenshot(clinician, "review-item")
    clinician.keyboard.press("c")
    clinician.wait_for_url(
        lambda url: f"/items/{encode(PROPOSAL, positive.proposal_id)}" not in url
    )
    # The next item was fetched beforehand and shows at once; the undo bar follows the answer.
    clinician.locator(".undo-bar").wait_for()
    assert "You confirmed positive" in clinician.inner_text("main")

    # Override the negative: P asks for a reason; the form is done with keys only.
    clinician.goto(f"/review/items/{encode(PROPOSAL, negative.proposal_id)}")
    clinician.keyboard.press("p")
    clinician.wait_for_url("**/change?to=positive*")
    page_checks(clinician)
    assert clinician.evaluate("document.activeElement.id") == "reason"
    clinician.keyboard.press("ArrowDown")
    clinician.keyboard.press("Tab")
    clinician.keyboard.type("Faint T line under magnification")
    screenshot(clinician, "review-change")
    clinician.keyboard.press("Tab")
    clinician.keyboard.press("Enter")
    clinician.wait_for_url(lambda url: "/change" not in url)

    # Overruling a confident model needs a second clinician, who is not told the first decision.
    second = new_page()
    keyboard_log_in(second, "clinician-north-2")
    second.goto(f"/review/items/{encode(PROPOSAL, negative.proposal_id)}")
    text = second.inner_text("main")
    assert "Second reading" in text
    assert "Faint T line" not in text
    assert "model:" not in text  # blind to the model's answer too: P says what they read
    second.keyboard.press("p")
    second.wait_for_url(lambda url: f"/items/{encode(PROPOSAL, negative.proposal_id)}" not in url)

    # Each patient's page shows the result once the grace period has passed.
    for case in (positive, negative):
        patient = new_page(viewport=PHONE)
        keyboard_log_in(patient, case.username)
        patient.goto(f"/patient/tests/{encode(TEST, case.test_id)}")
        patient.wait_for_selector("#result", timeout=15_000)
        assert "Positive" in patient.inner_text("#result")
        page_checks(patient)
        screenshot(patient, f"patient-result-{'confirmed' if case is positive else 'overridden'}")

    # The statistics page counts the two decisions (and the demo's own).
    clinician.goto("/review/stats")
    read = re.search(r"(\d+) items read", " ".join(clinician.inner_text("main").split()))
    assert read is not None
    assert int(read.group(1)) >= 2
    page_checks(clinician)
    screenshot(clinician, "review-stats")


def test_undo_with_the_u_key(
    new_page: Callable[..., Any], live_server: Any, cases: dict[str, Case]
) -> None:
    ctx = live_server.ctx
    with ctx.database.session() as session:
        user, _ = new_patient(session, ctx)
        test = start_test(session, ctx, user, REGION_NORTH)
        from api.batches.tables import Unit

        code = session.get(Unit, test.unit_id).code  # type: ignore[union-attr]
        proposal = send_photo(session, ctx, user, test, rendered_photo(code, {"C": 0.8}, 7))
    assert proposal is not None
    page = new_page()
    keyboard_log_in(page, "clinician-north")
    page.goto(f"/review/items/{encode(PROPOSAL, proposal.id)}")
    # A double press decides this item only: the next one, fetched beforehand and swapped
    # in at once, does not take the second press.
    page.wait_for_load_state("networkidle")  # the next item is fetched
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: f"/items/{encode(PROPOSAL, proposal.id)}" not in url)
    page.locator(".undo-bar").wait_for()  # it comes with the server's answer
    page.wait_for_timeout(500)
    with ctx.database.session() as session:
        mine = session.scalars(
            select(Review)
            .where(Review.reviewer_id == user_named(session, "clinician-north").id)
            .order_by(Review.id.desc())
        ).first()
        assert mine is not None
        assert mine.proposal_id == proposal.id  # the last decision is still this one
    page.wait_for_selector("html[data-keys-ready]", state="attached")
    page.keyboard.press("u")
    page.wait_for_url(f"**/review/items/{encode(PROPOSAL, proposal.id)}")
    assert page.locator("#confirm-button").is_visible()


def test_a_new_patient_on_a_phone(
    new_page: Callable[..., Any],
    live_server: Any,
    screenshot: Callable[[Any, str], Any],
    page_checks: Callable[[Any], None],
) -> None:
    with live_server.ctx.database.session() as session:
        code = unused_code(session)
    phones = live_server.ctx.notifier = Phones()
    phone = new_page(viewport=PHONE, has_touch=True, is_mobile=True)
    phone.goto("/patient/register")
    page_checks(phone)
    screenshot(phone, "patient-register")
    phone.get_by_label("Full name").fill("Sun Mei")
    phone.get_by_label("National ID number").fill(make_test_id(57))
    phone.get_by_label("Mobile phone number").fill("+86 139 5555 0001")
    phone.get_by_label("Choose a user name").fill("sun-mei")
    phone.get_by_label("Choose a password").fill("a long password")
    phone.get_by_role("button", name="Register").click()
    # The page says the same whoever is registered; the code comes by text message.
    page_checks(phone)
    phone.get_by_label("Code from the text message").fill(phones.last_code())
    phone.get_by_role("button", name="Confirm").click()
    phone.wait_for_url("**/patient/scan")
    page_checks(phone)
    screenshot(phone, "patient-scan")
    phone.get_by_label("Code (or the short code").fill(code)
    phone.get_by_label("Or choose your district").select_option(REGION_NORTH)
    phone.get_by_role("button", name="Start the test").click()
    phone.wait_for_url("**/patient/tests/*")
    page_checks(phone)
    screenshot(phone, "patient-sample")
    # The sample went on 20 minutes ago: the demo kit reads from 15 to 30 minutes.
    phone.get_by_text("I added it a few minutes ago").click()
    phone.get_by_label("How many minutes ago?").fill("20")
    phone.get_by_role("button", name="Start the timer from then").click()
    phone.wait_for_selector("#timer")
    assert phone.locator("#timer").inner_text() != "--:--"  # the countdown runs
    page_checks(phone)
    screenshot(phone, "patient-test")
    photo = rendered_photo(code, {"T": 0.0, "C": 0.8}, 3)
    phone.set_input_files(
        "#photo", files=[{"name": "test.jpg", "mimeType": "image/jpeg", "buffer": photo}]
    )
    assert phone.locator("#photo-preview").is_visible()
    phone.get_by_role("button", name="Send the photo").click()
    phone.wait_for_selector("text=A clinician is checking your result")
    page_checks(phone)
    screenshot(phone, "patient-waiting")
    phone.goto("/patient")
    page_checks(phone)
    screenshot(phone, "patient-home")


def test_the_clinician_pages_hold_on_a_phone(
    new_page: Callable[..., Any],
    cases: dict[str, Case],
    screenshot: Callable[[Any, str], Any],
    page_checks: Callable[[Any], None],
) -> None:
    phone = new_page(viewport=PHONE)
    keyboard_log_in(phone, "clinician-south")
    page_checks(phone)
    screenshot(phone, "review-queue-phone")
    phone.click("#start-reviewing")
    phone.wait_for_url("**/review/items/*")
    page_checks(phone)
    screenshot(phone, "review-item-phone")


def test_the_queue_shows_each_window_and_what_is_left(
    new_page: Callable[..., Any], live_server: Any, screenshot: Callable[[Any, str], Any]
) -> None:
    ctx = live_server.ctx
    with ctx.database.session() as session:
        user, _ = new_patient(session, ctx)
        test = start_test(session, ctx, user, REGION_NORTH)
        from api.batches.tables import Unit

        code = session.get(Unit, test.unit_id).code  # type: ignore[union-attr]
        proposal = send_photo(session, ctx, user, test, rendered_photo(code, {"C": 0.8}, 11))
    assert proposal is not None
    page = new_page()
    keyboard_log_in(page, "clinician-north")
    link = page.locator(f'a[href^="/review/items/{encode(PROPOSAL, proposal.id)}"]')
    thumb = link.locator("img.queue__thumb")
    thumb.scroll_into_view_if_needed()
    loaded = "(img) => img.complete && img.naturalWidth > 0"
    page.wait_for_function(loaded, arg=thumb.element_handle())
    # The window, straightened: much wider than tall.
    size = thumb.evaluate("(img) => [img.naturalWidth, img.naturalHeight]")
    assert size[0] > 2 * size[1]
    assert str(test.id) not in link.inner_text().split()  # no database numbers
    left = int(page.locator("#left-count strong").inner_text())
    assert left == page.locator(".queue__item").count()  # all on one page here
    assert "Urgent:" in page.locator("#urgent-rule").inner_text()
    screenshot(page, "review-queue-thumbnails")
    page.click("#start-reviewing")
    page.wait_for_url("**/review/items/*")
    assert int(page.locator("#left-count").inner_text()) == left


def test_the_lead_seeds_a_gold_item_sees_its_score_and_a_too_fast_reader(
    new_page: Callable[..., Any], live_server: Any, screenshot: Callable[[Any, str], Any]
) -> None:
    from datetime import timedelta

    from sqlalchemy import select

    from api.accounts.tables import User
    from api.batches.tables import Unit
    from api.db.base import utcnow
    from api.selftests.tables import Review, SelfTest, TestStatus

    ctx = live_server.ctx
    with ctx.database.session() as session:
        user, _ = new_patient(session, ctx)
        test = start_test(session, ctx, user, REGION_NORTH)
        code = session.get(Unit, test.unit_id).code  # type: ignore[union-attr]
        for seed in range(3):
            proposal = send_photo(
                session, ctx, user, test, rendered_photo(code, {"T": 0.45, "C": 0.8}, 20 + seed)
            )
            if proposal is not None and proposal.status == "ok":
                break
        assert proposal is not None
        assert proposal.result == "positive"
        # Its reading is over: released as a clinician would (the setting, not the subject).
        row = session.get(SelfTest, test.id)
        assert row is not None
        row.status, row.result, row.released_at = TestStatus.released, "positive", utcnow()
        # Another reader opened six south items and pressed a key within 1.5 s each (their
        # readings as the page records them; the items are the fake reader's, released).
        fast = session.scalars(select(User).where(User.username == "clinician-south-2")).one()
        north = session.scalars(select(User).where(User.username == "clinician-north")).one()
        now = utcnow()
        real_reader = ctx.vision.reader
        ctx.vision.reader = lambda _photo, _kit: fake_reading("negative", 0.97)
        try:
            for n in range(6):
                patient, _ = new_patient(session, ctx)
                south = start_test(session, ctx, patient, REGION_SOUTH)
                read = send_photo(session, ctx, patient, south, tiny_png())
                south.status, south.result = TestStatus.released, "negative"
                session.add(
                    Review(
                        proposal_id=read.id,
                        self_test_id=south.id,
                        reviewer_id=fast.id,
                        decision="confirm",
                        result="negative",
                        seconds_spent=1.5,
                        settles_at=now,
                        settled_at=now,
                        created_at=now - timedelta(minutes=n),
                    )
                )
        finally:
            ctx.vision.reader = real_reader
        session.commit()
        fast_name, north_name, test_id, proposal_id = (
            fast.display_name,
            north.display_name,
            test.id,
            proposal.id,
        )

    lead = new_page()
    keyboard_log_in(lead, "operator")
    lead.goto("/review/team")
    lead.get_by_label("Test id").fill(encode(TEST, test_id))
    lead.get_by_label("Known result").select_option("negative")
    lead.get_by_role("button", name="Seed it").click()
    lead.get_by_role("status").filter(has_text="Seeded").wait_for()
    warned = lead.locator("#too-fast").inner_text()
    assert f"{fast_name}: 1.5 s per item" in warned
    assert north_name not in warned

    # The clinician reads it like any other item: one key, and on.
    reader = new_page()
    keyboard_log_in(reader, "clinician-north")
    reader.goto(f"/review/items/{encode(PROPOSAL, proposal_id)}")
    assert reader.locator("#confirm-button").is_visible()
    with reader.expect_response(lambda r: r.url.endswith("/decision")) as sent:
        reader.keyboard.press("c")
    assert sent.value.status == 303  # taken, on to the next item
    reader.wait_for_url(lambda url: encode(PROPOSAL, proposal_id) not in url)
    # Held like any decision: the same undo bar naming the test, and U brings the item back.
    bar = reader.locator(".undo-bar")
    bar.wait_for()
    assert f"You confirmed positive on test {encode(TEST, test_id)}" in bar.inner_text()
    reader.wait_for_selector("html[data-keys-ready]", state="attached")
    reader.keyboard.press("u")
    reader.wait_for_url(f"**/review/items/{encode(PROPOSAL, proposal_id)}")
    assert reader.locator("#confirm-button").is_visible()
    reader.wait_for_selector("html[data-keys-ready]", state="attached")
    with reader.expect_response(lambda r: r.url.endswith("/decision")) as sent:
        reader.keyboard.press("c")
    assert sent.value.status == 303  # read again, and on
    reader.wait_for_url(lambda url: encode(PROPOSAL, proposal_id) not in url)

    lead.goto("/review/team")
    row = lead.locator(
        "#team-table tr", has=lead.get_by_role("rowheader", name=north_name, exact=True)
    )
    assert "0 of 1 (0%)" in row.inner_text()  # read as positive; known negative
    fast_row = lead.locator(
        "#team-table tr", has=lead.get_by_role("rowheader", name=fast_name, exact=True)
    )
    assert "too fast" in fast_row.inner_text()
    screenshot(lead, "review-team")
