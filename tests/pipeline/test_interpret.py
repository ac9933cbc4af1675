"""The kit's criteria on line probabilities, and the confidence of the call."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from pipeline.interpret import interpret
from pipeline.kit import Kit, load_kit, parse_kit


def _kit(lines: list[dict]) -> Kit:
    doc = {
        "spec": "rdt-kit/1",
        "product_code": "TEST-KIT",
        "name": "Test kit",
        "test_item": {"name": "x"},
        "format": "cassette",
        "template": {
            "image": "t.png",
            "px_per_mm": 10.0,
            "window": {"x": 10, "y": 10, "w": 200, "h": 50},
            "flow": "right",
        },
        "lines": lines,
    }
    return parse_kit(doc, np.zeros((80, 240, 4), np.uint8))


@pytest.fixture(scope="module")
def demo() -> Kit:
    return load_kit("datasets/kits/demo/kit.json")


@pytest.fixture(scope="module")
def flu() -> Kit:  # two analytes, one line each
    return _kit(
        [
            {"name": "A", "role": "test", "at": 0.3, "analyte": "Influenza A"},
            {"name": "B", "role": "test", "at": 0.5, "analyte": "Influenza B"},
            {"name": "C", "role": "control", "at": 0.8},
        ]
    )


@pytest.fixture(scope="module")
def drug() -> Kit:  # competitive: a visible line means negative
    return _kit(
        [
            {"name": "THC", "role": "test", "at": 0.4, "present_means": "non-reactive"},
            {"name": "C", "role": "control", "at": 0.8},
        ]
    )


@pytest.fixture(scope="module")
def shared() -> Kit:  # two lines for one analyte, two controls
    return _kit(
        [
            {"name": "T1", "role": "test", "at": 0.2, "analyte": "HIV"},
            {"name": "T2", "role": "test", "at": 0.4, "analyte": "HIV"},
            {"name": "C1", "role": "control", "at": 0.6},
            {"name": "C2", "role": "control", "at": 0.8},
        ]
    )


def test_reactive_positive_and_negative(demo: Kit) -> None:
    pos = interpret(demo, {"T": 0.95, "C": 0.99})
    assert pos.result == "positive"
    assert pos.analytes == {"SARS-CoV-2 antigen": "positive"}
    assert pos.present == {"T": True, "C": True}
    neg = interpret(demo, {"T": 0.02, "C": 0.99})
    assert neg.result == "negative"
    assert neg.analytes == {"SARS-CoV-2 antigen": "negative"}
    assert neg.confidence == pytest.approx(0.98 * 0.99)


def test_absent_control_is_invalid_with_no_analytes(demo: Kit, shared: Kit) -> None:
    r = interpret(demo, {"T": 0.99, "C": 0.01})
    assert r.result == "invalid"
    assert r.analytes == {}
    # The test line cannot change an invalid call: confidence is P(C absent).
    assert r.confidence == pytest.approx(0.99)
    # Any absent control makes it invalid.
    assert interpret(shared, {"T1": 0.9, "T2": 0.1, "C1": 0.99, "C2": 0.1}).result == "invalid"


def test_two_analytes_each_from_its_own_line(flu: Kit) -> None:
    r = interpret(flu, {"A": 0.01, "B": 0.97, "C": 1.0})
    assert r.result == "positive"
    assert r.analytes == {"Influenza A": "negative", "Influenza B": "positive"}
    assert r.analyte_confidence["Influenza A"] == pytest.approx(0.99)


def test_non_reactive_line_means_negative(drug: Kit) -> None:
    visible = interpret(drug, {"THC": 0.99, "C": 0.99})
    assert visible.result == "negative"
    assert visible.analytes == {"THC": "negative"}
    gone = interpret(drug, {"THC": 0.01, "C": 0.99})
    assert gone.result == "positive"
    assert gone.analytes == {"THC": "positive"}


def test_shared_analyte_is_positive_when_any_line_reacts(shared: Kit) -> None:
    for t1, t2, want in [(0.9, 0.1, "positive"), (0.1, 0.9, "positive"), (0.1, 0.1, "negative")]:
        r = interpret(shared, {"T1": t1, "T2": t2, "C1": 0.99, "C2": 0.99})
        assert r.analytes == {"HIV": want}
        assert r.result == want


def test_doubt_about_an_irrelevant_line_does_not_lower_confidence(flu: Kit) -> None:
    # A is clearly present; B is a coin toss but the test is positive either way.
    r = interpret(flu, {"A": 0.99, "B": 0.5, "C": 0.99})
    assert r.result == "positive"
    # Positive when C is there and A or B is: 0.99 * (1 - 0.01 * 0.5).
    assert r.confidence == pytest.approx(0.99 * 0.995)
    naive = 0.99 * 0.5 * 0.99
    assert r.confidence > naive


def test_confidence_equals_brute_force(shared: Kit) -> None:
    rng = np.random.default_rng(0)
    names = [line.name for line in shared.lines]
    for _ in range(20):
        p = dict(zip(names, rng.uniform(0, 1, len(names)), strict=True))
        r = interpret(shared, p)
        total = 0.0
        for pattern in itertools.product([0, 1], repeat=len(names)):
            q = {n: float(b) for n, b in zip(names, pattern, strict=True)}
            weight = np.prod([p[n] if b else 1 - p[n] for n, b in zip(names, pattern, strict=True)])
            if interpret(shared, q).result == r.result:
                total += weight
        assert r.confidence == pytest.approx(total)
        assert 0.0 <= r.confidence <= 1.0


def test_threshold_moves_the_call(demo: Kit) -> None:
    assert interpret(demo, {"T": 0.4, "C": 0.9}).result == "negative"
    assert interpret(demo, {"T": 0.4, "C": 0.9}, threshold=0.3).result == "positive"


def test_missing_or_bad_probability_is_refused(demo: Kit) -> None:
    with pytest.raises(KeyError):
        interpret(demo, {"C": 0.9})
    with pytest.raises(ValueError, match="finite"):
        interpret(demo, {"T": float("nan"), "C": 0.9})
