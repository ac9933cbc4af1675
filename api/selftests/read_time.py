"""The kit's read window: when it opens and closes for a test, and a photo's timing in words.

The window runs from when the sample was applied (``SelfTest.sample_applied_at``); a
test whose patient never said so is timed from the scan instead, which can only make a
photo look later than it was, never earlier than the kit allows.

``rdt-kit/1`` gives a window (``read_time_minutes``) and no criterion that makes an
early reading valid (say, a positive line allowed from some minute on), so every photo
taken before the window opens is held; a kit format that adds such a criterion would
be checked in ``too_early``.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from api.errors import ConflictError
from api.selftests.schemas import ReadWindow

if TYPE_CHECKING:
    from api.selftests.tables import SelfTest
    from pipeline.kit import ReadTime

Flag = Literal["early", "late"]


class TooEarlyError(ConflictError):
    """A photo taken before the kit's read window opened: the patient waits and retakes."""

    code = "too_early"

    def __init__(self, wait_minutes: int) -> None:
        unit = "minute" if wait_minutes == 1 else "minutes"
        super().__init__(
            f"photo: too early to read the test; wait {wait_minutes} more {unit}, "
            "then take the photo"
        )
        self.wait_minutes = wait_minutes
        self.extensions = {"wait_minutes": wait_minutes}
        self.headers = {"Retry-After": str(wait_minutes * 60)}


def start(test: SelfTest) -> tuple[datetime, bool]:
    """When the read window's clock starts, and whether that is the sample time."""
    if test.sample_applied_at is not None:
        return test.sample_applied_at, True
    return test.claimed_at, False


def minutes_since_start(test: SelfTest, at: datetime) -> float:
    return (at - start(test)[0]).total_seconds() / 60


def window(test: SelfTest, read_time: ReadTime | None) -> ReadWindow | None:
    if read_time is None:
        return None
    begins, from_sample = start(test)
    low, high = read_time.min, read_time.max
    return ReadWindow(
        min_minutes=low,
        max_minutes=high,
        starts_at=begins,
        from_sample=from_sample,
        read_from=begins + timedelta(minutes=low),
        read_until=begins + timedelta(minutes=high) if high is not None else None,
    )


def flag(read_time: ReadTime | None, minutes: float) -> Flag | None:
    """``"early"`` / ``"late"`` when a photo missed the kit's read window."""
    if read_time is None:
        return None
    if minutes < read_time.min:
        return "early"
    if read_time.max is not None and minutes > read_time.max:
        return "late"
    return None


def too_early(read_time: ReadTime | None, minutes: float) -> TooEarlyError | None:
    """The refusal for a photo taken ``minutes`` after the sample, if it is early."""
    if read_time is None or minutes >= read_time.min:
        return None
    return TooEarlyError(max(1, math.ceil(read_time.min - minutes)))


def note(
    flag_: str | None,
    minutes: float | None,
    from_sample: bool,
    read_time: ReadTime | None,
) -> str:
    """A photo's timing in words, wherever its result is shown (review, CDC case, exports)."""
    since = "the sample was applied" if from_sample else "the scan (no sample time given)"
    taken = f"Photo taken {minutes:.0f} minutes after {since}" if minutes is not None else ""
    if read_time is None:
        return taken + " (this kit gives no reading time)."
    low, high = read_time.min, read_time.max
    span = f"{low:g}-{high:g} minutes" if high is not None else f"from {low:g} minutes"
    if flag_ == "early":
        return f"{taken}: too early (read at {span}). Lines may not have formed yet."
    if flag_ == "late":
        return f"{taken}: too late (read at {span}). Faint lines may be misleading."
    return f"{taken}: within the reading time ({span})."
