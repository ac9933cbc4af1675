"""The one owner of a self-test's life: every change of its status, its unit's state and
its proposal's review stage goes through a function here.

::

    claimed (awaiting_photo) --photo--> reading --proposed--> in_review --release--> released
          ^                                |  \\                 |  ^  |                  |
          |                                |   '--unreadable--.  |  |  '--second/third   correct
          '-- retake <------- photo -------'                  v  v  |     reading         v
                 ^  '----------------------------------------- retake                 corrected
                 '-------------------- ask_retake ---------------'
    claimed (awaiting_photo) --sample_applied--> itself, once: the read window starts
    any unfinished state --withdraw--> withdrawn
    released, corrected --retract (entered in error)--> withdrawn

A proposal the model could read (``ok``) or could not read but a person can (``by_eye``)
goes to the clinicians; ``retake`` goes back to the patient. The review stage of a
proposal (1, 2, 3: first, second, third reading; ``None`` when no reading is awaited)
moves only forward, except that an undo reopens the round it took back.

An illegal step raises ``TransitionError`` (a 409 for the caller): a test is never
half-moved, and whoever asks learns which state refused it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from sqlalchemy.orm import Session

from api.audit.service import Actor, record
from api.batches import queries as batch_queries
from api.batches.tables import UnitState
from api.db.base import utcnow
from api.errors import ConflictError, InvalidError
from api.selftests.tables import Proposal, SelfTest, TestStatus


class Step(StrEnum):
    """What happens to a test."""

    sample_applied = "sample_applied"  # the kit's read window starts (status unchanged)
    photo_received = "photo_received"
    proposed_readable = "proposed_readable"  # an ``ok`` or ``by_eye`` proposal: to review
    proposed_unreadable = "proposed_unreadable"  # a ``retake`` proposal: back to the patient
    ask_retake = "ask_retake"  # a clinician asks for a new photo
    release = "release"
    correct = "correct"
    withdraw = "withdraw"
    retract = "retract"  # a released result entered in error


UNFINISHED = (
    TestStatus.awaiting_photo,
    TestStatus.reading,
    TestStatus.retake,
    TestStatus.in_review,
)

# (from, step) -> to: the whole state machine. Anything not listed is refused.
TRANSITIONS: dict[tuple[TestStatus, Step], TestStatus] = {
    (TestStatus.awaiting_photo, Step.sample_applied): TestStatus.awaiting_photo,
    (TestStatus.awaiting_photo, Step.photo_received): TestStatus.reading,
    (TestStatus.retake, Step.photo_received): TestStatus.reading,
    (TestStatus.reading, Step.proposed_readable): TestStatus.in_review,
    (TestStatus.reading, Step.proposed_unreadable): TestStatus.retake,
    (TestStatus.in_review, Step.ask_retake): TestStatus.retake,
    (TestStatus.in_review, Step.release): TestStatus.released,
    (TestStatus.released, Step.correct): TestStatus.corrected,
    (TestStatus.corrected, Step.correct): TestStatus.corrected,
    **{(state, Step.withdraw): TestStatus.withdrawn for state in UNFINISHED},
    (TestStatus.released, Step.retract): TestStatus.withdrawn,
    (TestStatus.corrected, Step.retract): TestStatus.withdrawn,
}

# Proposal statuses from the pipeline (rdt-kit reading ``status``).
READABLE = ("ok", "by_eye")
FIRST_READING, SECOND_READING, THIRD_READING = 1, 2, 3


class TransitionError(ConflictError):
    """A step the test's current state does not allow."""

    code = "illegal_transition"


# Why a step is refused, in the words a patient or clinician understands.
_REFUSALS: dict[TestStatus, str] = {
    TestStatus.reading: "a photo of this test is being read; wait for the result",
    TestStatus.in_review: "this test's photo is with a clinician; wait for the result",
    TestStatus.released: "this test is finished; its result has been released",
    TestStatus.corrected: "this test is finished; its result has been released and corrected",
    TestStatus.withdrawn: "this test was withdrawn",
}


class _HasStatus(Protocol):
    status: str


def allows(test: _HasStatus, step: Step) -> bool:
    return (TestStatus(test.status), step) in TRANSITIONS


def require(test: _HasStatus, step: Step) -> TestStatus:
    """The state ``step`` leads to from the test's state, or ``TransitionError``."""
    state = TestStatus(test.status)
    target = TRANSITIONS.get((state, step))
    if target is None:
        raise TransitionError(_REFUSALS.get(state, f"a test in state '{state}' cannot {step}"))
    return target


def _move(test: SelfTest, step: Step) -> TestStatus:
    test.status = require(test, step)
    return TestStatus(test.status)


# The steps ------------------------------------------------------------------------


