"""The SVG charts and the choropleth map: well-formed, accessible, drawn to the numbers."""

from __future__ import annotations

import itertools
import math
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from review_ui import charts
from review_ui.charts import (
    MAP_CLASSES,
    MAP_NO_DATA,
    MAP_ZERO,
    Series,
    bar_chart,
    choropleth,
    class_breaks,
    line_chart,
    map_colour,
    nice_ticks,
    percent_format,
)

NS = {"svg": charts.SVG_NS}


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # raises on malformed XML
    assert root.tag == f"{{{charts.SVG_NS}}}svg"
    return root


def find_all(root: ET.Element, tag: str, cls: str | None = None) -> list[ET.Element]:
    found = root.iter(f"{{{charts.SVG_NS}}}{tag}")
    return [e for e in found if cls is None or e.get("class") == cls]


def title_of(element: ET.Element) -> str:
    title = element.find("svg:title", NS)
    assert title is not None
    return title.text or ""


def assert_accessible(root: ET.Element) -> None:
    assert root.get("role") == "img"
    ids = (root.get("aria-labelledby") or "").split()
    assert len(ids) == 2
    for element_id in ids:
        labels = [e for e in root.iter() if e.get("id") == element_id]
        assert len(labels) == 1
        assert (labels[0].text or "").strip()


# Ticks -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("low", "high"), [(0, 1), (0, 7), (0, 13), (0, 0.37), (0, 999), (5, 5), (0, 123456)]
)
def test_ticks_cover_the_range_with_round_even_steps(low: float, high: float) -> None:
    ticks = nice_ticks(low, high)
    assert ticks[0] <= low
    assert ticks[-1] >= high
    steps = {round(b - a, 9) for a, b in itertools.pairwise(ticks)}
    assert len(steps) == 1
    step = steps.pop()
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert round(mantissa, 6) in (1, 2, 2.5, 5)
    assert 2 <= len(ticks) <= 8


def test_integer_ticks_never_split_a_test() -> None:
    assert nice_ticks(0, 2, integer=True) == [0.0, 1.0, 2.0]
    assert all(t.is_integer() for t in nice_ticks(0, 3, integer=True))


# Bar charts ------------------------------------------------------------------


def test_grouped_bars_one_rect_per_non_zero_value_with_its_figure() -> None:
    svg = bar_chart(
        ["Mon", "Tue", "Wed"],
        [Series("tests", [4, 0, 7]), Series("positives", [1, 2, None], "#D55E00")],
        title="Tests",
        y_label="tests",
        chart_id="c1",
    )
    root = parse(svg)
    assert_accessible(root)
    bars = find_all(root, "rect", "bar")
    assert len(bars) == 4  # zero and missing values draw nothing
    titles = sorted(title_of(b) for b in bars)
    assert titles == ["Mon, positives: 1", "Mon, tests: 4", "Tue, positives: 2", "Wed, tests: 7"]
    by_series = {b.get("data-series"): b.get("fill") for b in bars}
    assert by_series["positives"] == "#D55E00"
    assert by_series["tests"] == charts.PALETTE[0]
    # Heights are proportional to the values: 7 is 7/4 of 4.
    heights = {title_of(b): float(b.get("height", 0)) for b in bars}
    assert heights["Wed, tests: 7"] / heights["Mon, tests: 4"] == pytest.approx(7 / 4, rel=0.02)
    # A legend names both series.
    legend = [t.text for t in find_all(root, "text") if t.text in ("tests", "positives")]
    assert "positives" in legend


def test_stacked_bars_sit_on_each_other() -> None:
    root = parse(
        bar_chart(
            ["d1"],
            [Series("positive", [2]), Series("negative", [3])],
            title="t",
            y_label="tests",
            chart_id="c2",
            stacked=True,
        )
    )
    low, high = sorted(find_all(root, "rect", "bar"), key=lambda b: -float(b.get("y", 0)))
    # The second bar starts where the first ends.
    assert float(high.get("y", 0)) + float(high.get("height", 0)) == pytest.approx(
        float(low.get("y", 0)), abs=0.2
    )
    assert float(high.get("height", 0)) / float(low.get("height", 0)) == pytest.approx(1.5, 0.02)


def test_labels_are_escaped_and_the_axis_has_ticks() -> None:
    root = parse(
        bar_chart(
            ['<Old & "Harbour">'],
            [Series("a&b", [3])],
            title="x < y",
            y_label="tests",
            chart_id="c3",
        )
    )
    texts = [t.text for t in find_all(root, "text")]
    assert '<Old & "Harbour">' in texts
    assert {"0", "1", "2", "3"} <= set(texts)


