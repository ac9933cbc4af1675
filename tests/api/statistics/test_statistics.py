"""Statistics by grouped queries: counts, positivity intervals, rates, 7-day change, quality.

Tests are released through the services, then their scan and release times are moved
to chosen days, so the expected figures can be worked out by hand (and by a brute
count over the rows here, which the service itself never does).
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.accounts import service as accounts
from api.accounts.tables import Role
from api.scope import Scope
from api.selftests.tables import SelfTest
from api.statistics import service

TODAY = date.today()
# (result, where, days before today, hours from scan to release)
PLAN = [
    ("positive", "a", 0, 1.0),
    ("negative", "a", 1, 2.0),
    ("negative", "a", 2, 4.0),
    ("invalid", "a", 9, 3.0),
    ("positive", "a", 10, 10.0),
    ("positive", "b", 3, 0.5),
    ("negative", "b", 12, 6.0),
]


def _place(world: Any, test_id: int, days_ago: int, hours: float) -> None:
    scanned = datetime.combine(TODAY - timedelta(days=days_ago), time(9), tzinfo=UTC)
    # Through the ORM, as any change to a test: the daily aggregates follow it.
    test = world.session.get(SelfTest, test_id)
    test.claimed_at, test.released_at = scanned, scanned + timedelta(hours=hours)
    world.session.commit()


@pytest.fixture
def placed(world: Any, flow: Any) -> list[Any]:
    tests = []
    for index, (result, where, days_ago, hours) in enumerate(PLAN):
        test = flow.released(result, code_index=index, where=where)
        _place(world, test.id, days_ago, hours)
        tests.append(test)
    return tests


def _get(client: TestClient, world: Any, user: Any, **params: Any) -> dict[str, Any]:
    response = client.get("/api/statistics", params=params, headers=world.headers(user))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_wilson_interval_matches_published_values() -> None:
    # Newcombe (1998), Statistics in Medicine 17:857, table I: 81/263 -> 0.2553 to 0.3662.
    p = service.wilson(81, 263)
    assert (round(p.low or 0, 4), round(p.high or 0, 4)) == (0.2553, 0.3662)
    # 0 of 10 still has an upper bound (the normal approximation would say 0 to 0).
    none = service.wilson(0, 10)
    assert none.low == 0.0
    assert none.high is not None
    assert round(none.high, 4) == 0.2775


def test_counts_rates_and_the_seven_day_change(
    client: TestClient, world: Any, placed: list[Any]
) -> None:
    since = (TODAY - timedelta(days=13)).isoformat()
    stats = _get(client, world, world.cdc_national, since=since, until=TODAY.isoformat())
    assert stats["totals"]["tests"] == 7
    assert (stats["totals"]["positive"], stats["totals"]["negative"]) == (3, 3)
    assert stats["totals"]["positivity"]["value"] == pytest.approx(3 / 6)
    days = {d["day"]: d for d in stats["days"]}
    assert len(days) == 14
    assert days[TODAY.isoformat()]["positive"] == 1
    assert days[(TODAY - timedelta(days=12)).isoformat()]["negative"] == 1
    # Today's 7-day average: the tests of the last 7 days (0, 1, 2, 3 days ago) / 7.
    assert days[TODAY.isoformat()]["tests_avg7"] == round(4 / 7, 2)
    assert days[TODAY.isoformat()]["positive_avg7"] == round(2 / 7, 2)

    headline = stats["headline"]
    assert headline["tests"] == {"current": 4, "previous": 3, "change": pytest.approx(1 / 3)}
    assert headline["positives"] == {"current": 2, "previous": 1, "change": 1.0}
    assert headline["positivity"]["current"] == pytest.approx(2 / 4)
    assert headline["positivity"]["change"] == pytest.approx(2 / 4 - 1 / 2)
    people = world.ctx.regions.population(world.ctx.regions.codes("national")[0])
    assert stats["population"] == people
    assert headline["positives_per_100k"]["current"] == round(2 * 100_000 / people, 2)

    areas = {a["code"]: a for a in stats["areas"]}
    assert set(areas) == set(world.ctx.regions.codes(stats["level"]))
    area_a = areas[world.region_a]
    assert (area_a["tests"], area_a["positive"], area_a["invalid"]) == (5, 2, 1)
    assert area_a["population"] == world.ctx.regions.population(world.region_a)
    assert area_a["positives_per_100k"] == round(2 * 100_000 / area_a["population"], 2)
    untested = [a for code, a in areas.items() if code not in (world.region_a, world.region_b)]
    assert all(a["tests"] == 0 and a["positivity"]["value"] is None for a in untested)

    assert [(p["product_code"], p["tests"]) for p in stats["products"]] == [("DEMO-COV-AG", 7)]
    assert [(lot["lot_number"], lot["positive"]) for lot in stats["lots"]] == [("LOT-A1", 3)]

    hours = [h for *_rest, h in PLAN]
    turnaround = stats["quality"]["turnaround"]
    assert turnaround["released"] == 7
    # percentile_cont interpolates linearly, as numpy's default percentile does.
    # From the turnaround histogram: within 5 % of the exact quantile (and the rounding).
    for key, q in (("median_hours", 50), ("p90_hours", 90)):
        exact = float(np.percentile(hours, q))
        assert turnaround[key] == pytest.approx(exact, rel=0.05, abs=0.01)
    assert stats["last_updated"] is not None


def test_levels_regions_scope_and_period(client: TestClient, world: Any, placed: list[Any]) -> None:
    regions = world.ctx.regions
    since = (TODAY - timedelta(days=20)).isoformat()
    provinces = _get(client, world, world.cdc_national, since=since, level="province")
    province_a = next(c for c in regions.lineage(world.region_a) if regions.level(c) == "province")
    by_code = {a["code"]: a for a in provinces["areas"]}
    assert set(by_code) == set(regions.codes("province"))
    assert by_code[province_a]["tests"] >= 5
    assert sum(a["tests"] for a in provinces["areas"]) == 7
    # Narrowed to region A's district: only its tests, its population.
    one = _get(client, world, world.cdc_national, since=since, region=world.region_a)
    assert one["totals"]["tests"] == 5
    assert one["population"] == regions.population(world.region_a)
    # An office sees its own regions only.
    office_b = _get(client, world, world.cdc_b, since=since)
    assert office_b["totals"]["tests"] == 2
    assert {a["code"] for a in office_b["areas"] if a["tests"]} == {world.region_b}
    # A period with nothing in it.
    empty = _get(client, world, world.scientist, since="2001-01-01", until="2001-01-31")
    assert empty["totals"]["tests"] == 0
    assert empty["totals"]["positivity"]["value"] is None
    assert empty["quality"]["turnaround"]["median_hours"] is None


def test_retakes_and_reads_by_eye_are_shares_of_the_tests(
    client: TestClient, world: Any, flow: Any
) -> None:
    reader = world.ctx.vision.reader
    retaken = flow.claim(code_index=0)
    reader.queue.append("retake")
    flow.upload(retaken)
    reader.queue.append("negative")
    flow.upload(retaken)
    flow.decide(retaken)
    by_eye = flow.claim(code_index=1)
    reader.queue.append("by_eye")
    flow.upload(by_eye)
    flow.decide(by_eye, result="positive")
    # Read by eye is never sure: a second clinician reads it before it is released.
    second = accounts.create_user(
        world.session,
        username="second-reader",
        password="correct horse battery",
        role=Role.clinician,
        display_name="Second Reader",
        institution_id=world.institution_a.id,
    )
    world.session.commit()
    flow.decide(by_eye, clinician=second, result="positive")
    flow.released("negative", code_index=2)
    flow.released("negative", code_index=3)
    quality = _get(client, world, world.cdc_national)["quality"]
    assert (quality["retakes"]["count"], quality["retakes"]["total"]) == (1, 4)
    assert (quality["read_by_eye"]["count"], quality["read_by_eye"]["total"]) == (1, 4)
    assert quality["retakes"]["low"] < 0.25 < quality["retakes"]["high"]


def test_each_table_downloads_as_csv(client: TestClient, world: Any, placed: list[Any]) -> None:
    since = (TODAY - timedelta(days=13)).isoformat()
    headers = world.headers(world.cdc_national)
    tables = {}
    for table in ("days", "areas", "products", "lots"):
        response = client.get(
            f"/api/statistics/{table}.csv", params={"since": since}, headers=headers
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        tables[table] = list(csv.DictReader(io.StringIO(response.text)))
    assert sum(int(r["tests"]) for r in tables["days"]) == 7
    assert len(tables["days"]) == 14
    assert sum(int(r["positive"]) for r in tables["areas"]) == 3
    area_a = next(r for r in tables["areas"] if r["code"] == world.region_a)
    assert (
        float(area_a["positivity_low95"])
        < float(area_a["positivity"])
        < float(area_a["positivity_high95"])
    )
    assert tables["lots"][0]["lot_number"] == "LOT-A1"


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"since": "2026-02-01", "until": "2026-01-01"}, 422),
        ({"since": "2020-01-01", "until": "2026-01-01"}, 422),
        ({"since": "yesterday"}, 422),
        ({"level": "galaxy"}, 422),
        ({"product": "NO-SUCH"}, 422),
        ({"region": "XX-NOWHERE"}, 404),
        ({"region": "x" * 200}, 422),
    ],
)
def test_bad_input_is_a_4xx_problem(
    client: TestClient, world: Any, params: dict[str, str], status: int
) -> None:
    response = client.get("/api/statistics", params=params, headers=world.headers(world.cdc_a))
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


def test_a_region_outside_the_office_is_as_if_absent(client: TestClient, world: Any) -> None:
    response = client.get(
        "/api/statistics", params={"region": world.region_b}, headers=world.headers(world.cdc_a)
    )
    assert response.status_code == 404
    table = client.get("/api/statistics/bogus.csv", headers=world.headers(world.cdc_a))
    assert table.status_code == 422


def test_an_empty_scope_shows_nothing_rather_than_an_error(world: Any, placed: list[Any]) -> None:
    # What staff without an organisation get from ``scope_for``.
    stats = service.summary(world.session, world.ctx, Scope(frozenset()), TODAY, TODAY)
    assert stats.totals.tests == 0
    assert stats.areas == []
    assert stats.population is None


def test_released_results_by_day_region_product_and_result(
    client: TestClient, world: Any, flow: Any
) -> None:
    """What ``/api/stats`` answered before ``/api/statistics`` replaced it, asked here."""
    results = [("positive", "a"), ("negative", "a"), ("negative", "a"), ("invalid", "a")]
    results += [("positive", "b"), ("negative", "b")]
    for index, (result, where) in enumerate(results):
        flow.released(result, code_index=index, where=where)
    stats = _get(client, world, world.cdc_national)
    totals = stats["totals"]
    assert (totals["tests"], totals["positive"], totals["negative"], totals["invalid"]) == (
        6,
        2,
        3,
        1,
    )
    assert totals["positivity"]["value"] == pytest.approx(2 / 5)  # invalid tests left out
    [today] = [d for d in stats["days"] if d["day"] == TODAY.isoformat()]
    assert (today["positive"], today["negative"], today["invalid"]) == (2, 3, 1)
    area_a = next(a for a in stats["areas"] if a["code"] == world.region_a)
    assert (area_a["positive"], area_a["negative"], area_a["invalid"]) == (1, 2, 1)
    assert [(p["product_code"], p["negative"]) for p in stats["products"]] == [("DEMO-COV-AG", 3)]
    only_b = _get(client, world, world.cdc_b)["totals"]
    assert (only_b["positive"], only_b["negative"], only_b["invalid"]) == (1, 1, 0)
    assert _get(client, world, world.scientist)["totals"]["tests"] == 6
    gone = client.get("/api/stats", headers=world.headers(world.cdc_national))
    assert gone.status_code == 404  # one statistics API, not two