def claim(session: Session, test: SelfTest) -> None:
    """A new test takes its unit out of circulation (``unused`` -> ``in_use``)."""
    if not batch_queries.mark_unit(session, test.unit_id, UnitState.unused, UnitState.in_use):
        raise ConflictError("this code has just been used; a code serves one test only")
    test.status = TestStatus.awaiting_photo


# A phone's clock may run a little ahead of the server's.
CLOCK_SKEW = timedelta(minutes=5)
# A sample applied before the scan counts (people scan late), but not hours before.
SAMPLE_BEFORE_SCAN = timedelta(hours=1)


def sample_applied(session: Session, actor: Actor, test: SelfTest, at: datetime) -> None:
    """The patient applied the sample at ``at``: the kit's read window runs from then.

    Once only, before the first photo: a read window that moved after a photo was
    judged against it would change what the photo's timing means.
    """
    require(test, Step.sample_applied)
    if at.tzinfo is None:
        raise InvalidError("applied_at: give a time zone (e.g. 2024-05-01T10:00:00Z)")
    if test.sample_applied_at is not None:
        if test.sample_applied_at == at:
            return  # the same answer sent twice (a retry)
        raise ConflictError("the time the sample was applied is already recorded")
    if at > utcnow() + CLOCK_SKEW:
        raise InvalidError("applied_at: lies in the future")
    if at < test.claimed_at - SAMPLE_BEFORE_SCAN:
        raise InvalidError("applied_at: more than an hour before the code was scanned")
    test.sample_applied_at = at
    record(session, actor, "sample_applied", "self_test", test.id, at=at.isoformat())


def photo_received(test: SelfTest) -> None:
    _move(test, Step.photo_received)


def proposed(test: SelfTest, proposal: Proposal) -> None:
    """The pipeline's proposal for the test's latest photo: to review or back for a retake."""
    if proposal.status in READABLE:
        _move(test, Step.proposed_readable)
        proposal.review_stage = FIRST_READING  # into the clinicians' queue
    else:
        _move(test, Step.proposed_unreadable)
        proposal.review_stage = None


def awaiting_reading(test: SelfTest, proposal: Proposal) -> bool:
    """Whether ``proposal`` is in the clinicians' queue now."""
    return (
        proposal.review_stage is not None
        and proposal.status in READABLE
        and test.status == TestStatus.in_review
    )


def next_reading(test: SelfTest, proposal: Proposal, stage: int | None) -> None:
    """After a reading: another clinician reads next (``stage`` 2 or 3), or none (``None``)."""
    current = proposal.review_stage
    if not awaiting_reading(test, proposal) or current is None:
        raise TransitionError("this proposal is not awaiting a reading")
    if stage is not None and not (current < stage <= THIRD_READING):
        raise TransitionError(f"reading {current} cannot be followed by reading {stage}")
    proposal.review_stage = stage


def reopen_reading(test: SelfTest, proposal: Proposal, stage: int) -> None:
    """An undone reading: the round it took back is awaited again."""
    if test.status != TestStatus.in_review:
        raise TransitionError(_REFUSALS.get(TestStatus(test.status), "too late to undo"))
    proposal.review_stage = stage


def ask_retake(session: Session, actor: Actor, test: SelfTest, reason: str | None) -> None:
    _move(test, Step.ask_retake)
    record(session, actor, "retake", "self_test", test.id, reason=reason)


def release(session: Session, actor: Actor, test: SelfTest, result: str) -> None:
    """The result goes to the patient; the unit is spent (``in_use`` -> ``used``)."""
    _move(test, Step.release)
    test.result = result
    test.released_at = utcnow()
    test.released_by = actor.id
    batch_queries.mark_unit(session, test.unit_id, UnitState.in_use, UnitState.used)
    record(session, actor, "release", "self_test", test.id, result=result)


def correct(session: Session, actor: Actor, test: SelfTest, result: str, reason: str) -> str:
    """A released result found wrong; returns the result it replaces."""
    if test.result == result:
        raise ConflictError(f"the released result is already {result}")
    previous = str(test.result)
    _move(test, Step.correct)
    test.result = result
    record(
        session,
        actor,
        "correct",
        "self_test",
        test.id,
        previous=previous,
        result=result,
        reason=reason,
    )
    return previous


def withdraw(session: Session, actor: Actor, test: SelfTest, reason: str) -> None:
    """A test abandoned before its result (unit spent: a code serves one test only)."""
    _move(test, Step.withdraw)
    batch_queries.mark_unit(session, test.unit_id, UnitState.in_use, UnitState.used)
    record(session, actor, "withdraw", "self_test", test.id, reason=reason)


def retract(session: Session, actor: Actor, test: SelfTest, reason: str) -> None:
    """A released result entered in error: withdrawn, its result kept for the history."""
    _move(test, Step.retract)
    record(session, actor, "retract", "self_test", test.id, result=test.result, reason=reason)
