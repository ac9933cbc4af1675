"""What the CDC page shows for a choice of filters: headline figures, charts, the map.

Kept apart from the routes so the figures can be tested without a browser: the
routes read the statistics from ``api.statistics.service`` and hand them here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlencode

from api.regions.geo import LEVELS, RegionIndex
from api.scope import Scope
from api.statistics.schemas import AreaRow, Change, Proportion, Summary
from api.statistics.service import MAX_DAYS, levels_in
from review_ui import charts

DEFAULT_DAYS = 30
METRICS = {
    "rate": "confirmed positives per 100,000 people",
    "positivity": "positivity",
    "positives": "confirmed positives",
}
RESULTS = ("positive", "negative", "invalid")

Metric = Literal["rate", "positivity", "positives"]


@dataclass(frozen=True)
class Filters:
    """The officer's choices, read from the query string; ``errors`` says what was ignored."""

    since: date
    until: date
    region: str | None = None
    product: str | None = None
    level: str = "district"
    metric: Metric = "rate"
    errors: tuple[str, ...] = ()

    def params(self, **changes: Any) -> dict[str, str]:
        """The query parameters that reproduce these filters (with ``changes``)."""
        f = replace(self, **changes)
        values = {
            "since": f.since.isoformat(),
            "until": f.until.isoformat(),
            "region": f.region or "",
            "product": f.product or "",
            "level": f.level,
            "metric": f.metric,
        }
        return {k: v for k, v in values.items() if v}

    def query(self, **changes: Any) -> str:
        return urlencode(self.params(**changes))


def scope_codes(regions: RegionIndex, scope: Scope) -> list[str]:
    return [c for c in regions.codes() if scope.allows(c)]


def parse_filters(
    params: Mapping[str, str],
    *,
    regions: RegionIndex,
    scope: Scope,
    products: Iterable[str],
    today: date | None = None,
) -> Filters:
    """Read the filters from the query string; bad values are dropped with a message."""
    today = today or datetime.now(UTC).date()
    errors: list[str] = []

    def day(name: str, default: date) -> date:
        text = (params.get(name) or "").strip()
        if not text:
            return default
        try:
            return date.fromisoformat(text)
        except ValueError:
            errors.append(f"{name}: {text!r} is not a date (YYYY-MM-DD); showing the default")
            return default

    until = day("until", today)
    since = day("since", until - timedelta(days=DEFAULT_DAYS - 1))
    if since > until:
        errors.append("the period starts after it ends; the dates were swapped")
        since, until = until, since
    if (until - since).days >= MAX_DAYS:
        errors.append(f"the period is limited to {MAX_DAYS} days; the start was moved")
        since = until - timedelta(days=MAX_DAYS - 1)

    region = (params.get("region") or "").strip() or None
    if region is not None and (not regions.has(region) or not scope.allows(region)):
        errors.append(f"region {region!r} is not in your area; showing all of it")
        region = None

    product = (params.get("product") or "").strip() or None
    if product is not None and product not in set(products):
        errors.append(f"no product with the code {product!r}; showing all products")
        product = None

    levels = levels_in(regions, scope) or [LEVELS[-1]]
    level = params.get("level") or levels[-1]
    if level not in levels:
        errors.append(f"level {level!r} is not available here; showing {levels[-1]}")
        level = levels[-1]

    metric_text = params.get("metric") or "rate"
    metric: Metric = metric_text if metric_text in METRICS else "rate"  # type: ignore[assignment]
    return Filters(
        since=since,
        until=until,
        region=region,
        product=product,
        level=level,
        metric=metric,
        errors=tuple(errors),
    )


# Headline figures ---------------------------------------------------------------


@dataclass(frozen=True)
class Headline:
    """One figure of the first screen, with how it moved over the last 7 days."""

    key: str
    label: str
    value: str
    change: str
    direction: Literal["up", "down", "same", "none"]
    note: str = ""


def _direction(change: float | None) -> Literal["up", "down", "same", "none"]:
    if change is None:
        return "none"
    return "up" if change > 1e-9 else "down" if change < -1e-9 else "same"


def _relative(change: Change, fmt: charts.Format) -> str:
    previous = "no figure" if change.previous is None else fmt(change.previous)
    if change.change is None:
        return f"previous 7 days: {previous}"
    return f"{100 * change.change:+.0f}% on the previous 7 days ({previous})"


def interval_text(p: Proportion) -> str:
    if p.low is None or p.high is None:
        return "no readable tests"
    return f"95% CI {charts.percent_format(p.low)} to {charts.percent_format(p.high)}"


def small_count_note(p: Proportion, small: int) -> str:
    if p.total == 0:
        return "No readable tests: positivity cannot be given."
    if p.total < small:
        return (
            f"Only {p.total} readable test{'s' if p.total != 1 else ''}: "
            "positivity this uncertain can move a lot with each test."
        )
    return ""


