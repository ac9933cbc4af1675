"""What keeps a reading safe: a photo outside the kit's read window is confirmed only on
purpose, and a second reader reads blind.

A result from a photo taken too early or too late (``Upload.read_time_flag``) is
released only when the clinician says so explicitly (``ReviewIn.read_time_ok``, the
page's second key). A second reader never sees the first decision, and with the
``blind_second_reader`` setting (on by default) not the model's answer either: they
give the result they read, and the server works out whether that confirms or changes
the model's.
"""

from __future__ import annotations

from api.errors import InvalidError
from api.reviews.schemas import ReviewIn
from api.selftests.lifecycle import SECOND_READING
from api.selftests.tables import Proposal, Upload

# The reason kept with a blind reading that differs from the model's answer.
BLIND_REASON = "independent second reading (blind to the first reading and the model)"

_WHEN = {"early": "before the kit's read window opened", "late": "after it closed"}


def require_read_time_ok(upload: Upload, body: ReviewIn) -> None:
    """A result from a photo outside the read window needs ``read_time_ok``."""
    flag = upload.read_time_flag
    if flag is None or body.decision == "retake" or body.read_time_ok:
        return
    raise InvalidError(
        f"read_time_ok: this photo was taken {_WHEN.get(flag, flag)}; "
        "confirm that the reading stands anyway (read_time_ok), or ask for a retake"
    )


def blind_to_model(blind_setting: bool, stage: int | None) -> bool:
    """Whether the reader of ``stage`` is kept from the model's answer."""
    return blind_setting and stage == SECOND_READING


def blind_decision(proposal: Proposal, body: ReviewIn) -> ReviewIn:
    """A blind reader's result, as a confirmation or a change of the model's answer."""
    if body.decision == "retake" or body.result is None:
        return body
    if body.result == proposal.result:
        return body.model_copy(update={"decision": "confirm"})
    return body.model_copy(update={"decision": "change", "reason": body.reason or BLIND_REASON})
