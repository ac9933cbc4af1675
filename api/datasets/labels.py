"""What the clinicians finally said about a proposal: the label a confirmed case carries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from api.selftests.tables import Proposal, Review, SelfTest, TestStatus

UNREADABLE = "unreadable"  # a clinician asked for a retake: no person could read the photo


@dataclass(frozen=True)
class Confirmed:
    """The final label, the second reader's (where there was one) and how they were settled."""

    final: dict[str, Any]
    second: dict[str, Any] | None
    resolution: str

    @property
    def result(self) -> str:
        return str(self.final["result"])


def _outcome(review: Review) -> str:
    return UNREADABLE if review.decision == "retake" else str(review.result)


def confirmed_label(
    proposal: Proposal, reviews: Sequence[Review], test: SelfTest, *, latest: bool
) -> Confirmed | None:
    """The label of ``proposal`` once a clinician's reading of it has taken effect, else None.

    ``reviews`` are the proposal's readings in round order; ``latest``: the proposal is
    of the test's newest photo, so a correction after release applies to it. Resolution:
    ``single_reader``, ``second_reader_agreed``, ``third_reader_decided`` (the first two
    disagreed) or ``corrected_after_release``.
    """
    settled = [r for r in reviews if r.effect is not None and r.settled_at is not None]
    if not settled:
        return None
    deciding = settled[-1]
    outcome = _outcome(deciding)
    resolution = {1: "single_reader", 2: "second_reader_agreed"}.get(
        deciding.round, "third_reader_decided"
    )
    if (
        latest
        and test.status == TestStatus.corrected
        and outcome != UNREADABLE
        and test.result is not None
        and test.result != outcome
    ):
        outcome, resolution = str(test.result), "corrected_after_release"
    read_by_eye = proposal.status == "by_eye" or (
        outcome != UNREADABLE and outcome != proposal.result
    )
    second = next((r for r in reviews if r.round == 2), None)
    return Confirmed(
        final={"result": outcome, "read_by_eye": read_by_eye},
        second={"result": _outcome(second)} if second is not None else None,
        resolution=resolution,
    )
