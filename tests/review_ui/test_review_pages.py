"""The clinicians' pages without a browser: queue, item, decisions, undo, refusals, statistics."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from api.public_ids import PROPOSAL, encode
from api.selftests import queries as review_queries
from api.selftests.tables import Proposal, Review, SelfTest
from review_ui.templating import confidence


def test_the_queue_lists_the_regions_items_most_urgent_first(
    pages: Any, review_item: Callable[..., Any]
) -> None:
    negative = review_item("negative")
    positive = review_item("positive")
    elsewhere = review_item("positive", region="DL-S-02-01")
    pages.log_in("clinician-north")
    page = pages.get("/review").text
    links = re.findall(r'href="/review/items/(prp_\w+)"', page)
    assert links == [encode(PROPOSAL, positive.id), encode(PROPOSAL, negative.id)]
    assert encode(PROPOSAL, elsewhere.id) not in links
    assert re.search(r"<strong>2</strong> left to read", page)
    assert re.search(r"<strong>1</strong> suspected positive", page)


def test_queue_filters_keep_to_what_was_asked(pages: Any, review_item: Callable[..., Any]) -> None:
    review_item("negative")
    unsure = review_item("positive", confidence=0.5)
    pages.log_in("clinician-north")
    page = pages.get("/review?confidence=low&result=bogus").text
    assert re.findall(r'href="/review/items/(prp_\w+)', page) == [encode(PROPOSAL, unsure.id)]
    # The htmx request gets just the list.
    part = pages.get(
        "/review?result=negative", headers={"HX-Request": "true", "HX-Target": "queue-region"}
    ).text
    assert part.lstrip().startswith('<section id="queue-region"')


def test_the_queue_pages(pages: Any, review_item: Callable[..., Any]) -> None:
    for _ in range(27):
        review_item("negative")
    pages.log_in("clinician-north")
    first = pages.get("/review").text
    assert len(re.findall(r'href="/review/items/prp_\w+', first)) == 25
    assert "Page 1 of 2" in first
    second = pages.get("/review?page=2").text
    assert len(re.findall(r'href="/review/items/prp_\w+', second)) == 2


def test_confidence_never_rounds_to_certainty(pages: Any, review_item: Callable[..., Any]) -> None:
    """0.9996 is not "100%": a reviewer reads that as "cannot be wrong"."""
    proposal = review_item("positive", confidence=0.9996)
    pages.log_in("clinician-north")
    queue = pages.get("/review").text
    item = pages.get(f"/review/items/{encode(PROPOSAL, proposal.id)}").text
    change = pages.get(f"/review/items/{encode(PROPOSAL, proposal.id)}/change?to=retake").text
    for page in (queue, item, change):
        assert "&gt; 99.9%" in page
        assert "100%" not in page
        assert "100.0%" not in page
    assert [confidence(p) for p in (0.9996, 0.9994, 0.93, 0.0004, 0.0, 1.0)] == [
        "> 99.9%",
        "99.9%",
        "93.0%",
        "< 0.1%",
        "0.0%",
        "100.0%",
    ]


def test_an_item_shows_what_the_decision_needs_and_no_identity(
    pages: Any, review_item: Callable[..., Any], session: Session
) -> None:
    proposal = review_item("positive")
    pages.log_in("clinician-north")
    page = pages.get(f"/review/items/{encode(PROPOSAL, proposal.id)}").text
    assert f'src="/review/items/{encode(PROPOSAL, proposal.id)}/photo"' in page
    assert (
        f'href="/review/items/{encode(PROPOSAL, proposal.id)}/window.png"' in page
    )  # the window, marked
    assert "T expected" in page  # the profile plot with the expected places
    assert "93.0%" in page
    assert "No C line: the test is invalid" in page  # the kit's criteria
    assert "within the reading time (15-30 minutes)" in page
    assert "Region: " in page
    test = session.get(SelfTest, proposal.self_test_id)
    assert test is not None
    assert "Test Patient" not in page  # no name, ID number or phone
    assert "+86" not in page
    assert (
        pages.get(f"/review/items/{encode(PROPOSAL, proposal.id)}/photo").headers["content-type"]
        == "image/png"
    )
    window = pages.get(f"/review/items/{encode(PROPOSAL, proposal.id)}/window.png")
    assert window.headers["content-type"] == "image/png"
    assert window.content.startswith(b"\x89PNG")


def test_confirm_is_held_then_undone_then_decided_again(
    pages: Any, review_item: Callable[..., Any], session: Session
) -> None:
    first = review_item("positive")
    second = review_item("negative")
    pages.log_in("clinician-north")
    pages.get(f"/review/items/{encode(PROPOSAL, first.id)}")
    response = pages.post(
        f"/review/items/{encode(PROPOSAL, first.id)}/decision",
        {"choice": "confirm", "round": "1", "opened_at": "0"},
    )
    assert response.status_code == 303
    # Straight on to the next item; the decision is held for the grace period.
    assert response.headers["location"] == f"/review/next?after={encode(PROPOSAL, first.id)}"
    nxt = pages.get(response.headers["location"], follow_redirects=False)
    assert nxt.headers["location"] == f"/review/items/{encode(PROPOSAL, second.id)}"
    item = pages.get(f"/review/items/{encode(PROPOSAL, second.id)}").text
    assert "You confirmed positive" in item
    review = review_queries.latest_review(session, first.id)
    assert review is not None
    assert review.settled_at is None
    assert review.seconds_spent == 600  # capped: opened_at 0 is long ago
    undo = pages.post("/review/undo")
    assert undo.headers["location"] == f"/review/items/{encode(PROPOSAL, first.id)}"
    session.expire_all()
    assert review_queries.latest_review(session, first.id) is None
    pages.get(f"/review/items/{encode(PROPOSAL, first.id)}")
    again = pages.post(
        f"/review/items/{encode(PROPOSAL, first.id)}/decision", {"choice": "positive", "round": "1"}
    )
    assert again.status_code == 303
    session.expire_all()
    review = review_queries.latest_review(session, first.id)
    assert review is not None
    assert review.decision == "confirm"


def test_changing_the_result_asks_for_a_reason(
    pages: Any, review_item: Callable[..., Any], session: Session
) -> None:
    proposal = review_item("negative")
    pages.log_in("clinician-north")
    change = pages.get(f"/review/items/{encode(PROPOSAL, proposal.id)}/change?to=positive")
    assert change.status_code == 200
    assert 'name="reason"' in change.text
    refused = pages.post(
        f"/review/items/{encode(PROPOSAL, proposal.id)}/decision",
        {"choice": "positive", "round": "1"},
    )
    assert refused.status_code == 422
    assert "Changing a result needs a reason" in refused.text
    done = pages.post(
        f"/review/items/{encode(PROPOSAL, proposal.id)}/decision",
        {
            "choice": "positive",
            "round": "1",
            "reason": "A faint test line is visible that the model missed",
            "details": "under the loupe",
        },
    )
    assert done.status_code == 303
    review = session.query(Review).filter_by(proposal_id=proposal.id).one()
    assert (review.decision, review.result) == ("change", "positive")
    assert review.reason == "A faint test line is visible that the model missed under the loupe"
    # Overruling a confident model: a second clinician must read it.
    session.expire_all()
    stored = session.get(Proposal, proposal.id)
    assert stored is not None
    assert stored.review_stage == 2


def test_a_retake_takes_a_reason_from_the_list(
    pages: Any, review_item: Callable[..., Any], session: Session
) -> None:
    proposal = review_item("positive")
    pages.log_in("clinician-north")
    page = pages.get(f"/review/items/{encode(PROPOSAL, proposal.id)}/change?to=retake").text
    assert "The photo is blurred" in page
    pages.post(
        f"/review/items/{encode(PROPOSAL, proposal.id)}/decision",
        {"choice": "retake", "round": "1", "reason": "The photo is too dark: take it again."},
    )
    review = session.query(Review).filter_by(proposal_id=proposal.id).one()
    assert review.decision == "retake"


def test_skip_moves_on_without_deciding(pages: Any, review_item: Callable[..., Any]) -> None:
    first = review_item("positive")
    second = review_item("positive")
    pages.log_in("clinician-north")
    skip = pages.get(f"/review/next?after={encode(PROPOSAL, first.id)}", follow_redirects=False)
    assert skip.headers["location"] == f"/review/items/{encode(PROPOSAL, second.id)}"
    wrap = pages.get(f"/review/next?after={encode(PROPOSAL, second.id)}", follow_redirects=False)
    assert wrap.headers["location"] == f"/review/items/{encode(PROPOSAL, first.id)}"


def test_other_regions_items_and_photos_are_refused(
    pages: Any, review_item: Callable[..., Any]
) -> None:
    south = review_item("positive", region="DL-S-02-01")
    pages.log_in("clinician-north")
    # Out of the clinician's region: as if absent (404), so nothing leaks.
    assert pages.get(f"/review/items/{encode(PROPOSAL, south.id)}").status_code == 404
    assert pages.get(f"/review/items/{encode(PROPOSAL, south.id)}/photo").status_code == 404
    assert pages.get(f"/review/items/{encode(PROPOSAL, south.id)}/window.png").status_code == 404
    assert pages.get("/review/items/999999").status_code == 404


def test_the_review_pages_are_for_clinicians_only(pages: Any) -> None:
    for who in ("patient1", "cdc-north", "maker", "operator"):
        pages.log_in(who)
        for url in ("/review", "/review/stats", "/review/items/1", "/review/next"):
            response = pages.get(url, follow_redirects=False)
            assert response.status_code == 403, (who, url)
            assert "This page is for the clinician accounts" in response.text
        assert pages.post("/review/undo").status_code == 403


def test_a_decision_without_the_csrf_token_is_refused(
    pages: Any, review_item: Callable[..., Any], session: Session
) -> None:
    proposal = review_item("positive")
    pages.log_in("clinician-north")
    response = pages.client.post(
        f"/review/items/{encode(PROPOSAL, proposal.id)}/decision",
        data={"choice": "confirm"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert review_queries.latest_review(session, proposal.id) is None


def test_the_statistics_page(pages: Any, review_item: Callable[..., Any]) -> None:
    proposal = review_item("negative")
    pages.log_in("clinician-north")
    pages.get(f"/review/items/{encode(PROPOSAL, proposal.id)}")
    pages.post(
        f"/review/items/{encode(PROPOSAL, proposal.id)}/decision",
        {"choice": "confirm", "round": "1"},
    )
    page = pages.get("/review/stats?days=7").text
    assert re.search(r"<strong>1</strong> items read", page)
    assert "No item you read was also read by another clinician" in page


def _late_item(ctx: Any, session: Session) -> Any:
    """A positive whose photo came 45 minutes after the sample (the kit reads 15-30)."""
    from datetime import timedelta

    from review_ui_helpers import fake_reading, new_patient, send_photo, start_test, tiny_png

    from api.selftests import lifecycle

    ctx.vision.reader = lambda _photo, _kit: fake_reading("positive")
    user, _ = new_patient(session, ctx)
    test = start_test(session, ctx, user)  # scanned 20 minutes ago
    lifecycle.sample_applied(session, user, test, test.claimed_at - timedelta(minutes=25))
    session.commit()
    return send_photo(session, ctx, user, test, tiny_png())


def test_a_late_photo_is_flagged_beside_the_decision_and_needs_its_own_key(
    pages: Any, ctx: Any, session: Session
) -> None:
    proposal = _late_item(ctx, session)
    pages.log_in("clinician-north")
    page = pages.get(f"/review/items/{encode(PROPOSAL, proposal.id)}").text
    form = page[
        page.index('id="decision-form"') : page.index("</form>", page.index("decision-form"))
    ]
    assert 'id="read-time-state"' in form  # inside the decision form, by the buttons
    assert "45 minutes after the sample was applied: too late (read at 15-30 minutes)" in form
    assert 'name="read_time_ok"' in form
    assert 'data-key="a"' in form
    refused = pages.post(
        f"/review/items/{encode(PROPOSAL, proposal.id)}/decision",
        {"choice": "confirm", "round": "1"},
    )
    assert refused.status_code == 422
    assert "This photo was taken after it closed" in refused.text
    assert session.query(Review).filter_by(proposal_id=proposal.id).count() == 0
    done = pages.post(
        f"/review/items/{encode(PROPOSAL, proposal.id)}/decision",
        {"choice": "confirm", "round": "1", "read_time_ok": "1"},
    )
    assert done.status_code == 303
    review = session.query(Review).filter_by(proposal_id=proposal.id).one()
    assert (review.decision, review.result) == ("confirm", "positive")


def test_the_second_reader_reads_blind(
    pages: Any, review_item: Callable[..., Any], session: Session
) -> None:
    from api.reviews.safeguards import BLIND_REASON

    proposal = review_item("positive", confidence=0.55)  # unsure: a second reader follows
    pages.log_in("clinician-north")
    pages.get(f"/review/items/{encode(PROPOSAL, proposal.id)}")
    first = pages.post(
        f"/review/items/{encode(PROPOSAL, proposal.id)}/decision",
        {"choice": "confirm", "round": "1"},
    )
    assert first.status_code == 303
    pages.log_in("clinician-north-2")
    page = pages.get(f"/review/items/{encode(PROPOSAL, proposal.id)}").text
    assert "second reading" in page
    assert "Their decision and the model's answer are not shown" in page
    assert "model: positive" not in page
    assert "Confirm positive" not in page
    assert "55.0%" not in page  # no confidence either
    assert 'value="negative"' in page  # the reader gives the result they read
    done = pages.post(
        f"/review/items/{encode(PROPOSAL, proposal.id)}/decision",
        {"choice": "negative", "round": "2", "blind": "1"},
    )
    assert done.status_code == 303
    second = session.query(Review).filter_by(proposal_id=proposal.id, round=2).one()
    assert (second.decision, second.result, second.reason) == ("change", "negative", BLIND_REASON)


def test_a_bad_id_in_a_page_address_answers_a_page(pages: Any) -> None:
    """A mistyped or unknown id (or no page at all) is a 404 page, not a JSON problem."""
    pages.log_in("clinician-north")
    for url in (
        "/review/items/prp_notanid",
        f"/review/items/{encode(PROPOSAL, 999_999)}",
        "/review/items/42",
        "/review/no-such-page",
    ):
        response = pages.get(url)
        assert response.status_code == 404, url
        assert response.headers["content-type"].startswith("text/html"), url
        assert "not found" in response.text.lower(), url
    # The API keeps its problem documents.
    api = pages.get("/api/no-such-route")
    assert api.status_code == 404
    assert api.headers["content-type"] == "application/problem+json"
