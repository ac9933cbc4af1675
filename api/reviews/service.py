"""Step 8 and 9: clinicians read proposals; a final reading releases the result.

Second reading: a first reading that disagrees with a confident model, or any
reading of a proposal the model was unsure of, goes to a second clinician, who
is not shown the first reading. When the two disagree a third clinician
decides, seeing both. A reading may be *held* (``hold_seconds``): it counts
for the queue at once, but its effect on the test (release, retake) waits
until ``settles_at``, so its clinician can undo it until then.
"""

from __future__ import annotations

import logging
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy.orm import Session

from api.accounts.schemas import Caller
from api.accounts.tables import User
from api.audit.service import record
from api.context import AppContext
from api.db.base import utcnow
from api.db.hooks import after_commit
from api.errors import ConflictError, InvalidError, NotFoundError
from api.metrics import observe_release
from api.public_ids import UPLOAD, encode
from api.reports import releases
from api.reports.service import report_positive
from api.reviews import queries, safeguards
from api.reviews.queries import Ordering, QueueFilter
from api.reviews.schemas import (
    EarlierReading,
    GoldOut,
    QueueCounts,
    QueueItem,
    Result,
    ReviewerStats,
    ReviewerSummary,
    ReviewIn,
    ReviewOut,
    UndoOut,
)
from api.reviews.tables import GoldItem, GoldReading
from api.scope import Scope
from api.selftests import lifecycle
from api.selftests import queries as test_queries
from api.selftests.service import read_time_note
from api.selftests.tables import Proposal, Review, SelfTest, TestStatus, Upload

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReviewPolicy:
    """When a second reading is needed and what goes first in the queue."""

    # Below this confidence the model is "unsure": a second clinician reads it too.
    confident: float = 0.8
    # Below this confidence an item goes before the confident ones.
    low_confidence: float = 0.8
    # Urgent (queries.Ordering): past its target wait. A suspected positive sooner than
    # the rest: its patient isolates and the agencies are told only once it is released.
    positive_wait: timedelta = timedelta(minutes=30)
    # A photo read by eye or with low confidence: it takes a careful reading, and may
    # end in a retake the patient must be asked for while they still have the kit.
    unsure_wait: timedelta = timedelta(hours=1)
    # Anything waiting longer than this goes to the top, whatever it is.
    ageing_cap: timedelta = timedelta(hours=2)
    # Time spent on one item above this is taken for a break, not reading time.
    max_item_seconds: float = 600.0
    # A median below this per item is too short to look at the window and the photo: the
    # lead is warned (once a reader has read enough items for a median to mean anything).
    implausible_seconds: float = 5.0
    min_items_for_warning: int = 5

    def ordering(self, now: datetime) -> Ordering:
        return Ordering(
            low_confidence=self.low_confidence,
            positive_before=now - self.positive_wait,
            unsure_before=now - self.unsure_wait,
            aged_before=now - self.ageing_cap,
        )

    def urgent_rule(self) -> str:
        """What "urgent" means, in words for the pages."""

        def minutes(wait: timedelta) -> str:
            m = int(wait.total_seconds() // 60)
            return f"{m // 60} h" if m % 60 == 0 else f"{m} min"

        return (
            f"Urgent: a suspected positive waiting over {minutes(self.positive_wait)}, "
            f"a photo read by eye or with low confidence over {minutes(self.unsure_wait)}, "
            f"anything over {minutes(self.ageing_cap)}."
        )


POLICY = ReviewPolicy()


def outcome(review: Review) -> str:
    """What a reading concluded: its result, or ``retake``."""
    return "retake" if review.decision == "retake" else str(review.result)


# The queue -------------------------------------------------------------------


def queue_page(
    session: Session,
    scope: Scope,
    reviewer: Caller,
    filters: QueueFilter = QueueFilter(),  # noqa: B008  (immutable)
    *,
    limit: int = 100,
    offset: int = 0,
    policy: ReviewPolicy = POLICY,
) -> list[tuple[Proposal, SelfTest, bool]]:
    """(proposal, test, urgent) for one page of ``reviewer``'s queue, most urgent first."""
    rows = queries.queue(
        session,
        scope.regions,
        reviewer.id,
        policy.ordering(utcnow()),
        filters,
        limit=limit,
        offset=offset,
    )
    return [(p, t, prio == 0) for p, t, prio in rows]


def queue(
    session: Session,
    scope: Scope,
    reviewer: Caller,
    filters: QueueFilter = QueueFilter(),  # noqa: B008
    *,
    limit: int = 100,
    offset: int = 0,
    policy: ReviewPolicy = POLICY,
    blind_setting: bool = True,
) -> list[QueueItem]:
    rows = queue_page(session, scope, reviewer, filters, limit=limit, offset=offset, policy=policy)
    parts = queries.page_parts(session, [(p, t) for p, t, _ in rows])
    return [
        queue_item(session, proposal, test, urgent, parts, blind_setting)
        for proposal, test, urgent in rows
    ]


def counts(
    session: Session,
    scope: Scope,
    reviewer: Caller,
    filters: QueueFilter = QueueFilter(),  # noqa: B008
    policy: ReviewPolicy = POLICY,
) -> QueueCounts:
    return QueueCounts(
        **queries.queue_counts(
            session, scope.regions, reviewer.id, policy.ordering(utcnow()), filters
        )
    )


def next_item(
    session: Session,
    scope: Scope,
    reviewer: Caller,
    filters: QueueFilter = QueueFilter(),  # noqa: B008
    after: Proposal | None = None,
    policy: ReviewPolicy = POLICY,
) -> Proposal | None:
    """The next item for ``reviewer``: after ``after`` (a skip), or the most urgent."""
    return queries.next_in_queue(
        session, scope.regions, reviewer.id, policy.ordering(utcnow()), filters, after
    )


def is_urgent(proposal: Proposal, policy: ReviewPolicy = POLICY) -> bool:
    """Past its target wait (see ``queries.Ordering``)."""
    return policy.ordering(utcnow()).rank(proposal) == 0


def earlier_readings(session: Session, proposal: Proposal) -> list[EarlierReading]:
    """What the third reader is shown; nothing for a first or second reader."""
    if (proposal.review_stage or 0) < 3:
        return []
    return [
        EarlierReading(round=r.round, outcome=outcome(r), reason=r.reason)
        for r in queries.reviews_of(session, proposal.id)
    ]


def queue_item(
    session: Session,
    proposal: Proposal,
    test: SelfTest,
    urgent: bool,
    parts: queries.PageParts,
    blind_setting: bool = True,
) -> QueueItem:
    upload = parts.uploads[proposal.upload_id]
    product = parts.products[test.product_id]
    batch = parts.batches[test.batch_id]
    blind = safeguards.blind_to_model(blind_setting, proposal.review_stage)
    return QueueItem(
        proposal_id=proposal.id,
        test_id=test.id,
        upload_id=upload.id,
        region_code=test.region_code,
        product_code=product.product_code,
        product_name=product.name,
        lot_number=batch.lot_number,
        proposed_result=None if blind else proposal.result,
        by_eye=proposal.status == "by_eye",
        confidence=proposal.confidence,
        model_version=proposal.model_version,
        reading={} if blind else proposal.reading,
        read_time_flag=upload.read_time_flag,
        minutes_after_claim=upload.minutes_after_claim,
        read_time=read_time_note(upload, test, product),
        unit_check=proposal.unit_check,
        same_photo_test_id=proposal.same_photo_test_id,
        blind=blind,
        claimed_at=test.claimed_at,
        taken_at=upload.taken_at,
        proposed_at=proposal.created_at,
        photo_url=f"/api/uploads/{encode(UPLOAD, upload.id)}/photo",
        has_window=bool((proposal.explanation or {}).get("window_sha256")),
        round=proposal.review_stage or 0,
        urgent=urgent,
        earlier_readings=earlier_readings(session, proposal),
    )


def awaiting_reader(
    session: Session, scope: Scope, reviewer: Caller, proposal_id: int
) -> tuple[Proposal, SelfTest]:
    """The proposal if ``reviewer`` may read it now (in scope, awaiting, not read by them)."""
    proposal = session.get(Proposal, proposal_id)
    if proposal is None:
        raise NotFoundError("no such proposal")
    test = session.get(SelfTest, proposal.self_test_id)
    assert test is not None
    scope.check(test.region_code, "this test")
    latest = test_queries.latest_proposal(session, test.id)
    if not lifecycle.awaiting_reading(test, proposal) or latest is None or latest.id != proposal.id:
        if test_queries.latest_review(session, proposal.id) is not None:
            raise ConflictError("this proposal has already been reviewed")
        raise ConflictError(
            "this proposal is not awaiting review (a newer photo or a retake replaced it)"
        )
    if any(r.reviewer_id == reviewer.id for r in queries.reviews_of(session, proposal.id)):
        raise ConflictError("you have read this item already; another clinician reads it next")
    return proposal, test


# Deciding ----------------------------------------------------------------------


def _validated(proposal: Proposal, body: ReviewIn) -> tuple[str | None, str | None]:
    """(result, reason) of a decision, or a 422 saying what is missing."""
    reason = (body.reason or "").strip() or None
    if body.decision == "confirm" and proposal.status == "by_eye":
        # Read by eye: the model's attempt is only a hint; the clinician's reading counts.
        result = body.result or proposal.result
        if result is None:
            raise InvalidError("result: this photo is read by eye; give the result you read")
        return result, reason
    if body.decision == "confirm":
        if body.result is not None and body.result != proposal.result:
            raise InvalidError("result: to change the result, use decision 'change' with a reason")
        return proposal.result, reason
    if body.decision == "change":
        if body.result is None:
            raise InvalidError("result: 'change' needs the corrected result")
        if body.result == proposal.result:
            raise InvalidError("result: same as proposed; use decision 'confirm'")
        if reason is None:
            raise InvalidError("reason: changing a result needs a reason")
        return body.result, reason
    if reason is None:
        raise InvalidError("reason: tell the patient why a new photo is needed")
    if body.result is not None:
        raise InvalidError("result: a retake has no result")
    return None, reason


def route(
    proposal: Proposal,
    round_: int,
    decision: str,
    this_outcome: str,
    earlier: Sequence[Review],
    policy: ReviewPolicy = POLICY,
) -> tuple[str | None, int | None]:
    """(effect on the test, next stage) after reading ``round_`` concluded ``this_outcome``.

    The effect is ``release``, ``retake`` or ``None`` (another reading is needed).
    """
    final = ("retake" if this_outcome == "retake" else "release", None)
    if round_ == 1:
        if decision == "retake":
            return final  # an unreadable photo needs a new one, whoever reads it
        unsure = proposal.status == "by_eye" or proposal.confidence < policy.confident
        if decision == "change" or unsure:
            return None, 2
        return final
    if round_ == 2:
        first = earlier[0] if earlier else None
        if first is not None and outcome(first) != this_outcome:
            return None, 3
        return final
    return final  # the third reading decides


def decide(
    session: Session,
    ctx: AppContext,
    clinician: Caller,
    scope: Scope,
    proposal_id: int,
    body: ReviewIn,
    policy: ReviewPolicy = POLICY,
) -> tuple[Review, int]:
    """Record a clinician's reading; returns it and the number of reports sent.

    Without ``hold_seconds`` the reading takes effect at once (release, retake);
    otherwise at ``settles_at`` (see ``settle_due``), undoable until then.
    """
    proposal, test = awaiting_reader(session, scope, clinician, proposal_id)
    stage = proposal.review_stage or 1
    if body.round is not None and body.round != stage:
        raise ConflictError("another clinician read this item while you had it open; open it again")
    if safeguards.blind_to_model(ctx.settings.blind_second_reader, stage):
        body = safeguards.blind_decision(proposal, body)
    upload = session.get(Upload, proposal.upload_id)
    assert upload is not None
    safeguards.require_read_time_ok(upload, body)
    result, reason = _validated(proposal, body)
    this_outcome = "retake" if body.decision == "retake" else str(result)
    earlier = queries.reviews_of(session, proposal.id)
    effect, next_stage = route(proposal, stage, body.decision, this_outcome, earlier, policy)
    now = utcnow()
    seconds = body.seconds_spent
    review = Review(
        proposal_id=proposal.id,
        self_test_id=test.id,
        reviewer_id=clinician.id,
        round=stage,
        decision=body.decision,
        result=result,
        reason=reason,
        seconds_spent=min(seconds, policy.max_item_seconds) if seconds is not None else None,
        effect=effect,
        settles_at=now + timedelta(seconds=body.hold_seconds),
        created_at=now,
    )
    session.add(review)
    lifecycle.next_reading(test, proposal, next_stage)
    session.flush()
    record(
        session,
        clinician,
        "review",
        "proposal",
        proposal.id,
        round=stage,
        decision=body.decision,
        result=result,
        effect=effect,
        held=body.hold_seconds,
    )
    if body.hold_seconds > 0:
        return review, 0
    return review, settle(session, ctx, review, now)


def review_out(review: Review, reports: int) -> ReviewOut:
    if review.settled_at is None:
        status = "held"
    elif review.effect is None:
        status = "second_reading" if review.round == 1 else "third_reading"
    else:
        status = "released" if review.effect == "release" else "retake"
    return ReviewOut(
        id=review.id,
        proposal_id=review.proposal_id,
        test_id=review.self_test_id,
        round=review.round,
        decision=review.decision,
        result=review.result,
        reason=review.reason,
        status=status,
        released=status == "released",
        reports=reports,
        settles_at=review.settles_at,
        created_at=review.created_at,
    )


# Making decisions final -----------------------------------------------------------


def settle(session: Session, ctx: AppContext, review: Review, now: datetime | None = None) -> int:
    """Make ``review`` final and apply its effect; returns the reports sent.

    Safe against a concurrent settle or undo: only the one that marks it settled acts.
    """
    now = now or utcnow()
    if not queries.mark_settled(session, review.id, now):
        return 0
    review.settled_at = now
    if review.effect is None:
        return 0
    test = session.get(SelfTest, review.self_test_id)
    reviewer = session.get(User, review.reviewer_id)
    assert test is not None
    assert reviewer is not None
    step = lifecycle.Step.ask_retake if review.effect == "retake" else lifecycle.Step.release
    if not lifecycle.allows(test, step):  # withdrawn meanwhile: the reading changes nothing
        log.warning("review %s settles on test %s in state %s", review.id, test.id, test.status)
        return 0
    if review.effect == "retake":
        lifecycle.ask_retake(session, reviewer, test, review.reason)
        return 0
    assert review.result is not None
    return release(session, ctx, reviewer, test, review.result)


def settle_due(session: Session, ctx: AppContext, now: datetime | None = None) -> int:
    """Apply every held reading whose grace period is over; returns how many."""
    now = now or utcnow()
    due = queries.due_reviews(session, now)
    for review in due:
        settle(session, ctx, review, now)
    if due:
        session.flush()
    return len(due)


def settle_due_now(ctx: AppContext) -> int:
    """``settle_due`` in its own transaction (background loops, tasks)."""
    with ctx.database.session() as session:
        settled = settle_due(session, ctx)
        session.commit()
    return settled


@dataclass(frozen=True)
class LastDecision:
    """A reader's last decision: a real review, or a gold-standard reading told apart only
    here, so that both are shown and undone alike (a reader must not tell gold items apart)."""

    proposal_id: int
    test_id: int
    round: int
    decision: str  # confirm, change or retake
    result: str | None
    settles_at: datetime  # undoable until then
    settled: bool
    review: Review | None  # the real review, or
    gold: GoldReading | None  # the gold reading


def last_decision(
    session: Session, clinician: Caller, gold_grace: timedelta = timedelta(0)
) -> LastDecision | None:
    """``clinician``'s last decision. A gold reading is held for ``gold_grace`` after it was
    made, as the page holds a real decision (it never takes effect, so it has no settle time)."""
    review = queries.last_review_by(session, clinician.id)
    gold = queries.last_gold_reading_by(session, clinician.id)
    if gold is not None and (review is None or gold.created_at > review.created_at):
        item = session.get(GoldItem, gold.gold_item_id)
        assert item is not None
        proposal = session.get(Proposal, item.proposal_id)
        assert proposal is not None
        if gold.outcome == "retake":
            decision, result = "retake", None
        else:
            decision = "confirm" if gold.outcome == proposal.result else "change"
            result = gold.outcome
        return LastDecision(
            proposal_id=proposal.id,
            test_id=proposal.self_test_id,
            round=1,
            decision=decision,
            result=result,
            settles_at=gold.created_at + gold_grace,
            settled=False,
            review=None,
            gold=gold,
        )
    if review is None:
        return None
    return LastDecision(
        proposal_id=review.proposal_id,
        test_id=review.self_test_id,
        round=review.round,
        decision=review.decision,
        result=review.result,
        settles_at=review.settles_at,
        settled=review.settled_at is not None,
        review=review,
        gold=None,
    )


def withdraw_last(
    session: Session, clinician: Caller, gold_grace: timedelta = timedelta(0)
) -> LastDecision:
    """Take back ``clinician``'s last reading while it is still held: a real one reopens its
    test's reading, a gold one is unread again (so it comes back)."""
    last = last_decision(session, clinician, gold_grace)
    if last is None:
        raise ConflictError("you have no decision to undo")
    if last.settled or last.settles_at <= utcnow():
        raise ConflictError("too late to undo: your last decision has taken effect")
    if last.gold is not None:
        if not queries.delete_gold_reading(session, last.gold.id):
            raise ConflictError("too late to undo: your last decision has taken effect")
        session.expunge(last.gold)
    else:
        review = last.review
        assert review is not None
        if queries.later_review_exists(session, review):
            raise ConflictError("another clinician has read this item since; it cannot be undone")
        proposal = session.get(Proposal, review.proposal_id)
        test = session.get(SelfTest, review.self_test_id)
        assert proposal is not None
        assert test is not None
        if not queries.delete_unsettled(session, review.id):
            raise ConflictError("too late to undo: your last decision has taken effect")
        lifecycle.reopen_reading(test, proposal, review.round)
        session.expunge(review)
    record(
        session,
        clinician,
        "undo_review",
        "proposal",
        last.proposal_id,
        round=last.round,
        decision=last.decision,
        result=last.result,
    )
    return last


def undo_last(session: Session, ctx: AppContext, clinician: Caller) -> UndoOut:
    """Take back ``clinician``'s last reading while it is still held (see ``withdraw_last``;
    gold readings are made on the pages only, and undone there)."""
    last = withdraw_last(session, clinician)
    assert last.review is not None  # a gold reading has no hold here: too late above
    return UndoOut(review_id=last.review.id, proposal_id=last.proposal_id, round=last.round)


def release(
    session: Session, ctx: AppContext, clinician: Caller, test: SelfTest, result: str
) -> int:
    """Step 9: give the patient the result; report a positive at once. Returns reports sent.

    The patient is told and agencies' endpoints get a positive through the outbox, in this
    transaction.
    """
    lifecycle.release(session, clinician, test, result)
    releases.announce(session, ctx, test)
    photo = test_queries.latest_upload(session, test.id)
    if photo is not None and test.released_at is not None:
        seconds = (test.released_at - photo.uploaded_at).total_seconds()
        after_commit(session, partial(observe_release, seconds))  # a rolled-back one is none
    if result != "positive":
        return 0
    return report_positive(session, ctx, clinician, test)


# A reviewer's own statistics -------------------------------------------------------


def cohen_kappa(pairs: Sequence[tuple[str, str]]) -> float | None:
    """Cohen's kappa of two raters over ``pairs``; ``None`` when undefined.

    (observed agreement - chance agreement) / (1 - chance agreement), chance
    from each rater's own category frequencies.

    >>> cohen_kappa([("p", "p"), ("n", "n"), ("p", "n"), ("n", "n")])
    0.5
    """
    n = len(pairs)
    if n == 0:
        return None
    observed = sum(a == b for a, b in pairs) / n
    first = Counter(a for a, _ in pairs)
    second = Counter(b for _, b in pairs)
    chance = sum(first[c] * second[c] for c in first) / (n * n)
    if chance >= 1:
        return 1.0 if observed == 1 else None
    return round((observed - chance) / (1 - chance), 4)


def reviewer_stats(
    session: Session, reviewer: Caller, since: datetime, policy: ReviewPolicy = POLICY
) -> ReviewerStats:
    """Items per hour, median seconds per item, how often the proposal was changed, and
    agreement (Cohen's kappa) with the other clinicians on the items both read."""
    reviews = queries.reviews_by(session, reviewer.id, since)
    # Gold-standard items are items read like any other: counted, timed (never told apart).
    gold = queries.gold_readings_by(session, reviewer.id, since)
    seconds = _item_seconds(reviews, policy.max_item_seconds) + [
        min(g.seconds_spent, policy.max_item_seconds) for g in gold if g.seconds_spent is not None
    ]
    spent = sum(seconds)
    read = len(reviews) + len(gold)
    changed = sum(r.decision == "change" for r in reviews)
    paired = queries.paired_readings(session, reviewer.id, since)
    pairs = [(outcome(mine), outcome(other)) for mine, other in paired]
    return ReviewerStats(
        since=since,
        items=read,
        items_per_hour=round(read / (spent / 3600), 1) if spent > 0 else None,
        median_seconds=round(statistics.median(seconds), 1) if seconds else None,
        changed=changed,
        changed_rate=round(changed / len(reviews), 4) if reviews else None,
        retakes=sum(r.decision == "retake" for r in reviews),
        double_read=len({mine.proposal_id for mine, _ in paired}),
        agreement=round(sum(a == b for a, b in pairs) / len(pairs), 4) if pairs else None,
        kappa=cohen_kappa(pairs),
        by_outcome=dict(Counter(outcome(r) for r in reviews) + Counter(g.outcome for g in gold)),
    )


def _item_seconds(reviews: Sequence[Review], cap: float) -> list[float]:
    """Seconds per item: as measured by the page, else the gap since the previous decision
    (capped: a long gap is a break, not reading time)."""
    seconds = []
    previous: datetime | None = None
    for review in reviews:
        if review.seconds_spent is not None:
            seconds.append(min(review.seconds_spent, cap))
        elif previous is not None:
            gap = (review.created_at - previous).total_seconds()
            if 0 < gap <= cap:
                seconds.append(gap)
        previous = review.created_at
    return seconds


# Gold-standard items and the lead's view of the team ----------------------------------


def seed_gold(session: Session, operator: Caller, test_id: int, known_result: Result) -> GoldOut:
    """Put a released test's photo back into its region's readers' flow with a known answer.

    Each reader meets it once, like any other item, and their answer is scored; it is
    never released nor reported (the test keeps the result its patient was given).
    """
    test = session.get(SelfTest, test_id)
    if test is None:
        raise NotFoundError("no such test")
    if test.status != TestStatus.released:
        raise ConflictError(
            "only a test whose reading is over (released) can be seeded: one still in "
            "the flow would be read twice"
        )
    proposal = test_queries.latest_proposal(session, test.id)
    if proposal is None or proposal.status not in lifecycle.READABLE:
        raise ConflictError("this test has no readable photo to seed")
    if queries.active_gold(session, proposal.id) is not None:
        raise ConflictError("this test is already seeded as a gold-standard item")
    gold = GoldItem(
        proposal_id=proposal.id,
        known_result=known_result,
        region_code=test.region_code,
        seeded_by=operator.id,
        created_at=utcnow(),
    )
    session.add(gold)
    session.flush()
    record(session, operator, "seed_gold", "proposal", proposal.id, known=known_result)
    return GoldOut(
        proposal_id=proposal.id,
        test_id=test.id,
        known_result=gold.known_result,
        region_code=gold.region_code,
        created_at=gold.created_at,
    )


def gold_waiting(
    session: Session, scope: Scope, reviewer: Caller, proposal_id: int | None = None
) -> GoldItem | None:
    """The gold item waiting for ``reviewer`` (oldest first; or the one at ``proposal_id``)."""
    return queries.gold_unread(session, scope.regions, reviewer.id, proposal_id)


def read_gold(
    session: Session,
    reviewer: Caller,
    gold: GoldItem,
    body: ReviewIn,
    policy: ReviewPolicy = POLICY,
) -> GoldReading:
    """Score ``reviewer``'s reading of a gold item; the same checks as a real reading."""
    proposal = session.get(Proposal, gold.proposal_id)
    assert proposal is not None
    upload = session.get(Upload, proposal.upload_id)
    assert upload is not None
    safeguards.require_read_time_ok(upload, body)
    result, _reason = _validated(proposal, body)
    said = "retake" if body.decision == "retake" else str(result)
    seconds = body.seconds_spent
    reading = GoldReading(
        gold_item_id=gold.id,
        reviewer_id=reviewer.id,
        outcome=said,
        correct=said == gold.known_result,
        seconds_spent=min(seconds, policy.max_item_seconds) if seconds is not None else None,
        created_at=utcnow(),
    )
    session.add(reading)
    session.flush()
    record(session, reviewer, "gold_reading", "proposal", proposal.id, correct=reading.correct)
    return reading


def team_stats(
    session: Session,
    since: datetime,
    *,
    after_id: int | None = None,
    limit: int = 100,
    policy: ReviewPolicy = POLICY,
) -> list[ReviewerSummary]:
    """Each clinician's statistics (by account, from after ``after_id``), gold scores and
    a warning when their time per item is implausibly short."""
    gold = queries.gold_scores(session, since)
    summaries = []
    for user in queries.clinicians(session, after_id, limit):
        stats = reviewer_stats(session, user, since, policy)
        read, correct = gold.get(user.id, (0, 0))
        median = stats.median_seconds
        too_fast = (
            median is not None
            and stats.items >= policy.min_items_for_warning
            and median < policy.implausible_seconds
        )
        warning = None
        if too_fast:
            warning = (
                f"{median:g} s per item (median of {stats.items}): too short to look at the "
                f"window and the photo (under {policy.implausible_seconds:g} s)."
            )
        summaries.append(
            ReviewerSummary(
                reviewer_id=user.id,
                name=user.display_name,
                stats=stats,
                gold_read=read,
                gold_correct=correct,
                gold_accuracy=round(correct / read, 4) if read else None,
                too_fast=too_fast,
                warning=warning,
            )
        )
    return summaries
