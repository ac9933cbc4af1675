"""The pipeline's output: a reading (``rdt-reading/1``) and what explains it.

A reading is a *proposal*: nothing in it reaches a patient or a health agency
until a clinician confirms it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

SPEC = "rdt-reading/1"
Status = Literal["ok", "by_eye", "retake"]
Result = Literal["positive", "negative", "invalid"]


@dataclass(frozen=True)
class QualityIssue:
    """One reason a photo cannot be read safely.

    Parameters
    ----------
    code : str
        Stable machine name, e.g. ``"blur"``, ``"glare"``, ``"no_cassette"``.
    message : str
        What the patient should do, in plain words.
    """

    code: str
    message: str


@dataclass(frozen=True)
class QualityMetric:
    """One measured quality value and the threshold it is judged against.

    ``limit`` is ``None`` for a value reported without a threshold; ``value`` is NaN
    where nothing could be measured (written as ``null``).
    """

    value: float
    limit: float | None = None

    def to_json(self) -> dict[str, float | None]:
        """``{"value": v, "limit": l}``, NaN as ``None``.

        Examples
        --------
        >>> QualityMetric(0.21234, 0.35).to_json(), QualityMetric(float("nan")).to_json()
        ({'value': 0.2123, 'limit': 0.35}, {'value': None, 'limit': None})
        """

        def clean(x: float | None) -> float | None:
            return None if x is None or not math.isfinite(x) else round(float(x), 4)

        return {"value": clean(self.value), "limit": clean(self.limit)}


@dataclass(frozen=True)
class LineReading:
    """What was measured for one line of the kit.

    ``intensity`` is optical density in the channel the line absorbs most;
    ``at`` is where the line was found, as a fraction of the window length
    from the sample side (``None`` when nothing was found near it).
    """

    present: bool
    intensity: float
    p_present: float
    at: float | None = None
    expected_at: float | None = None


@dataclass(frozen=True)
class Explanation:
    """Images and numbers that let a clinician check the proposal.

    Attributes
    ----------
    window : ndarray
        The rectified result window, BGR ``uint8``, sample side on the left,
        flow left to right.
    profile : ndarray
        Background-corrected optical density along the flow (one value per
        window column).
    baseline : ndarray
        The membrane background that was removed, same length as ``profile``.
    homography : ndarray or None
        3x3 map from template pixels to photo pixels (full-resolution photo).
    locator : str
        How the cassette was found: ``"code"`` or ``"template"``.
    px_per_mm : float
        Resolution of the photo on the result window.
    """

    window: np.ndarray | None = None
    profile: np.ndarray | None = None
    baseline: np.ndarray | None = None
    homography: np.ndarray | None = None
    locator: str | None = None
    px_per_mm: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Reading:
    """One photo's reading, in the shape of ``rdt-reading/1``.

    ``status`` is ``"ok"`` (the model's proposal), ``"by_eye"`` (a person can read the
    photo but the model is unsure: ``result`` is its best attempt, ``confidence`` low,
    ``issues`` say why, and a clinician reads it by eye) or ``"retake"`` (nobody could
    read it safely: ``issues`` tell the patient what to do, the one real reason first).
    ``metrics`` are the quality values measured on the way, with their thresholds.
    ``photo_hash`` is the photo's difference hash (:func:`pipeline.fingerprint.dhash`) when
    it could be decoded, whatever the status; it is not part of ``rdt-reading/1``.

    Examples
    --------
    >>> r = Reading.retake([QualityIssue("blur", "Hold the phone still.")], model="m@1")
    >>> r.to_json()["status"], r.to_json()["result"]
    ('retake', None)
    """

    status: Status
    result: Result | None
    analytes: dict[str, str]
    lines: dict[str, LineReading]
    confidence: float
    code: str | None
    issues: list[QualityIssue]
    model: str
    elapsed_ms: float = 0.0
    image: str | None = None
    explanation: Explanation = field(default_factory=Explanation)
    metrics: dict[str, QualityMetric] = field(default_factory=dict)
    photo_hash: str | None = None

    @classmethod
    def retake(
        cls,
        issues: list[QualityIssue],
        *,
        model: str,
        code: str | None = None,
        explanation: Explanation | None = None,
        metrics: dict[str, QualityMetric] | None = None,
    ) -> Reading:
        """A reading that asks the patient for a new photo."""
        return cls(
            status="retake",
            result=None,
            analytes={},
            lines={},
            confidence=0.0,
            code=code,
            issues=list(issues),
            model=model,
            explanation=explanation or Explanation(),
            metrics=dict(metrics or {}),
        )

    def to_json(self) -> dict[str, object]:
        """The reading as an ``rdt-reading/1`` JSON object."""
        lines: dict[str, object] = {}
        for name, line in self.lines.items():
            item: dict[str, object] = {
                "present": line.present,
                "intensity": round(float(line.intensity), 4),
                "p_present": round(float(line.p_present), 4),
            }
            if line.at is not None:
                item["at"] = round(float(line.at), 4)
            lines[name] = item
        return {
            "spec": SPEC,
            "image": self.image,
            "status": self.status,
            "result": self.result,
            "analytes": dict(self.analytes),
            "lines": lines,
            "confidence": round(float(self.confidence), 4),
            "code": self.code,
            "quality": {
                "issues": [issue.message for issue in self.issues],
                "codes": [issue.code for issue in self.issues],
                "metrics": {name: m.to_json() for name, m in self.metrics.items()},
            },
            "model": self.model,
            "elapsed_ms": round(float(self.elapsed_ms), 1),
        }