def test_many_categories_thin_and_turn_their_labels() -> None:
    days = [f"2024-05-{d:02d}" for d in range(1, 31)]
    root = parse(bar_chart(days, [Series("t", [1] * 30)], title="t", y_label="n", chart_id="c4"))
    shown = [t for t in find_all(root, "text") if (t.text or "").startswith("2024-05")]
    assert 5 <= len(shown) < 30
    assert all("rotate" in (t.get("transform") or "") for t in shown)


def test_series_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError, match="3 categories"):
        bar_chart(["a", "b", "c"], [Series("s", [1, 2])], title="t", y_label="n", chart_id="c")


def test_an_empty_chart_is_still_a_valid_picture() -> None:
    root = parse(bar_chart([], [Series("s", [])], title="None", y_label="n", chart_id="c5"))
    assert find_all(root, "rect", "bar") == []
    assert "No data" in (root.find("svg:desc", NS).text or "")  # type: ignore[union-attr]


# Line charts -----------------------------------------------------------------


def test_a_missing_value_breaks_the_line() -> None:
    root = parse(
        line_chart(
            ["1", "2", "3", "4", "5"],
            [Series("rate", [0.1, 0.2, None, 0.4, 0.5])],
            title="Positivity",
            y_label="positivity",
            chart_id="l1",
        )
    )
    assert_accessible(root)
    assert len(find_all(root, "polyline")) == 2
    points = find_all(root, "circle", "point")
    assert next(title_of(p) for p in points) == "1, rate: 10%"
    assert len(points) == 4
    # Higher values are drawn higher up (smaller y).
    ys = [float(p.get("cy", 0)) for p in points]
    assert ys == sorted(ys, reverse=True)
    assert "%" in "".join(t.text or "" for t in find_all(root, "text"))


def test_percent_format() -> None:
    assert percent_format(0.25) == "25%"
    assert percent_format(0.125) == "12.5%"


# The map ---------------------------------------------------------------------


def square(x: float, y: float, size: float = 1.0) -> list[list[float]]:
    return [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]


def feature(code: str, geometry: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {"code": code, "name": name or code},
        "geometry": geometry,
    }


GEOJSON = {
    "type": "FeatureCollection",
    "features": [
        feature("A", {"type": "Polygon", "coordinates": [square(120, 30)]}, "Alpha"),
        feature("B", {"type": "Polygon", "coordinates": [square(121, 30)]}, "Beta"),
        feature(
            "C",
            {
                "type": "MultiPolygon",
                "coordinates": [[square(120, 31)], [square(121.5, 31, 0.5)]],
            },
            "Gamma",
        ),
        # A ring with a hole: both drawn, the hole left open (even-odd).
        feature(
            "D",
            {"type": "Polygon", "coordinates": [square(122, 30, 2), square(122.5, 30.5, 0.5)]},
            "Delta",
        ),
        feature("E", {"type": "Polygon", "coordinates": [square(120, 32)]}, "Epsilon"),
    ],
}


def test_the_map_has_a_path_per_region_coloured_by_value() -> None:
    values = {"A": 0.0, "B": 2.0, "C": 9.0, "D": None}
    root = parse(
        choropleth(GEOJSON, values, title="Positives", value_label="positives", chart_id="m1")
    )
    assert_accessible(root)
    paths = {p.get("data-code"): p for p in find_all(root, "path", "region")}
    assert set(paths) == {"A", "B", "C", "D", "E"}
    assert paths["A"].get("fill") == MAP_ZERO
    assert paths["D"].get("fill") == MAP_NO_DATA
    assert paths["E"].get("fill") == MAP_NO_DATA  # not in the values at all
    assert MAP_CLASSES.index(paths["B"].get("fill") or "") < MAP_CLASSES.index(
        paths["C"].get("fill") or ""
    )
    assert paths["C"].get("fill") == MAP_CLASSES[-1]  # the largest value is in the top class
    # Two polygons, and a ring with its hole: two sub-paths each.
    assert (paths["C"].get("d") or "").count("M") == 2
    assert (paths["D"].get("d") or "").count("M") == 2
    assert paths["D"].get("fill-rule") == "evenodd"
    assert title_of(paths["B"]) == "Beta (B): 2 positives"
    assert title_of(paths["D"]) == "Delta (D): no data positives"


def test_the_map_keeps_geography_north_up_and_west_left() -> None:
    root = parse(choropleth(GEOJSON, {}, title="t", value_label="n", chart_id="m2"))
    paths = {p.get("data-code"): p.get("d") or "" for p in find_all(root, "path", "region")}

    def first_point(d: str) -> tuple[float, float]:
        x, y = d[1:].split("L")[0].split(",")
        return float(x), float(y)

    ax, ay = first_point(paths["A"])
    bx, by = first_point(paths["B"])
    _ex, ey = first_point(paths["E"])
    assert bx > ax  # B is east of A
    assert ey < ay  # E is north of A: higher up the picture
    assert by == pytest.approx(ay)


