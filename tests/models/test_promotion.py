"""Promotion rule: worse on a safety figure is refused with the reason; better or tied passes."""

from __future__ import annotations

import pytest

from models.promotion import SAFETY_FIGURES, Tolerance, compare, decide, wilson_upper


def metrics(**overrides: tuple[int, int]) -> dict[str, dict[str, int]]:
    """A champion-like set: every safety figure measured on a few hundred items."""
    base = {
        "sensitivity_trace": (38, 40),
        "sensitivity_faint": (118, 120),
        "sensitivity_weak": (150, 150),
        "sensitivity_strong": (200, 200),
        "specificity": (299, 300),
        "invalid_detected": (60, 60),
        "confident_errors": (0, 600),
        # Not safety figures: never a reason to refuse.
        "by_eye": (20, 600),
        "retake_fit": (5, 540),
    }
    base.update(overrides)
    return {name: {"k": k, "n": n} for name, (k, n) in base.items()}


CHAMPION = metrics()


def test_a_deliberately_worse_model_is_refused_with_the_right_reason() -> None:
    worse = metrics(sensitivity_faint=(100, 120))  # 83 % against 98 %
    decision = decide({"synthetic": {"candidate": worse, "champion": CHAMPION}})
    assert not decision.accepted
    assert [(v.set, v.figure) for v in decision.refusals] == [("synthetic", "sensitivity_faint")]
    assert "worse beyond tolerance" in decision.refusals[0].reason
    assert "sensitivity_faint" in decision.summary()


@pytest.mark.parametrize(
    ("figure", "count"),
    [
        ("sensitivity_trace", (30, 40)),
        ("sensitivity_weak", (140, 150)),
        ("sensitivity_strong", (190, 200)),
        ("specificity", (285, 300)),
        ("invalid_detected", (55, 60)),
        ("confident_errors", (6, 600)),  # more confident errors is worse
    ],
)
def test_every_safety_figure_can_refuse(figure: str, count: tuple[int, int]) -> None:
    decision = decide({"real": {"candidate": metrics(**{figure: count}), "champion": CHAMPION}})
    assert [v.figure for v in decision.refusals] == [figure]


def test_a_better_model_passes() -> None:
    better = metrics(sensitivity_trace=(40, 40), sensitivity_faint=(120, 120))
    decision = decide({"synthetic": {"candidate": better, "champion": CHAMPION}})
    assert decision.accepted
    assert len(decision.verdicts) == len(SAFETY_FIGURES)
    assert all("within tolerance" in v.reason for v in decision.verdicts)


def test_ties_and_losses_within_tolerance_pass() -> None:
    assert decide({"s": {"candidate": CHAMPION, "champion": CHAMPION}}).accepted
    # One more miss of 300 negatives, one more confident error of 600 photos: noise.
    close = metrics(specificity=(298, 300), confident_errors=(1, 600))
    assert decide({"s": {"candidate": close, "champion": CHAMPION}}).accepted


def test_tolerance_accounts_for_sample_size() -> None:
    perfect_30 = {"specificity": {"k": 30, "n": 30}}
    perfect_1000 = {"specificity": {"k": 1000, "n": 1000}}
    # The same loss of one item in 30 is refused; one in 1000 is not.
    one_of_30 = compare({"specificity": {"k": 29, "n": 30}}, perfect_30)
    one_of_1000 = compare({"specificity": {"k": 999, "n": 1000}}, perfect_1000)
    assert not next(v for v in one_of_30 if v.figure == "specificity").passed
    assert next(v for v in one_of_1000 if v.figure == "specificity").passed
    # A wider margin lets the small loss through.
    loose = compare({"specificity": {"k": 29, "n": 30}}, perfect_30, tolerance=Tolerance(0.01))
    assert next(v for v in loose if v.figure == "specificity").passed


def test_every_set_counts_an_unseen_product_can_refuse() -> None:
    sets = {
        "synthetic": {"candidate": CHAMPION, "champion": CHAMPION},
        "real/ACME-FLU": {"candidate": metrics(invalid_detected=(40, 60)), "champion": CHAMPION},
    }
    decision = decide(sets)
    assert [(v.set, v.figure) for v in decision.refusals] == [("real/ACME-FLU", "invalid_detected")]
    doc = decision.to_json()
    assert doc["accepted"] is False
    assert doc["verdicts"][0]["candidate"] == [38, 40]


def test_unmeasured_figures() -> None:
    lacking = {k: v for k, v in CHAMPION.items() if k != "sensitivity_trace"}
    # The candidate answered no trace line (e.g. all read by eye): it cannot be judged.
    refused = decide({"s": {"candidate": lacking, "champion": CHAMPION}})
    assert [v.figure for v in refused.refusals] == ["sensitivity_trace"]
    assert "not measured for the candidate" in refused.refusals[0].reason
    # Nothing to protect where the champion was not measured.
    assert decide({"s": {"candidate": CHAMPION, "champion": lacking}}).accepted


def test_no_champion_accepts_and_no_evidence_refuses() -> None:
    assert decide(None).accepted
    assert not decide({}).accepted


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="impossible count"):
        compare({"specificity": {"k": 5, "n": 3}}, CHAMPION)
    with pytest.raises(ValueError, match="both"):
        decide({"s": {"candidate": CHAMPION}})
    with pytest.raises(ValueError, match="n > 0"):
        wilson_upper(1, 0)
    with pytest.raises(ValueError, match="margin"):
        Tolerance(margin=-0.1)
