"""Surveillance statistics for a scope and period, from the daily aggregates.

The database sums the daily aggregates (by day, region, product, lot and result, and
the turnaround histogram); only those sums come here, where they are summed up to a
level of the region hierarchy and turned into rates, intervals and changes.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from datetime import date, timedelta

from sqlalchemy.orm import Session

from api.context import AppContext
from api.errors import InvalidError, NotFoundError
from api.products import queries as product_queries
from api.regions.geo import LEVELS, RegionIndex
from api.scope import Scope
from api.statistics import queries
from api.statistics.queries import Selection
from api.statistics.schemas import (
    AreaRow,
    Change,
    Counts,
    DayRow,
    Headline,
    LotRow,
    ProductRow,
    Proportion,
    Quality,
    Summary,
    Table,
    Turnaround,
)

RESULTS = ("positive", "negative", "invalid")
MAX_DAYS = 366
WEEK = 7
# Positivity from fewer readable tests than this moves by whole percentage points with
# each test: the pages say so beside the figure.
SMALL_COUNT = 30
Z_95 = 1.959964


def wilson(count: int, total: int, z: float = Z_95) -> Proportion:
    """``count`` of ``total`` with its Wilson score interval (95 % by default).

    Unlike the normal approximation it stays inside 0..1 and is honest for small
    totals and proportions near 0 or 1.

    >>> p = wilson(5, 20)
    >>> p.value, round(p.low, 4), round(p.high, 4)
    (0.25, 0.1119, 0.4687)
    >>> wilson(0, 0).value is None
    True
    """
    if total <= 0:
        return Proportion(count=count, total=total, value=None, low=None, high=None)
    p = count / total
    z2 = z * z
    centre = (p + z2 / (2 * total)) / (1 + z2 / total)
    half = z / (1 + z2 / total) * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total))
    return Proportion(
        count=count, total=total, value=p, low=max(0.0, centre - half), high=min(1.0, centre + half)
    )


def _counts(by_result: Mapping[str, int]) -> Counts:
    positive, negative = by_result.get("positive", 0), by_result.get("negative", 0)
    invalid = by_result.get("invalid", 0)
    return Counts(
        tests=positive + negative + invalid,
        positive=positive,
        negative=negative,
        invalid=invalid,
        positivity=wilson(positive, positive + negative),
    )


def _per_100k(count: int, population: int | None) -> float | None:
    return round(count * 100_000 / population, 2) if population else None


def _change(current: float | None, previous: float | None, *, difference: bool = False) -> Change:
    if current is None or previous is None:
        change = None
    elif difference:
        change = current - previous
    else:
        change = (current - previous) / previous if previous else None
    return Change(current=current, previous=previous, change=change)


def roots(regions: RegionIndex, scope: Scope) -> list[str]:
    """The regions of ``scope`` whose parent is outside it: together they cover it once."""
    codes = regions.codes() if scope.regions is None else sorted(scope.regions)
    parents = {c: regions.parent(c) for c in codes}
    return [c for c, parent in parents.items() if parent is None or not scope.allows(parent)]


def population(regions: RegionIndex, scope: Scope) -> int | None:
    """People living in ``scope`` (``None`` when a part's population is unknown)."""
    parts = [regions.population(c) for c in roots(regions, scope)]
    return None if not parts or None in parts else sum(p for p in parts if p is not None)


def levels_in(regions: RegionIndex, scope: Scope) -> list[str]:
    """The levels at which ``scope`` has regions, top-down."""
    present = {regions.level(c) for c in regions.codes() if scope.allows(c)}
    return [level for level in LEVELS if level in present]


def narrowed(regions: RegionIndex, scope: Scope, region: str | None) -> Scope:
    """``scope`` limited to ``region`` and everything under it (404 outside the scope)."""
    if region is None:
        return scope
    if not regions.has(region) or not scope.allows(region):
        raise NotFoundError(f"region '{region}' does not exist or is not yours to see")
    below = frozenset({region, *regions.descendants(region)})
    return Scope(below if scope.regions is None else below & scope.regions)


def summary(
    session: Session,
    ctx: AppContext,
    scope: Scope,
    since: date,
    until: date,
    *,
    level: str | None = None,
    region: str | None = None,
    product: str | None = None,
) -> Summary:
    """The statistics of the tests taken from ``since`` to ``until`` (days, both included)
    in ``scope`` (narrowed to ``region``), by day, by region at ``level`` (the deepest
    level in scope by default), by product and by lot; the last 7 days against the 7
    before; turnaround and the retake and by-eye shares."""
    regions = ctx.regions
    if since > until:
        raise InvalidError("since: the period starts after it ends")
    if (until - since).days >= MAX_DAYS:
        raise InvalidError(f"until: a period is at most {MAX_DAYS} days")
    shown = narrowed(regions, scope, region)
    levels = levels_in(regions, shown)
    level = level or (levels[-1] if levels else LEVELS[-1])
    # An empty scope (staff without an office) has no levels: it shows nothing at any level.
    if level not in (levels or LEVELS):
        raise InvalidError(f"level: '{level}' is not one of {', '.join(levels or LEVELS)} here")
    if product is not None and product_queries.product_by_code(session, product) is None:
        raise InvalidError(f"product: no product with the code '{product}'")

    selection = Selection(since, until + timedelta(days=1), shown.regions, product)
    # The days before ``since`` feed the 7-day averages and the previous week's figures.
    early = min(since - timedelta(days=WEEK - 1), until - timedelta(days=2 * WEEK - 1))
    daily: dict[date, dict[str, int]] = defaultdict(dict)
    for day, result, n in queries.by_day(
        session, Selection(early, selection.until, shown.regions, product)
    ):
        daily[day][result] = n
    people = population(regions, shown)
    totals = _counts(_sum(daily.get(d, {}) for d in _days(since, until)))
    return Summary(
        since=since,
        until=until,
        level=level,
        region=region,
        product=product,
        population=people,
        last_updated=queries.last_released(session, shown.regions),
        small_count=SMALL_COUNT,
        totals=totals,
        headline=_headline(daily, until, people),
        quality=_quality(session, selection, totals.tests),
        days=_day_rows(daily, since, until),
        areas=_area_rows(regions, shown, level, queries.by_region(session, selection)),
        products=[
            ProductRow(product_code=code, **dict(_counts(counts)))
            for code, counts in sorted(_group(queries.by_product(session, selection)).items())
        ],
        lots=[
            LotRow(product_code=code, lot_number=lot, **dict(_counts(counts)))
            for (code, lot), counts in sorted(
                _group_lots(queries.by_lot(session, selection)).items()
            )
        ],
    )


def _days(since: date, until: date) -> list[date]:
    return [since + timedelta(days=i) for i in range((until - since).days + 1)]


def _sum(parts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    total: dict[str, int] = defaultdict(int)
    for part in parts:
        for result, n in part.items():
            total[result] += n
    return dict(total)


def _group(rows: Iterable[tuple[str, str, int]]) -> dict[str, dict[str, int]]:
    grouped: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for key, result, n in rows:
        grouped[key][result] += n
    return grouped


def _group_lots(rows: Iterable[tuple[str, str, str, int]]) -> dict[tuple[str, str], dict[str, int]]:
    grouped: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for code, lot, result, n in rows:
        grouped[(code, lot)][result] += n
    return grouped


def _day_rows(daily: Mapping[date, Mapping[str, int]], since: date, until: date) -> list[DayRow]:
    rows = []
    # Each day's counts once, the 7-day means over the last seven of them: a year's rows
    # summed every day's week again and built its counts twice (interval included).
    week: deque[Counts] = deque(maxlen=WEEK)
    for day in _days(since - timedelta(days=WEEK - 1), until):
        week.append(_counts(daily.get(day, {})))
        if day >= since:
            rows.append(
                DayRow(
                    day=day,
                    tests_avg7=round(sum(c.tests for c in week) / WEEK, 2),
                    positive_avg7=round(sum(c.positive for c in week) / WEEK, 2),
                    **dict(week[-1]),
                )
            )
    return rows


def _headline(daily: Mapping[date, Mapping[str, int]], until: date, people: int | None) -> Headline:
    start = until - timedelta(days=WEEK - 1)
    this = _sum(daily.get(d, {}) for d in _days(start, until))
    before = _sum(
        daily.get(d, {}) for d in _days(start - timedelta(days=WEEK), start - timedelta(days=1))
    )
    now, then = _counts(this), _counts(before)
    return Headline(
        start=start,
        end=until,
        tests=_change(now.tests, then.tests),
        positives=_change(now.positive, then.positive),
        positivity=_change(now.positivity.value, then.positivity.value, difference=True),
        positivity_interval=now.positivity,
        positives_per_100k=_change(
            _per_100k(now.positive, people), _per_100k(then.positive, people)
        ),
    )


def _quality(session: Session, selection: Selection, tests: int) -> Quality:
    """Turnaround, and the shares of the ``tests`` counted that needed a retake or were
    read by eye."""
    released, (median, p90) = queries.seconds_to_release(session, selection, (0.5, 0.9))
    flagged = queries.flagged(session, selection)
    return Quality(
        turnaround=Turnaround(
            released=released,
            median_hours=None if median is None else round(median / 3600, 2),
            p90_hours=None if p90 is None else round(p90 / 3600, 2),
        ),
        retakes=wilson(flagged["retake"], tests),
        read_by_eye=wilson(flagged["by_eye"], tests),
    )


def _area_rows(
    regions: RegionIndex, scope: Scope, level: str, rows: Iterable[tuple[str, str, int]]
) -> list[AreaRow]:
    """Every region at ``level`` in ``scope`` (zero when it had no tests), each with the
    tests of the regions under it."""
    areas = [c for c in regions.codes(level) if scope.allows(c)]
    wanted = set(areas)
    counts: dict[str, dict[str, int]] = {code: defaultdict(int) for code in areas}
    for code, result, n in rows:
        if not regions.has(code):
            continue  # a region dropped from the map since: counted in no area
        area = next((c for c in regions.lineage(code) if c in wanted), None)
        if area is not None:
            counts[area][result] += n
    out = []
    for code in areas:
        figures = _counts(counts[code])
        people = regions.population(code)
        out.append(
            AreaRow(
                code=code,
                name=regions.name(code),
                level=level,
                population=people,
                positives_per_100k=_per_100k(figures.positive, people),
                tests_per_100k=_per_100k(figures.tests, people),
                **dict(figures),
            )
        )
    return out


# Downloads -----------------------------------------------------------------------

_COLUMNS = ("tests", "positive", "negative", "invalid")


def _interval(p: Proportion) -> list[str]:
    return ["" if v is None else f"{v:.4f}" for v in (p.value, p.low, p.high)]


def table_csv(stats: Summary, table: Table) -> str:
    """One table of the summary as CSV, with positivity and its 95 % interval."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    tail = [*_COLUMNS, "positivity", "positivity_low95", "positivity_high95"]
    if table == "days":
        writer.writerow(["day", *tail, "tests_avg7", "positive_avg7"])
        for d in stats.days:
            writer.writerow([d.day.isoformat(), *_figures(d), d.tests_avg7, d.positive_avg7])
        return out.getvalue()
    if table == "areas":
        writer.writerow(["code", "name", "level", "population", *tail, "positives_per_100k"])
        for a in stats.areas:
            writer.writerow(
                [
                    a.code,
                    a.name,
                    a.level,
                    _blank(a.population),
                    *_figures(a),
                    _blank(a.positives_per_100k),
                ]
            )
        return out.getvalue()
    if table == "products":
        writer.writerow(["product_code", *tail])
        for p in stats.products:
            writer.writerow([p.product_code, *_figures(p)])
        return out.getvalue()
    writer.writerow(["product_code", "lot_number", *tail])
    for lot in stats.lots:
        writer.writerow([lot.product_code, lot.lot_number, *_figures(lot)])
    return out.getvalue()


def _figures(row: Counts) -> list[object]:
    return [row.tests, row.positive, row.negative, row.invalid, *_interval(row.positivity)]


def _blank(value: object) -> object:
    return "" if value is None else value
