"""What the CDC live view shows for a choice of filters: table rows, charts, the map.

Kept apart from the routes so the figures can be tested without a browser:
the routes read the statistics from ``api.reports.service`` and hand them here.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from urllib.parse import urlencode

from api.regions.geo import LEVELS, RegionIndex
from api.reports.schemas import Statistics
from api.scope import Scope
from review_ui import charts

RESULTS = ("positive", "negative", "invalid")
DEFAULT_DAYS = 30
MAX_DAYS = 366
TABLE_LIMIT = 500
# Columns of the table: query value -> heading.
COLUMNS = {
    "day": "Day",
    "region": "Region",
    "product": "Product",
    "tests": "Tests",
    "positive": "Positive",
    "negative": "Negative",
    "invalid": "Invalid",
    "positivity": "Positivity",
}
METRICS = {"positives": "confirmed positives", "positivity": "positivity"}
# Lines per region in the daily positivity chart before it shows the total only.
MAX_REGION_LINES = 5

Metric = Literal["positives", "positivity"]
Order = Literal["asc", "desc"]


@dataclass(frozen=True)
class Filters:
    """The officer's choices, read from the query string; ``errors`` says what was ignored."""

    since: date
    until: date
    region: str | None = None
    product: str | None = None
    level: str = "district"
    metric: Metric = "positives"
    sort: str = "day"
    order: Order = "desc"
    positives_only: bool = False
    errors: tuple[str, ...] = ()

    @property
    def since_dt(self) -> datetime:
        return datetime.combine(self.since, time(), tzinfo=UTC)

    @property
    def until_dt(self) -> datetime:
        # ``until`` is the last day shown, so the bound is the next midnight.
        return datetime.combine(self.until + timedelta(days=1), time(), tzinfo=UTC)

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
            "sort": f.sort,
            "order": f.order,
        }
        if f.positives_only:
            values["positives_only"] = "1"
        return {k: v for k, v in values.items() if v}

    def query(self, **changes: Any) -> str:
        return urlencode(self.params(**changes))

    def sort_query(self, column: str) -> str:
        """The query that sorts by ``column``: flips the order when already sorted by it."""
        if self.sort == column:
            return self.query(order="asc" if self.order == "desc" else "desc")
        numeric = column not in ("region", "product")
        return self.query(sort=column, order="desc" if numeric else "asc")

    def aria_sort(self, column: str) -> str:
        if self.sort != column:
            return "none"
        return "ascending" if self.order == "asc" else "descending"


def scope_levels(regions: RegionIndex, scope: Scope) -> list[str]:
    """The levels at which the scope has regions, top-down."""
    present = {regions.level(c) for c in scope_codes(regions, scope)}
    return [level for level in LEVELS if level in present]


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

    known_products = set(products)
    product = (params.get("product") or "").strip() or None
    if product is not None and product not in known_products:
        errors.append(f"no product with the code {product!r}; showing all products")
        product = None

    levels = scope_levels(regions, scope) or [LEVELS[-1]]
    level = params.get("level") or levels[-1]
    if level not in levels:
        errors.append(f"level {level!r} is not available here; showing {levels[-1]}")
        level = levels[-1]

    metric_text = params.get("metric") or "positives"
    metric: Metric = "positivity" if metric_text == "positivity" else "positives"
    sort = params.get("sort") or "day"
    if sort not in COLUMNS:
        sort = "day"
    order: Order = "asc" if params.get("order") == "asc" else "desc"
    return Filters(
        since=since,
        until=until,
        region=region,
        product=product,
        level=level,
        metric=metric,
        sort=sort,
        order=order,
        positives_only=params.get("positives_only") in ("1", "on", "true"),
        errors=tuple(errors),
    )


def narrowed_scope(regions: RegionIndex, scope: Scope, region: str | None) -> Scope:
    """``scope`` limited to ``region`` and everything under it."""
    if region is None:
        return scope
    below = frozenset({region, *regions.descendants(region)})
    return Scope(below if scope.regions is None else below & scope.regions)


# The table -----------------------------------------------------------------


@dataclass
class TableRow:
    day: str
    region_code: str
    region_name: str
    product_code: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RESULTS, 0))

    @property
    def tests(self) -> int:
        return sum(self.counts.values())

    @property
    def positivity(self) -> float | None:
        """Positives among readable (positive or negative) results; invalid ones say nothing."""
        readable = self.counts["positive"] + self.counts["negative"]
        return self.counts["positive"] / readable if readable else None

    def value(self, column: str) -> Any:
        if column == "day":
            return self.day
        if column == "region":
            return self.region_name.casefold()
        if column == "product":
            return self.product_code.casefold()
        if column == "tests":
            return self.tests
        if column == "positivity":
            return self.positivity
        return self.counts[column]


def table_rows(stats: Statistics, regions: RegionIndex) -> list[TableRow]:
    """One row per day, region and product (the statistics have one per result too)."""
    rows: dict[tuple[str, str, str], TableRow] = {}
    for count in stats.rows:
        key = (count.day, count.region_code, count.product_code)
        if key not in rows:
            rows[key] = TableRow(
                count.day, count.region_code, regions.name(count.region_code), count.product_code
            )
        rows[key].counts[count.result] = rows[key].counts.get(count.result, 0) + count.count
    return list(rows.values())


def sort_rows(rows: Sequence[TableRow], column: str, order: Order) -> list[TableRow]:
    """Sorted by ``column``; rows without a value (no positivity) always come last."""
    known = [r for r in rows if r.value(column) is not None]
    unknown = [r for r in rows if r.value(column) is None]
    # Ties keep a stable, readable order: newest day, then region, then product.
    known.sort(key=lambda r: (r.region_name, r.product_code))
    known.sort(key=lambda r: r.day, reverse=True)
    known.sort(key=lambda r: r.value(column), reverse=order == "desc")
    return known + unknown


