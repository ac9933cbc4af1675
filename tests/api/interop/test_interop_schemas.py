"""The read model refuses a result that would make a message contradict itself."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from api.interop.schemas import ReleasedResult

Released = Callable[..., ReleasedResult]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"result": "negative"}, "exactly when some analyte is positive"),
        (
            {"analytes": ({"analyte": "SARS-CoV-2 antigen", "result": "negative"},)},
            "exactly when some analyte is positive",
        ),
        (
            {
                "analytes": ({"analyte": "SARS-CoV-2 antigen", "result": "invalid"},),
                "result": "negative",
            },
            "every analyte negative",
        ),
        (
            {
                "analytes": (
                    {"analyte": "SARS-CoV-2 antigen", "result": "positive"},
                    {"analyte": "sars-cov-2 ANTIGEN", "result": "positive"},
                )
            },
            "each analyte appears once",
        ),
        ({"analytes": ()}, "at least 1 item"),
        ({"report_status": "corrected"}, "needs a reason"),
        ({"report_status": "entered-in-error"}, "needs a reason"),
        ({"collected_at": datetime(2026, 11, 29, 9, 30)}, "UTC offset"),
        ({"message_id": "m" * 21}, "at most 20"),
        ({"message_id": "msg.0001"}, "pattern"),
        ({"result_id": "res 42"}, "pattern"),
    ],
)
def test_contradictory_or_unsendable_results_are_refused(
    released: Released, changes: dict[str, Any], reason: str
) -> None:
    with pytest.raises(ValidationError, match=reason):
        released(**changes)


def test_a_revision_is_not_issued_before_the_first_release(released: Released) -> None:
    first = released()
    with pytest.raises(ValidationError, match="not before released_at"):
        released(issued_at=first.released_at - timedelta(seconds=1))
    revised = released(
        report_status="corrected", reason="misread", issued_at=first.released_at + timedelta(1)
    )
    assert revised.released_at == first.released_at


def test_the_read_model_is_frozen(released: Released) -> None:
    result = released()
    with pytest.raises(ValidationError, match="frozen"):
        result.result = "negative"  # type: ignore[misc]