def headlines(stats: Summary) -> list[Headline]:
    """Confirmed positives, tests, positivity and the rate per 100,000 over the last 7 days."""
    h = stats.headline
    count = charts.count_format
    positivity = h.positivity
    points = (
        "previous 7 days: no figure"
        if positivity.change is None or positivity.previous is None
        else f"{100 * positivity.change:+.1f} points on the previous 7 days "
        f"({charts.percent_format(positivity.previous)})"
    )
    rate = h.positives_per_100k
    return [
        Headline(
            "positives",
            "Confirmed positives",
            count(h.positives.current or 0),
            _relative(h.positives, count),
            _direction(h.positives.change),
        ),
        Headline(
            "tests",
            "Tests with a result",
            count(h.tests.current or 0),
            _relative(h.tests, count),
            _direction(h.tests.change),
        ),
        Headline(
            "positivity",
            "Positivity",
            "–" if positivity.current is None else charts.percent_format(positivity.current),
            points,
            _direction(positivity.change),
            "; ".join(
                n
                for n in (
                    interval_text(h.positivity_interval),
                    small_count_note(h.positivity_interval, stats.small_count),
                )
                if n
            ),
        ),
        Headline(
            "rate",
            "Positives per 100,000 people",
            "–" if rate.current is None else rate_format(rate.current),
            _relative(rate, rate_format) if rate.current is not None else "population unknown",
            _direction(rate.change),
        ),
    ]


# Charts and the map -------------------------------------------------------------


def build_charts(stats: Summary) -> dict[str, str]:
    """The SVG charts of the page, by name."""
    days = [d.day.isoformat() for d in stats.days]
    period = f"{stats.since.isoformat()} to {stats.until.isoformat()}"
    out = {
        "epicurve": charts.bar_chart(
            days,
            [
                charts.Series(
                    "confirmed positives",
                    [d.positive for d in stats.days],
                    charts.RESULT_COLOURS["positive"],
                )
            ],
            lines=[
                charts.Series("7-day average", [d.positive_avg7 for d in stats.days], "#000000")
            ],
            title=f"Confirmed positives by date of test, with the 7-day average, {period}",
            y_label="positives",
            chart_id="chart-epicurve",
        ),
        "tests": charts.bar_chart(
            days,
            [
                charts.Series(
                    result, [getattr(d, result) for d in stats.days], charts.RESULT_COLOURS[result]
                )
                for result in RESULTS
            ],
            lines=[charts.Series("7-day average", [d.tests_avg7 for d in stats.days], "#000000")],
            title=f"Tests by date of test and result, {period}",
            y_label="tests",
            chart_id="chart-tests",
            stacked=True,
        ),
    }
    names = [a.name for a in stats.areas]
    out["positivity"] = charts.bar_chart(
        names,
        [
            charts.Series(
                "positivity",
                [a.positivity.value for a in stats.areas],
                charts.RESULT_COLOURS["positive"],
            )
        ],
        intervals=[_pair(a.positivity) for a in stats.areas],
        title=f"Positivity by {stats.level} with 95% confidence intervals, {period}",
        y_label="positivity",
        chart_id="chart-positivity",
        y_format=charts.percent_format,
    )
    products = [p.product_code for p in stats.products]
    out["products"] = charts.bar_chart(
        products,
        [
            charts.Series("tests", [p.tests for p in stats.products]),
            charts.Series(
                "positives",
                [p.positive for p in stats.products],
                charts.RESULT_COLOURS["positive"],
            ),
            charts.Series(
                "invalid", [p.invalid for p in stats.products], charts.RESULT_COLOURS["invalid"]
            ),
        ],
        title=f"Tests, confirmed positives and invalid results by product, {period}",
        y_label="tests",
        chart_id="chart-products",
    )
    return out


def _pair(p: Proportion) -> tuple[float, float] | None:
    return None if p.low is None or p.high is None else (p.low, p.high)


def map_value(area: AreaRow, metric: Metric) -> float | None:
    """A region's figure: its rate (no data without a population), positivity (no data
    without readable tests) or positives."""
    if metric == "rate":
        return area.positives_per_100k
    if metric == "positivity":
        return area.positivity.value
    return float(area.positive)


def region_features(regions: RegionIndex, codes: Iterable[str]) -> dict[str, Any]:
    """GeoJSON of ``codes``; a region without its own polygon is drawn as its children's union."""
    from shapely import union_all
    from shapely.geometry import mapping

    features = []
    for code in codes:
        region = regions.region(code)
        geometry = region.geometry
        if geometry is None:
            parts = [
                regions.region(c).geometry
                for c in regions.descendants(code)
                if regions.region(c).geometry is not None
            ]
            geometry = union_all(parts) if parts else None
        if geometry is None:
            continue
        features.append(
            {
                "type": "Feature",
                "properties": {"code": code, "name": region.name, "level": region.level},
                "geometry": mapping(geometry),
            }
        )
    return {"type": "FeatureCollection", "features": features}


def build_map(stats: Summary, regions: RegionIndex, metric: Metric) -> str:
    label = METRICS[metric]
    values = {a.code: map_value(a, metric) for a in stats.areas}
    fmt: charts.Format = charts.count_format
    if metric == "positivity":
        fmt = charts.percent_format
    elif metric == "rate":
        fmt = rate_format
    return charts.choropleth(
        region_features(regions, [a.code for a in stats.areas]),
        values,
        title=f"Map of {label} by {stats.level}, tests from {stats.since.isoformat()} "
        f"to {stats.until.isoformat()}",
        value_label=label,
        chart_id="cdc-map",
        value_format=fmt,
    )


def rate_format(value: float) -> str:
    """A rate per 100,000 with the digits that matter: 1,234, 12.3, 0.243, 0.05.

    >>> rate_format(1234.4), rate_format(12.34), rate_format(0.2427), rate_format(0.05)
    ('1,234', '12.3', '0.243', '0.05')
    """
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"
