"""The CDC view's figures from statistics: filters, table rows, sorting, CSV, map values."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

from api.regions.geo import RegionIndex
from api.reports.schemas import CountRow, Statistics
from api.scope import Scope
from review_ui.cdc import view

REGIONS = RegionIndex.demo()
TODAY = date(2024, 5, 31)


def stats(rows: list[tuple[str, str, str, str, int]]) -> Statistics:
    """Statistics as ``api.reports.service.statistics`` shapes them."""
    by: dict[str, dict[str, dict[str, int]]] = {"day": {}, "region": {}, "product": {}}
    by_result = dict.fromkeys(view.RESULTS, 0)
    for day, region, product, result, n in rows:
        by_result[result] += n
        for key, value in (("day", day), ("region", region), ("product", product)):
            by[key].setdefault(value, dict.fromkeys(view.RESULTS, 0))[result] += n
    return Statistics(
        scope=None,
        since=None,
        until=None,
        total=sum(by_result.values()),
        by_result=by_result,
        by_day=by["day"],
        by_region=by["region"],
        by_product=by["product"],
        positivity_rate=None,
        rows=[
            CountRow(day=d, region_code=r, product_code=p, result=res, count=n)
            for d, r, p, res, n in rows
        ],
    )


ROWS = [
    ("2024-05-01", "DL-N-01-01", "KIT-A", "positive", 2),
    ("2024-05-01", "DL-N-01-01", "KIT-A", "negative", 6),
    ("2024-05-01", "DL-S-02-01", "KIT-A", "invalid", 1),
    ("2024-05-02", "DL-S-02-01", "KIT-B", "negative", 3),
    ("2024-05-02", "DL-S-02-01", "KIT-B", "positive", 1),
]


def north() -> Scope:
    return Scope(frozenset({"DL-N", *REGIONS.descendants("DL-N")}))


def filters(params: dict[str, str], scope: Scope | None = None, **kw: Any) -> view.Filters:
    return view.parse_filters(
        params,
        regions=REGIONS,
        scope=scope or Scope(None),
        products=["KIT-A", "KIT-B"],
        today=TODAY,
        **kw,
    )


def test_default_filters_are_the_last_thirty_days_at_the_finest_level() -> None:
    f = filters({})
    assert (f.since, f.until) == (date(2024, 5, 2), TODAY)
    assert f.level == "district"
    assert f.metric == "positives"
    assert f.errors == ()
    # The bounds cover whole days, the last one included.
    assert f.until_dt.isoformat() == "2024-06-01T00:00:00+00:00"


def test_filters_refuse_what_is_outside_the_scope_and_explain() -> None:
    f = filters(
        {"region": "DL-S", "since": "2024-06-10", "until": "2024-06-01", "level": "national"},
        scope=north(),
    )
    assert f.region is None
    assert (f.since, f.until) == (date(2024, 6, 1), date(2024, 6, 10))
    assert f.level == "district"
    assert len(f.errors) == 3
    assert view.scope_levels(REGIONS, north()) == ["province", "city", "district"]
    narrowed = view.narrowed_scope(REGIONS, north(), "DL-N-01")
    assert narrowed.regions == frozenset({"DL-N-01", *REGIONS.descendants("DL-N-01")})


def test_the_period_is_bounded() -> None:
    f = filters({"since": "2020-01-01"})
    assert (f.until - f.since).days == view.MAX_DAYS - 1
    assert f.errors


def test_table_rows_join_results_and_sort_with_unknown_rates_last() -> None:
    rows = view.table_rows(stats(ROWS), REGIONS)
    assert len(rows) == 3
    first = next(r for r in rows if r.region_code == "DL-N-01-01")
    assert (first.tests, first.counts["positive"], first.positivity) == (8, 2, 0.25)
    by_rate = view.sort_rows(rows, "positivity", "desc")
    assert [r.positivity for r in by_rate] == [0.25, 0.25, None]
    by_rate_up = view.sort_rows(rows, "positivity", "asc")
    assert by_rate_up[-1].positivity is None  # still last
    by_tests = view.sort_rows(rows, "tests", "asc")
    assert [r.tests for r in by_tests] == [1, 4, 8]
    by_region = view.sort_rows(rows, "region", "asc")
    assert by_region[0].region_name == "Old Harbour"


def test_csv_has_one_line_per_row_in_the_given_order() -> None:
    rows = view.sort_rows(view.table_rows(stats(ROWS), REGIONS), "tests", "desc")
    parsed = list(csv.DictReader(io.StringIO(view.table_csv(rows))))
    assert [int(r["tests"]) for r in parsed] == [8, 4, 1]
    assert parsed[2]["positivity"] == ""
    assert parsed[0]["region_name"] == "Old Harbour"


def test_sort_links_flip_the_order_of_the_current_column() -> None:
    f = filters({"sort": "tests", "order": "desc"})
    assert "order=asc" in f.sort_query("tests")
    assert "sort=region" in f.sort_query("region")
    assert "order=asc" in f.sort_query("region")  # names sort A to Z first
    assert f.aria_sort("tests") == "descending"
    assert f.aria_sort("day") == "none"


def test_map_values_count_positives_or_rates() -> None:
    s = stats(ROWS)
    codes = ["DL-N-01-01", "DL-S-02-01", "DL-S-01-01"]
    assert view.map_values(s, codes, "positives") == {
        "DL-N-01-01": 2.0,
        "DL-S-02-01": 1.0,
        "DL-S-01-01": 0.0,
    }
    rates = view.map_values(s, codes, "positivity")
    assert rates["DL-N-01-01"] == 0.25
    assert rates["DL-S-02-01"] == 0.25
    assert rates["DL-S-01-01"] is None  # no tests: no data, not zero


def test_charts_fill_every_day_of_the_period() -> None:
    f = filters({"since": "2024-05-01", "until": "2024-05-07"})
    charts = view.build_charts(stats(ROWS), f, REGIONS)
    assert set(charts) >= {"daily_tests", "daily_positivity", "by_region", "by_product"}
    assert charts["daily_tests"].count('class="bar"') == 5  # 2+6+1 on day 1, 3+1 on day 2
    assert "2024-05-07" in charts["daily_positivity"]


def test_regions_without_their_own_polygon_are_drawn_from_their_children() -> None:
    geojson = view.region_features(REGIONS, ["DL-N", "DL-N-01-01"])
    assert [f["properties"]["code"] for f in geojson["features"]] == ["DL-N", "DL-N-01-01"]
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in geojson["features"])