def filter_rows(rows: Iterable[TableRow], filters: Filters) -> list[TableRow]:
    return [r for r in rows if not filters.positives_only or r.counts["positive"] > 0]


def table_csv(rows: Iterable[TableRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "day",
            "region_code",
            "region_name",
            "product_code",
            "tests",
            "positive",
            "negative",
            "invalid",
            "positivity",
        ]
    )
    for r in rows:
        writer.writerow(
            [
                r.day,
                r.region_code,
                r.region_name,
                r.product_code,
                r.tests,
                r.counts["positive"],
                r.counts["negative"],
                r.counts["invalid"],
                "" if r.positivity is None else f"{r.positivity:.4f}",
            ]
        )
    return out.getvalue()


# Charts and the map --------------------------------------------------------


def days_between(since: date, until: date) -> list[str]:
    return [(since + timedelta(days=i)).isoformat() for i in range((until - since).days + 1)]


def _rate(counts: Mapping[str, int]) -> float | None:
    readable = counts.get("positive", 0) + counts.get("negative", 0)
    return counts.get("positive", 0) / readable if readable else None


def build_charts(stats: Statistics, filters: Filters, regions: RegionIndex) -> dict[str, str]:
    """The SVG charts of the live view, by name."""
    days = days_between(filters.since, filters.until)
    per_day = {d: stats.by_day.get(d, dict.fromkeys(RESULTS, 0)) for d in days}
    out = {
        "daily_tests": charts.bar_chart(
            days,
            [
                charts.Series(
                    result, [per_day[d].get(result, 0) for d in days], charts.RESULT_COLOURS[result]
                )
                for result in RESULTS
            ],
            title="Released tests per day, by result",
            y_label="tests",
            chart_id="chart-daily-tests",
            stacked=True,
        )
    }
    by_region_day: dict[str, dict[str, dict[str, int]]] = defaultdict(
        lambda: defaultdict(lambda: dict.fromkeys(RESULTS, 0))
    )
    for row in stats.rows:
        by_region_day[row.region_code][row.day][row.result] += row.count
    series = [charts.Series("all regions", [_rate(per_day[d]) for d in days], "#000000")]
    if 1 < len(by_region_day) <= MAX_REGION_LINES:
        for i, code in enumerate(sorted(by_region_day)):
            series.append(
                charts.Series(
                    regions.name(code),
                    [_rate(by_region_day[code].get(d, {})) for d in days],
                    charts.PALETTE[i % len(charts.PALETTE)],
                )
            )
    out["daily_positivity"] = charts.line_chart(
        days,
        series,
        title="Positivity per day (positives among positive and negative results)",
        y_label="positivity",
        chart_id="chart-daily-positivity",
    )
    region_codes = sorted(stats.by_region, key=regions.name)
    region_names = [regions.name(c) for c in region_codes]
    out["by_region"] = charts.bar_chart(
        region_names,
        [
            charts.Series("tests", [sum(stats.by_region[c].values()) for c in region_codes]),
            charts.Series(
                "positives",
                [stats.by_region[c].get("positive", 0) for c in region_codes],
                charts.RESULT_COLOURS["positive"],
            ),
        ],
        title=f"Tests and confirmed positives by region ({filters.level})",
        y_label="tests",
        chart_id="chart-by-region",
    )
    out["positivity_by_region"] = charts.bar_chart(
        region_names,
        [
            charts.Series(
                "positivity",
                [_rate(stats.by_region[c]) for c in region_codes],
                charts.RESULT_COLOURS["positive"],
            )
        ],
        title=f"Positivity by region ({filters.level})",
        y_label="positivity",
        chart_id="chart-positivity-by-region",
        y_format=charts.percent_format,
    )
    products = sorted(stats.by_product)
    out["by_product"] = charts.bar_chart(
        products,
        [
            charts.Series("tests", [sum(stats.by_product[p].values()) for p in products]),
            charts.Series(
                "positives",
                [stats.by_product[p].get("positive", 0) for p in products],
                charts.RESULT_COLOURS["positive"],
            ),
            charts.Series(
                "invalid",
                [stats.by_product[p].get("invalid", 0) for p in products],
                charts.RESULT_COLOURS["invalid"],
            ),
        ],
        title="Tests, confirmed positives and invalid results by product",
        y_label="tests",
        chart_id="chart-by-product",
    )
    return out


def map_codes(regions: RegionIndex, scope: Scope, level: str) -> list[str]:
    """The regions drawn on the map: those at ``level`` inside ``scope``."""
    return [c for c in regions.codes(level) if scope.allows(c)]


def map_values(stats: Statistics, codes: Iterable[str], metric: Metric) -> dict[str, float | None]:
    """Each region's figure: positives (0 without tests) or positivity (no data without)."""
    values: dict[str, float | None] = {}
    for code in codes:
        counts = stats.by_region.get(code, {})
        if metric == "positivity":
            values[code] = _rate(counts)
        else:
            values[code] = float(counts.get("positive", 0))
    return values


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


def build_map(
    stats: Statistics,
    filters: Filters,
    regions: RegionIndex,
    scope: Scope,
    href: Callable[[str], str] | None = None,
) -> str:
    codes = map_codes(regions, scope, filters.level)
    values = map_values(stats, codes, filters.metric)
    label = METRICS[filters.metric]
    period = f"{filters.since.isoformat()} to {filters.until.isoformat()}"
    return charts.choropleth(
        region_features(regions, codes),
        values,
        title=f"Map of {label} by {filters.level}, {period}",
        value_label=label,
        chart_id="cdc-map",
        value_format=charts.percent_format
        if filters.metric == "positivity"
        else charts.count_format,
        href=href,
    )
