"""When a candidate band model may replace the champion: the safety rule, pure.

A candidate is compared with the champion on the same evaluation sets (the
same photos read by both, see ``training.evaluate``). It is **refused** when it
is worse than the champion on any safety figure beyond the tolerance:

- sensitivity in every OD band (``sensitivity_trace``, ``_faint``, ``_weak``,
  ``_strong``): present test lines called present;
- ``specificity``: absent test lines called absent;
- ``invalid_detected``: units without a control line read ``invalid``;
- ``confident_errors``: wrong answers given with confidence (lower is better).

Each figure is a count: ``{"k": successes, "n": trials}`` (for
``confident_errors``, ``k`` is the number of confident errors among ``n``
photos, so it is turned into the error-free count ``n - k`` first).

The rule, per figure and set
----------------------------
Let ``p`` be the champion's rate and ``U`` the upper end of the candidate's
Wilson score interval at one-sided ``confidence`` (default 95 %, i.e. the
upper end of the two-sided 90 % interval). The figure is refused when::

    p - U > margin            (margin default 0.005, half a percentage point)

that is, when even the most favourable rate the candidate's own counts make
plausible is more than ``margin`` below the champion's. The tolerance thus
shrinks as the sample grows: with ``n = 30`` one extra miss against a perfect
champion is refused (U = 99.25 %), with ``n = 100`` one miss passes
(U = 99.77 %), ten misses do not. Identical counts always pass. A figure the
champion was measured on but the candidate was not (no answered reading in
that band) is refused: it cannot be judged. A figure the champion was not
measured on passes with a note. Retake and read-by-eye rates, calibration,
agreement and speed are reported, never a reason to refuse: they cost work,
not patients' safety.

No I/O: metrics in, a :class:`Decision` with a reason per figure out.

Examples
--------
>>> champion = {"specificity": {"k": 200, "n": 200}}
>>> decide({"synthetic": {"candidate": {"specificity": {"k": 180, "n": 200}},
...                       "champion": champion}}).accepted
False
>>> decide({"synthetic": {"candidate": champion, "champion": champion}}).accepted
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from scipy.stats import binomtest

#: Safety figures and whether a higher count is better.
SAFETY_FIGURES: dict[str, bool] = {
    "sensitivity_trace": True,
    "sensitivity_faint": True,
    "sensitivity_weak": True,
    "sensitivity_strong": True,
    "specificity": True,
    "invalid_detected": True,
    "confident_errors": False,
}


@dataclass(frozen=True)
class Tolerance:
    """How much worse a candidate may look before it is refused (see the module)."""

    margin: float = 0.005
    confidence: float = 0.95

    def __post_init__(self) -> None:
        if not 0 <= self.margin < 1:
            raise ValueError("margin must be within [0, 1)")
        if not 0.5 <= self.confidence < 1:
            raise ValueError("confidence must be within [0.5, 1)")


@dataclass(frozen=True)
class Verdict:
    """One safety figure on one evaluation set: both counts, passed or not, and why."""

    set: str
    figure: str
    passed: bool
    reason: str
    candidate: tuple[int, int] | None  # (k, n) as given
    champion: tuple[int, int] | None


@dataclass(frozen=True)
class Decision:
    """The outcome: ``accepted`` only when every verdict passed."""

    accepted: bool
    verdicts: tuple[Verdict, ...]
    tolerance: Tolerance

    @property
    def refusals(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v.passed]

    def summary(self) -> str:
        """One line: accepted, or the refused figures with their reasons."""
        if self.accepted:
            return "accepted: no safety figure is worse than the champion's beyond tolerance"
        return "refused: " + "; ".join(f"{v.set} {v.reason}" for v in self.refusals)

    def to_json(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "summary": self.summary(),
            "tolerance": asdict(self.tolerance),
            "rule": "refuse when champion rate - candidate's Wilson upper bound > margin",
            "verdicts": [
                {
                    **asdict(v),
                    "candidate": list(v.candidate) if v.candidate else None,
                    "champion": list(v.champion) if v.champion else None,
                }
                for v in self.verdicts
            ],
        }


def wilson_upper(k: int, n: int, confidence: float = 0.95) -> float:
    """Upper end of the one-sided Wilson score interval of ``k`` successes in ``n``.

    Examples
    --------
    >>> round(wilson_upper(29, 30), 4), wilson_upper(30, 30)
    (0.9925, 1.0)
    """
    if n <= 0 or not 0 <= k <= n:
        raise ValueError("need 0 <= k <= n and n > 0")
    two_sided = 2 * confidence - 1
    return float(binomtest(k, n).proportion_ci(two_sided, method="wilson").high)


def _count(metrics: Mapping[str, Any], figure: str) -> tuple[int, int] | None:
    value = metrics.get(figure)
    if not isinstance(value, Mapping) or "k" not in value or "n" not in value:
        return None
    k, n = int(value["k"]), int(value["n"])
    if n < 0 or not 0 <= k <= n:
        raise ValueError(f"{figure}: impossible count k={k}, n={n}")
    return k, n


def compare(
    candidate: Mapping[str, Any],
    champion: Mapping[str, Any],
    *,
    set_name: str = "",
    tolerance: Tolerance | None = None,
) -> list[Verdict]:
    """A verdict per safety figure for one evaluation set.

    Parameters
    ----------
    candidate, champion : mapping
        Figure name -> ``{"k": int, "n": int, ...}`` (extra keys ignored).
    set_name : str
        Named in the verdicts (e.g. ``"synthetic"``, ``"real/product ACME"``).
    tolerance : Tolerance, optional

    Examples
    --------
    >>> v = compare({"specificity": {"k": 90, "n": 100}}, {"specificity": {"k": 100, "n": 100}})
    >>> [(x.figure, x.passed) for x in v if x.figure == "specificity"]
    [('specificity', False)]
    """
    tol = tolerance or Tolerance()
    verdicts = []
    for figure, higher_better in SAFETY_FIGURES.items():
        cand, champ = _count(candidate, figure), _count(champion, figure)

        def verdict(passed: bool, reason: str, f: str = figure) -> Verdict:
            return Verdict(set_name, f, passed, reason, cand, champ)  # noqa: B023

        if champ is None or champ[1] == 0:
            verdicts.append(verdict(True, f"{figure}: not measured for the champion"))
            continue
        if cand is None or cand[1] == 0:
            verdicts.append(verdict(False, f"{figure}: not measured for the candidate"))
            continue
        # Lower-is-better counts become error-free counts, so one rule fits all.
        ck, cn = cand if higher_better else (cand[1] - cand[0], cand[1])
        pk, pn = champ if higher_better else (champ[1] - champ[0], champ[1])
        rate, champion_rate = ck / cn, pk / pn
        upper = wilson_upper(ck, cn, tol.confidence)
        shown = (
            f"{figure}: candidate {_pct(rate)} ({cand[0]}/{cand[1]}, upper bound {_pct(upper)}) "
            f"vs champion {_pct(champion_rate)} ({champ[0]}/{champ[1]})"
        )
        if not higher_better:
            shown = (
                f"{figure}: candidate {cand[0]}/{cand[1]} vs champion {champ[0]}/{champ[1]} "
                f"(error-free {_pct(rate)}, upper bound {_pct(upper)}, "
                f"champion {_pct(champion_rate)})"
            )
        if champion_rate - upper > tol.margin:
            verdicts.append(verdict(False, f"{shown}: worse beyond tolerance"))
        else:
            verdicts.append(verdict(True, f"{shown}: within tolerance"))
    return verdicts


def decide(
    sets: Mapping[str, Mapping[str, Mapping[str, Any]]] | None,
    *,
    tolerance: Tolerance | None = None,
) -> Decision:
    """The promotion decision over every evaluation set.

    Parameters
    ----------
    sets : mapping or None
        Set name -> ``{"candidate": metrics, "champion": metrics}`` (the
        ``comparison`` of a ``training.evaluate`` report). ``None`` means there
        is no champion yet: the candidate is accepted.
    tolerance : Tolerance, optional

    Examples
    --------
    >>> print(decide(None).summary())
    accepted: no safety figure is worse than the champion's beyond tolerance
    >>> decide({}).accepted
    False
    """
    tol = tolerance or Tolerance()
    if sets is None:
        return Decision(True, (), tol)
    if not sets:
        # A comparison without a single set is no evidence at all.
        nothing = Verdict("", "evaluation", False, "no evaluation set compared", None, None)
        return Decision(False, (nothing,), tol)
    verdicts: list[Verdict] = []
    for name, pair in sets.items():
        if "candidate" not in pair or "champion" not in pair:
            raise ValueError(f"set {name!r} needs both 'candidate' and 'champion' metrics")
        verdicts += compare(pair["candidate"], pair["champion"], set_name=name, tolerance=tol)
    return Decision(all(v.passed for v in verdicts), tuple(verdicts), tol)


def _pct(rate: float) -> str:
    return f"{100 * rate:.2f} %"