def test_the_map_holds_nothing_focusable_and_markers_show() -> None:
    root = parse(
        choropleth(
            GEOJSON,
            {"A": 1.0},
            title="t",
            value_label="positives",
            chart_id="m3",
            markers=[(30.5, 120.5, "Scanned here")],
        )
    )
    # One image to assistive technology: no links or tab stops inside it.
    assert root.get("role") == "img"
    assert find_all(root, "a") == []
    assert not [e for e in root.iter() if e.get("tabindex") is not None]
    (marker,) = find_all(root, "circle", "marker")
    assert title_of(marker).startswith("Scanned here")
    (path_a,) = [p for p in find_all(root, "path", "region") if p.get("data-code") == "A"]
    # The marker lies inside region A's drawn square.
    coords = [tuple(map(float, c.split(","))) for c in (path_a.get("d") or "")[1:-1].split("L")]
    xs, ys = [c[0] for c in coords], [c[1] for c in coords]
    assert min(xs) < float(marker.get("cx", 0)) < max(xs)
    assert min(ys) < float(marker.get("cy", 0)) < max(ys)


def test_the_legend_shows_every_class() -> None:
    root = parse(
        choropleth(
            GEOJSON,
            {"A": 0.05, "B": 0.5},
            title="t",
            value_label="positivity",
            chart_id="m4",
            value_format=percent_format,
        )
    )
    legend = next(g for g in find_all(root, "g") if g.get("class") == "legend")
    swatches = [r.get("fill") for r in legend.iter(f"{{{charts.SVG_NS}}}rect")]
    assert swatches == [MAP_NO_DATA, MAP_ZERO, *MAP_CLASSES]
    assert "0%–10%" in [t.text for t in legend.iter(f"{{{charts.SVG_NS}}}text")]


def test_class_breaks_and_colours() -> None:
    assert class_breaks(10) == [2.0, 4.0, 6.0, 8.0, 10.0]
    assert class_breaks(3, integer=True) == [1.0, 2.0, 3.0]
    assert class_breaks(12, integer=True) == [3.0, 6.0, 9.0, 12.0, 15.0]
    # Fewer classes take the darkest colours: the largest count is always darkest.
    assert map_colour(3, class_breaks(3, integer=True)) == MAP_CLASSES[-1]
    assert map_colour(1, class_breaks(3, integer=True)) == MAP_CLASSES[-3]
    breaks = class_breaks(10)
    colours = [map_colour(v, breaks) for v in (0.5, 2, 2.01, 5, 10, 50)]
    assert colours[:5] == [
        MAP_CLASSES[0],
        MAP_CLASSES[0],
        MAP_CLASSES[1],
        MAP_CLASSES[2],
        MAP_CLASSES[4],
    ]
    assert colours[5] == MAP_CLASSES[-1]


def test_the_demo_map_renders_every_district() -> None:
    from api.regions.geo import RegionIndex

    regions = RegionIndex.demo()
    geojson = regions.to_geojson(level="district")
    root = parse(choropleth(geojson, {}, title="t", value_label="n", chart_id="m5"))
    assert len(find_all(root, "path", "region")) == len(regions.codes("district"))


def test_the_module_examples_hold() -> None:
    import doctest

    assert doctest.testmod(charts).failed == 0


def test_lines_over_bars_and_interval_whiskers() -> None:
    root = parse(
        bar_chart(
            ["d1", "d2", "d3"],
            [Series("positives", [2, 0, 4])],
            lines=[Series("7-day average", [1.0, None, 2.5])],
            title="curve",
            y_label="n",
            chart_id="c-lines",
        )
    )
    assert len(find_all(root, "rect", "bar")) == 2
    points = find_all(root, "circle", "point")
    assert [p.get("data-value") for p in points] == ["1", "2.5"]
    assert "7-day average" in ET.tostring(root, encoding="unicode")  # in the legend
    whiskers = parse(
        bar_chart(
            ["A", "B"],
            [Series("positivity", [0.5, None])],
            intervals=[(0.2, 0.9), None],
            title="p",
            y_label="p",
            chart_id="c-ci",
            y_format=percent_format,
        )
    )
    (whisker,) = find_all(whiskers, "path", "interval")
    assert title_of(whisker) == "A: 20% to 90%"
    # The scale reaches the top of the interval, not only the bar.
    (axes,) = find_all(whiskers, "g", "axes")
    ticks = [float((e.text or "").rstrip("%")) for e in axes.iter() if (e.text or "").endswith("%")]
    assert max(ticks) >= 90
    with pytest.raises(ValueError, match="intervals"):
        bar_chart(
            ["A"],
            [Series("a", [1]), Series("b", [2])],
            intervals=[(0.0, 1.0)],
            title="t",
            y_label="y",
            chart_id="c-bad",
        )
