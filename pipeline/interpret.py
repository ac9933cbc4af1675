"""Turn per-line presence probabilities into the kit's result, with a confidence.

The kit's criteria (``rdt-kit/1``): the test is **invalid** if any control
line is absent. Otherwise each test line makes its analyte reactive when the
line is present, or, for competitive assays (``present_means:
"non-reactive"``), when it is absent. Several test lines may share one
analyte; the analyte is **positive when any of its lines is reactive** (a
reactive line is evidence of the analyte, and missing a positive costs more
than a second look at a false one). The overall result is ``positive`` when
any analyte is positive, else ``negative``.

Confidence is the probability that the overall result is right, treating the
lines' presence as independent events with the given probabilities: the sum
of the probabilities of every presence pattern that leads to the same result.
Unlike the product of ``max(p, 1 - p)`` over lines, this does not punish
doubt about a line that cannot change the result (a faint second test line
on an already positive test, any test line on an invalid one).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from pipeline.kit import Kit
from pipeline.reading import Result

# Exact enumeration costs 2**n; beyond this many lines fall back to a bound.
_MAX_EXACT_LINES = 14


@dataclass(frozen=True)
class Interpretation:
    """The kit's verdict on one reading.

    Attributes
    ----------
    result : {"positive", "negative", "invalid"}
    analytes : dict of str to str
        ``"positive"`` or ``"negative"`` per analyte; empty when invalid.
    confidence : float
        Probability that ``result`` is right given the line probabilities.
    present : dict of str to bool
        The presence call of each line (``p >= threshold``).
    analyte_confidence : dict of str to float
        Probability that each analyte's call is right (empty when invalid).
    """

    result: Result
    analytes: dict[str, str]
    confidence: float
    present: dict[str, bool]
    analyte_confidence: dict[str, float]


def interpret(kit: Kit, p_present: Mapping[str, float], threshold: float = 0.5) -> Interpretation:
    """Apply the kit's criteria to line presence probabilities.

    Parameters
    ----------
    kit : Kit
    p_present : mapping of str to float
        Probability that each line (by name) is present; every kit line is required.
    threshold : float
        A line is called present when its probability is at least this.

    Returns
    -------
    Interpretation

    Raises
    ------
    KeyError
        When a kit line has no probability.

    Examples
    --------
    >>> from pipeline.kit import load_kit
    >>> kit = load_kit("datasets/kits/demo/kit.json")
    >>> r = interpret(kit, {"T": 0.97, "C": 1.0})
    >>> r.result, r.analytes, round(r.confidence, 2)
    ('positive', {'SARS-CoV-2 antigen': 'positive'}, 0.97)
    >>> interpret(kit, {"T": 0.9, "C": 0.02}).result
    'invalid'
    >>> round(interpret(kit, {"T": 0.10, "C": 0.99}).confidence, 3)
    0.891
    """
    lines = kit.lines
    probs = np.array([_probability(p_present[line.name]) for line in lines])
    present = {line.name: bool(p >= threshold) for line, p in zip(lines, probs, strict=True)}
    result, analytes = _verdict(kit, present)
    confidence, analyte_conf = _confidence(kit, probs, result, analytes)
    return Interpretation(
        result=result,
        analytes=analytes,
        confidence=confidence,
        present=present,
        analyte_confidence=analyte_conf,
    )


def _probability(p: float) -> float:
    value = float(p)
    if not np.isfinite(value):
        raise ValueError(f"line probability must be finite, got {p!r}")
    return float(np.clip(value, 0.0, 1.0))


def _verdict(kit: Kit, present: Mapping[str, bool]) -> tuple[Result, dict[str, str]]:
    """The kit's criteria on a presence pattern."""
    if not all(present[line.name] for line in kit.lines if line.role == "control"):
        return "invalid", {}
    analytes: dict[str, str] = {}
    for line in kit.lines:
        if line.role != "test":
            continue
        reactive = present[line.name] == (line.present_means == "reactive")
        name = line.analyte_name
        if reactive or analytes.get(name) != "positive":
            analytes[name] = "positive" if reactive else "negative"
    result: Result = "positive" if "positive" in analytes.values() else "negative"
    return result, analytes


def _confidence(
    kit: Kit, probs: np.ndarray, result: Result, analytes: dict[str, str]
) -> tuple[float, dict[str, float]]:
    lines = kit.lines
    n = len(lines)
    names = [line.name for line in lines]
    if n > _MAX_EXACT_LINES:
        # A lower bound: every line called right.
        bound = float(np.prod(np.maximum(probs, 1 - probs)))
        return bound, dict.fromkeys(analytes, bound)
    total = 0.0
    per_analyte = dict.fromkeys(analytes, 0.0)
    for pattern in itertools.product((False, True), repeat=n):
        weight = float(np.prod(np.where(pattern, probs, 1 - probs)))
        if weight == 0.0:
            continue
        res, ana = _verdict(kit, dict(zip(names, pattern, strict=True)))
        if res == result:
            total += weight
        for name, call in analytes.items():
            if ana.get(name) == call:
                per_analyte[name] += weight
    return float(min(total, 1.0)), {k: float(min(v, 1.0)) for k, v in per_analyte.items()}
