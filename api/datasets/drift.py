"""Drift per product and lot: how each lot reads over time, and when it leaves the usual range.

Per product and lot, per ISO week of the photo and in total: the pipeline's retake
rate, read-by-eye share, the model-clinician disagreement (an ``ok`` answer a
clinician's settled reading changed) and the measured OD of positive test lines
(median, 90th percentile). A bad batch shows as a lot that reads differently
from the product's other lots, or a week that reads differently from the lot's
earlier weeks.

The usual range
---------------
A rate ``p`` on ``n`` photos is compared with the reference's pooled rate ``q``
(the product's other lots; the lot's earlier weeks): it is an alert when
``n >= MIN_PHOTOS`` and ``|p - q| > 3 sqrt(q (1 - q) / n) + SLACK``. Positives' median
OD is an alert when both sides have ``MIN_PHOTOS`` positives and the medians differ
by more than a factor ``OD_FACTOR``.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy.orm import Session

from api.datasets import queries
from api.datasets.labels import confirmed_label
from api.datasets.schemas import DriftOut, DriftSeries
from api.datasets.service import iso_week

MIN_PHOTOS = 10
SLACK = 0.02
OD_FACTOR = 1.5
RULES = (
    f"A rate is flagged when it differs from the usual one by more than 3 standard errors plus "
    f"{100 * SLACK:g} points, with at least {MIN_PHOTOS} photos on each side; the median OD of "
    f"positives when it differs by more than a factor {OD_FACTOR:g}. Usual: the product's other "
    "lots, and the lot's own earlier weeks."
)
RATES = {
    "retake": "retake rate",
    "by_eye": "read-by-eye share",
    "disagreement": "model-clinician disagreement",
}


class _Tally:
    def __init__(self) -> None:
        self.n = 0
        self.hits: dict[str, int] = defaultdict(int)
        self.judged = 0  # ok answers with a settled clinician's label
        self.od: list[float] = []

    def add(self, other: _Tally) -> None:
        self.n += other.n
        self.judged += other.judged
        self.od += other.od
        for key, value in other.hits.items():
            self.hits[key] += value

    def denominator(self, key: str) -> int:
        return self.judged if key == "disagreement" else self.n

    def rate(self, key: str) -> float | None:
        n = self.denominator(key)
        return self.hits[key] / n if n else None

    def to_json(self) -> dict[str, Any]:
        ods = sorted(self.od)
        return {
            "photos": self.n,
            **{key: _round(self.rate(key)) for key in RATES},
            "judged": self.judged,
            "positives": len(ods),
            "od_median": _round(statistics.median(ods)) if ods else None,
            "od_p90": _round(ods[int(0.9 * (len(ods) - 1))]) if ods else None,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def beyond_usual(p_hits: int, n: int, q_hits: int, m: int) -> bool:
    """Whether ``p_hits/n`` is outside the usual range of the reference ``q_hits/m``.

    >>> beyond_usual(8, 40, 10, 400), beyond_usual(2, 40, 10, 400), beyond_usual(5, 5, 0, 400)
    (True, False, False)
    """
    if n < MIN_PHOTOS or m < MIN_PHOTOS:
        return False
    p, q = p_hits / n, q_hits / m
    return abs(p - q) > 3 * math.sqrt(q * (1 - q) / n) + SLACK


def _positive_od(reading: Mapping[str, Any], tests: Iterable[str]) -> float | None:
    lines = reading.get("lines") or {}
    ods = [float(lines[n]["intensity"]) for n in tests if lines.get(n, {}).get("present")]
    return max(ods) if ods else None


def _alerts(name: str, tally: _Tally, reference: _Tally) -> list[str]:
    out = []
    for key, label in RATES.items():
        n, m = tally.denominator(key), reference.denominator(key)
        if beyond_usual(tally.hits[key], n, reference.hits[key], m):
            out.append(
                f"{name}: {label} {100 * tally.hits[key] / n:.1f} % ({tally.hits[key]}/{n}) vs "
                f"usual {100 * reference.hits[key] / m:.1f} % ({reference.hits[key]}/{m})"
            )
    if len(tally.od) >= MIN_PHOTOS and len(reference.od) >= MIN_PHOTOS:
        mine, usual = statistics.median(tally.od), statistics.median(reference.od)
        if min(mine, usual) > 0 and max(mine, usual) / min(mine, usual) > OD_FACTOR:
            out.append(f"{name}: median OD of positives {mine:.3f} vs usual {usual:.3f}")
    return out


def drift(session: Session, since: date) -> DriftOut:
    """Every product and lot with photos since ``since``, with its alerts."""
    rows = queries.proposals_since(session, datetime.combine(since, time.min, tzinfo=UTC))
    reviews = queries.reviews_by_proposal(session, [r.proposal.id for r in rows])
    latest = queries.latest_upload_ids(session, sorted({r.test.id for r in rows}))
    weekly: dict[tuple[str, str], dict[str, _Tally]] = defaultdict(lambda: defaultdict(_Tally))
    for row in rows:
        proposal = row.proposal
        tally = weekly[(row.product.product_code, row.lot)][iso_week(row.upload.taken_at)]
        tally.n += 1
        tally.hits["retake"] += proposal.status == "retake"
        tally.hits["by_eye"] += proposal.status == "by_eye"
        confirmed = confirmed_label(
            proposal, reviews[proposal.id], row.test, latest=row.upload.id in latest
        )
        if proposal.status == "ok" and confirmed is not None:
            tally.judged += 1
            tally.hits["disagreement"] += confirmed.result != proposal.result
        tests = [
            line["name"]
            for line in row.product.kit_document.get("lines", [])
            if line.get("role") == "test"
        ]
        if proposal.status != "retake":
            od = _positive_od(proposal.reading, tests)
            if od is not None and (confirmed is None or confirmed.result == "positive"):
                tally.od.append(od)
    return DriftOut(since=since, series=_series(weekly))


def _total(tallies: Iterable[_Tally]) -> _Tally:
    total = _Tally()
    for tally in tallies:
        total.add(tally)
    return total


def _series(weekly: Mapping[tuple[str, str], Mapping[str, _Tally]]) -> list[DriftSeries]:
    totals = {key: _total(weeks.values()) for key, weeks in weekly.items()}
    out = []
    for (product, lot), weeks in sorted(weekly.items()):
        others = _total(t for (p, other), t in totals.items() if p == product and other != lot)
        alerts = _alerts(f"lot {lot} vs the product's other lots", totals[(product, lot)], others)
        ordered: Sequence[str] = sorted(weeks)
        if len(ordered) > 1:
            last = ordered[-1]
            earlier = _total(weeks[w] for w in ordered[:-1])
            alerts += _alerts(f"week {last} vs the lot's earlier weeks", weeks[last], earlier)
        out.append(
            DriftSeries(
                product_code=product,
                lot=lot,
                weeks=[{"week": w, **weeks[w].to_json()} for w in ordered],
                total=totals[(product, lot)].to_json(),
                alerts=alerts,
            )
        )
    return out
