"""Drift per product and lot: rates per ISO week, and an alert when a week leaves the usual."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from api.datasets.drift import drift
from api.db.base import utcnow
from api.selftests import lifecycle


def test_a_week_of_retakes_is_flagged(flow: Any, client: TestClient) -> None:
    w = flow.world
    earlier = utcnow() - timedelta(days=21)
    reader = w.ctx.vision.reader
    for i in range(10):  # three weeks ago: clean positives, confirmed
        reader.queue.append("positive")
        test = flow.claim(code_index=i, sample_minutes_ago=None)
        test.claimed_at = earlier - timedelta(minutes=30)  # the test ran three weeks ago
        lifecycle.sample_applied(w.session, w.patient_a, test, earlier - timedelta(minutes=20))
        flow.upload(test, taken_at=earlier)
        flow.decide(test)
    for i in range(10, 20):  # this week: the pipeline asks every photo again
        reader.queue.append("retake")
        flow.upload(flow.claim(code_index=i))

    report = drift(w.session, (utcnow() - timedelta(weeks=12)).date())
    (series,) = report.series
    assert (series.product_code, series.lot) == (w.product.product_code, w.batch.lot_number)
    first, last = series.weeks
    assert (first["photos"], first["retake"], first["disagreement"]) == (10, 0.0, 0.0)
    assert first["od_median"] == 0.3  # the positives' measured test line
    assert (last["photos"], last["retake"]) == (10, 1.0)
    assert series.total["retake"] == 0.5
    assert len(series.alerts) == 1
    assert series.alerts[0].startswith(f"week {last['week']} vs the lot's earlier weeks: retake")

    response = client.get("/api/datasets/drift", headers=w.headers(w.scientist))
    assert response.status_code == 200
    assert response.json()["series"][0]["alerts"] == series.alerts
    bad = client.get("/api/datasets/drift?since=yesterday", headers=w.headers(w.scientist))
    assert bad.status_code == 422
