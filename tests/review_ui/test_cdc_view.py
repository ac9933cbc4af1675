"""The CDC page's figures from the statistics: filters, headline figures, charts, the map."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from api.regions.geo import RegionIndex
from api.scope import Scope
from api.statistics.schemas import (
    AreaRow,
    Change,
    Counts,
    DayRow,
    Headline,
    ProductRow,
    Quality,
    Summary,
    Turnaround,
)
from api.statistics.service import MAX_DAYS, wilson
from review_ui.cdc import view

REGIONS = RegionIndex.demo()
TODAY = date(2024, 5, 31)


def counts(positive: int, negative: int, invalid: int = 0) -> dict[str, Any]:
    return {
        "tests": positive + negative + invalid,
        "positive": positive,
        "negative": negative,
        "invalid": invalid,
        "positivity": wilson(positive, positive + negative),
    }


def area(code: str, positive: int, negative: int) -> AreaRow:
    people = REGIONS.population(code)
    assert people is not None
    return AreaRow(
        code=code,
        name=REGIONS.name(code),
        level=REGIONS.level(code),
        population=people,
        positives_per_100k=round(positive * 1e5 / people, 2),
        tests_per_100k=round((positive + negative) * 1e5 / people, 2),
        **counts(positive, negative),
    )


def summary(
    *, positives_now: int = 6, positives_before: int = 3, readable_now: int = 40
) -> Summary:
    """A summary as ``api.statistics.service.summary`` shapes it (7 days, two districts)."""
    days = [
        DayRow(day=TODAY - timedelta(days=6 - i), tests_avg7=1.0, positive_avg7=0.5, **counts(i, 1))
        for i in range(7)
    ]
    return Summary(
        since=TODAY - timedelta(days=6),
        until=TODAY,
        level="district",
        region=None,
        product=None,
        population=1_946_000,
        last_updated=None,
        small_count=30,
        totals=Counts(**counts(21, 7)),
        headline=Headline(
            start=TODAY - timedelta(days=6),
            end=TODAY,
            tests=Change(current=50, previous=40, change=0.25),
            positives=Change(
                current=positives_now,
                previous=positives_before,
                change=(positives_now - positives_before) / positives_before,
            ),
            positivity=Change(current=0.15, previous=0.2, change=-0.05),
            positivity_interval=wilson(positives_now, readable_now),
            positives_per_100k=Change(current=0.31, previous=0.15, change=1.0),
        ),
        quality=Quality(
            turnaround=Turnaround(released=28, median_hours=2.0, p90_hours=6.5),
            retakes=wilson(2, 28),
            read_by_eye=wilson(1, 28),
        ),
        days=days,
        areas=[area("DL-N-01-01", 4, 6), area("DL-S-02-01", 0, 0)],
        products=[ProductRow(product_code="KIT-A", **counts(21, 7))],
        lots=[],
    )


def north() -> Scope:
    return Scope(frozenset({"DL-N", *REGIONS.descendants("DL-N")}))


def filters(params: dict[str, str], scope: Scope | None = None) -> view.Filters:
    return view.parse_filters(
        params, regions=REGIONS, scope=scope or Scope(None), products=["KIT-A"], today=TODAY
    )


def test_default_filters_are_the_last_thirty_days_at_the_finest_level_by_rate() -> None:
    f = filters({})
    assert (f.since, f.until) == (date(2024, 5, 2), TODAY)
    assert f.level == "district"
    assert f.metric == "rate"
    assert f.errors == ()
    assert "since=2024-05-02" in f.query()
    assert "region=DL-N" in f.query(region="DL-N")


def test_filters_refuse_what_is_outside_the_scope_and_explain() -> None:
    f = filters(
        {"region": "DL-S", "since": "2024-06-10", "until": "2024-06-01", "level": "national"},
        scope=north(),
    )
    assert f.region is None
    assert (f.since, f.until) == (date(2024, 6, 1), date(2024, 6, 10))
    assert f.level == "district"
    assert len(f.errors) == 3
    assert filters({"metric": "nonsense", "product": "NOPE"}).metric == "rate"


def test_the_period_is_bounded() -> None:
    f = filters({"since": "2020-01-01"})
    assert (f.until - f.since).days == MAX_DAYS - 1
    assert f.errors


def test_headlines_say_the_change_and_the_interval() -> None:
    by_key = {h.key: h for h in view.headlines(summary())}
    assert list(by_key) == ["positives", "tests", "positivity", "rate"]
    assert by_key["positives"].value == "6"
    assert by_key["positives"].direction == "up"
    assert by_key["positives"].change == "+100% on the previous 7 days (3)"
    assert by_key["positivity"].direction == "down"
    assert by_key["positivity"].change.startswith("-5.0 points")
    assert "95% CI" in by_key["positivity"].note
    assert "Only" not in by_key["positivity"].note  # 40 readable tests: no caveat
    assert by_key["rate"].value == "0.31"


def test_a_positivity_from_few_tests_carries_a_caveat() -> None:
    note = {h.key: h for h in view.headlines(summary(readable_now=8))}["positivity"].note
    assert "Only 8 readable tests" in note


def test_charts_draw_the_curve_with_its_average_and_intervals() -> None:
    charts = view.build_charts(summary())
    assert set(charts) == {"epicurve", "tests", "positivity", "products"}
    assert charts["epicurve"].count('class="bar"') == 6  # days with positives: 1..6
    assert charts["epicurve"].count('class="point"') == 7  # the 7-day average, every day
    assert charts["positivity"].count('class="interval"') == 1  # the tested district only


def test_the_map_is_coloured_by_the_chosen_figure() -> None:
    stats = summary()
    values = {m: {a.code: view.map_value(a, m) for a in stats.areas} for m in view.METRICS}
    assert values["rate"]["DL-N-01-01"] == round(4e5 / 412_000, 2)
    assert values["positives"]["DL-S-02-01"] == 0.0
    assert values["positivity"]["DL-S-02-01"] is None  # no tests: no data, not zero
    svg = view.build_map(stats, REGIONS, "rate")
    assert svg.count('class="region"') == 2
    assert "per 100,000" in svg


def test_regions_without_their_own_polygon_are_drawn_from_their_children() -> None:
    geojson = view.region_features(REGIONS, ["DL-N", "DL-N-01-01"])
    assert [f["properties"]["code"] for f in geojson["features"]] == ["DL-N", "DL-N-01-01"]
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in geojson["features"])
