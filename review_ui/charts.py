"""Server-side SVG charts and the choropleth map of regions.

Hand-written SVG built with ElementTree (so every label is escaped and the
output is well-formed XML): no JavaScript, no fonts to ship, and the pictures
scale with the page (``viewBox`` plus ``width: 100%``), so they hold on a
360-pixel phone. Every chart is an ``role="img"`` with a ``<title>`` and a
``<desc>`` that say what it shows, and every bar, point and region carries its
own ``<title>`` with the exact figure, read by screen readers and shown as a
tooltip.

Colours: the Okabe-Ito palette for series (safe for colour-blind readers) and
the ColorBrewer "Reds" sequence for the map.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SVG_NS = "http://www.w3.org/2000/svg"
# Okabe & Ito (2008): distinguishable with the common colour-vision deficiencies.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#E69F00", "#56B4E9", "#CC79A7", "#F0E442", "#000000")
RESULT_COLOURS = {"positive": "#D55E00", "negative": "#0072B2", "invalid": "#999999"}
# ColorBrewer Reds, 5 classes (light to dark); zero and "no data" get their own colours.
MAP_CLASSES = ("#fee5d9", "#fcae91", "#fb6a4a", "#de2d26", "#a50f15")
MAP_ZERO = "#f7f7f7"
MAP_NO_DATA = "#d9d9d9"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
TEXT = "#222"
GRID = "#ddd"

Number = float | int
Format = Callable[[float], str]


@dataclass(frozen=True)
class Series:
    """One named series of values (``None`` = no value), drawn in ``colour``."""

    name: str
    values: Sequence[Number | None]
    colour: str | None = None


def count_format(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def percent_format(value: float) -> str:
    return f"{100 * value:.0f}%" if round(100 * value, 1).is_integer() else f"{100 * value:.1f}%"


def nice_ticks(low: float, high: float, count: int = 5, *, integer: bool = False) -> list[float]:
    """Round tick values covering ``low``..``high`` (about ``count`` of them).

    Steps are 1, 2, 2.5 or 5 times a power of ten; with ``integer`` the step is
    at least 1 (counts have no half tests).

    >>> nice_ticks(0, 7)
    [0.0, 2.0, 4.0, 6.0, 8.0]
    >>> nice_ticks(0, 0.37)
    [0.0, 0.1, 0.2, 0.3, 0.4]
    >>> nice_ticks(0, 2, integer=True)
    [0.0, 1.0, 2.0]
    """
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError("tick range must be finite")
    if high < low:
        low, high = high, low
    if high == low:
        high = low + 1
    raw = (high - low) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * 0.999)
    if integer:
        step = max(1.0, math.ceil(step))
    start = math.floor(low / step + 1e-9) * step
    stop = math.ceil(high / step - 1e-9) * step
    n = round((stop - start) / step)
    # Rounded so 0.1 * 3 prints as 0.3, not 0.30000000000000004.
    return [float(round(start + i * step, 10)) for i in range(n + 1)]


# SVG building ------------------------------------------------------------


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _el(parent: ET.Element, tag: str, text: str | None = None, **attrs: Any) -> ET.Element:
    element = ET.SubElement(parent, tag, {_attr(k): _val(v) for k, v in attrs.items()})
    if text is not None:
        element.text = text
    return element


def _attr(name: str) -> str:
    return name.rstrip("_").replace("_", "-")


def _val(value: Any) -> str:
    return _fmt(value) if isinstance(value, float) else str(value)


def _root(chart_id: str, width: int, height: int, title: str, desc: str) -> ET.Element:
    svg = ET.Element(
        "svg",
        {
            "xmlns": SVG_NS,
            "viewBox": f"0 0 {width} {height}",
            "width": "100%",
            "role": "img",
            "aria-labelledby": f"{chart_id}-title {chart_id}-desc",
            "id": chart_id,
            "class": "chart",
            "font-family": FONT,
            "font-size": "12",
            "style": f"max-width:{width}px;height:auto",
        },
    )
    _el(svg, "title", title, id=f"{chart_id}-title")
    _el(svg, "desc", desc, id=f"{chart_id}-desc")
    return svg


def _to_string(svg: ET.Element) -> str:
    return ET.tostring(svg, encoding="unicode")


def _legend(parent: ET.Element, items: Sequence[tuple[str, str]], x: float, y: float) -> None:
    """A row of colour swatches with names; wraps when wider than the chart."""
    group = _el(parent, "g", class_="legend")
    cx, cy = x, y
    for name, colour in items:
        width = 18 + 7 * len(name)
        if cx > x and cx + width > x + 560:
            cx, cy = x, cy + 18
        _el(group, "rect", x=cx, y=cy - 10, width=12, height=12, fill=colour)
        _el(group, "text", name, x=cx + 16, y=cy, fill=TEXT)
        cx += width + 12


@dataclass(frozen=True)
class _Frame:
    """The plotting area and the y scale of an x/y chart."""

    left: float
    top: float
    width: float
    height: float
    ticks: list[float]

    def y(self, value: float) -> float:
        low, high = self.ticks[0], self.ticks[-1]
        return self.top + self.height * (1 - (value - low) / (high - low))


def _x_labels(categories: Sequence[str]) -> tuple[int, bool]:
    """Label every n-th category, rotated when they would collide."""
    longest = max((len(c) for c in categories), default=1)
    step = max(1, math.ceil(len(categories) / 12))
    rotate = longest * 7 > 560 / max(1, len(categories) / step)
    return step, rotate


def _axes(
    svg: ET.Element,
    frame: _Frame,
    categories: Sequence[str],
    slot: float,
    y_label: str,
    y_format: Format,
) -> None:
    axes = _el(svg, "g", class_="axes", fill=TEXT)
    for tick in frame.ticks:
        y = frame.y(tick)
        _el(axes, "line", x1=frame.left, x2=frame.left + frame.width, y1=y, y2=y, stroke=GRID)
        _el(axes, "text", y_format(tick), x=frame.left - 6, y=y + 4, text_anchor="end")
    bottom = frame.top + frame.height
    _el(axes, "line", x1=frame.left, x2=frame.left + frame.width, y1=bottom, y2=bottom, stroke=TEXT)
    _el(axes, "line", x1=frame.left, x2=frame.left, y1=frame.top, y2=bottom, stroke=TEXT)
    step, rotate = _x_labels(categories)
    for i, category in enumerate(categories):
        if i % step:
            continue
        x = frame.left + slot * (i + 0.5)
        _el(axes, "line", x1=x, x2=x, y1=bottom, y2=bottom + 4, stroke=TEXT)
        if rotate:
            _el(
                axes,
                "text",
                category,
                x=x,
                y=bottom + 14,
                text_anchor="end",
                transform=f"rotate(-40 {_fmt(x)} {_fmt(bottom + 14)})",
            )
        else:
            _el(axes, "text", category, x=x, y=bottom + 18, text_anchor="middle")
    middle = frame.top + frame.height / 2
    _el(
        axes,
        "text",
        y_label,
        x=14,
        y=middle,
        text_anchor="middle",
        transform=f"rotate(-90 14 {_fmt(middle)})",
    )


def _layout(
    categories: Sequence[str], n_legend: int, width: int, height: int
) -> tuple[float, float, float, float]:
    _step, rotate = _x_labels(categories)
    longest = max((len(c) for c in categories), default=1)
    bottom = (min(longest, 24) * 5 + 24) if rotate else 34
    legend = 26 if n_legend > 1 else 0
    left, top = 64.0, 12.0 + legend
    return left, top, width - left - 16, height - top - bottom


def _colours(series: Sequence[Series]) -> list[str]:
    return [s.colour or PALETTE[i % len(PALETTE)] for i, s in enumerate(series)]


def _check(categories: Sequence[str], series: Sequence[Series]) -> None:
    for s in series:
        if len(s.values) != len(categories):
            raise ValueError(
                f"series {s.name!r} has {len(s.values)} values for {len(categories)} categories"
            )


def bar_chart(
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    y_label: str,
    chart_id: str,
    stacked: bool = False,
    lines: Sequence[Series] = (),
    intervals: Sequence[tuple[float, float] | None] = (),
    y_format: Format = count_format,
    width: int = 640,
    height: int = 300,
) -> str:
    """Bars per category, one per series side by side (or ``stacked``), as an SVG string.

    Each bar is a ``<rect class="bar">`` with a ``<title>`` such as
    ``"2024-05-01, positive: 3"``; empty values draw no bar. ``lines`` are drawn over
    the bars (a 7-day average over daily counts); ``intervals`` are (low, high) per
    category of a single series, drawn as ``<path class="interval">`` whiskers.
    """
    _check(categories, [*series, *lines])
    if intervals and (len(intervals) != len(categories) or len(series) != 1):
        raise ValueError("intervals need one series and one (low, high) or None per category")
    colours = _colours(series)
    totals = [
        sum(float(s.values[i] or 0) for s in series)
        if stacked
        else max((float(s.values[i] or 0) for s in series), default=0.0)
        for i in range(len(categories))
    ]
    totals += [float(v) for s in lines for v in s.values if v is not None]
    totals += [high for pair in intervals if pair is not None for high in pair[1:]]
    ticks = nice_ticks(0, max(totals, default=0) or 1, integer=y_format is count_format)
    desc = _describe(categories, [*series, *lines], y_format)
    svg = _root(chart_id, width, height, title, desc)
    left, top, plot_w, plot_h = _layout(categories, len(series) + len(lines), width, height)
    frame = _Frame(left, top, plot_w, plot_h, ticks)
    slot = plot_w / max(len(categories), 1)
    _axes(svg, frame, categories, slot, y_label, y_format)
    bars = _el(svg, "g", class_="bars")
    # A few categories must not make bars half the chart wide.
    group_w = min(slot * 0.8, 48.0 * (1 if stacked else max(len(series), 1)))
    bar_w = group_w if stacked else group_w / max(len(series), 1)
    for i, category in enumerate(categories):
        base = 0.0
        for j, s in enumerate(series):
            value = s.values[i]
            if value is None or value == 0:
                continue
            x = left + slot * i + (slot - group_w) / 2 + (0 if stacked else j * bar_w)
            low, high = (base, base + float(value)) if stacked else (0.0, float(value))
            y_top, y_bottom = frame.y(high), frame.y(low)
            rect = _el(
                bars,
                "rect",
                class_="bar",
                x=x,
                y=y_top,
                width=max(bar_w - (0 if stacked else 1), 0.5),
                height=max(y_bottom - y_top, 0.5),
                fill=colours[j],
                data_series=s.name,
                data_value=float(value),
            )
            _el(rect, "title", f"{category}, {s.name}: {y_format(float(value))}")
            if stacked:
                base = high
    for i, pair in enumerate(intervals):
        if pair is None:
            continue
        x, low_y, high_y = left + slot * (i + 0.5), frame.y(pair[0]), frame.y(pair[1])
        cap = min(bar_w / 4, 6.0)
        whisker = _el(
            bars,
            "path",
            class_="interval",
            d=f"M{_fmt(x - cap)},{_fmt(high_y)}H{_fmt(x + cap)}M{_fmt(x)},{_fmt(high_y)}"
            f"V{_fmt(low_y)}M{_fmt(x - cap)},{_fmt(low_y)}H{_fmt(x + cap)}",
            stroke=TEXT,
            stroke_width=1.5,
            fill="none",
        )
        _el(whisker, "title", f"{categories[i]}: {y_format(pair[0])} to {y_format(pair[1])}")
    line_colours = [s.colour or TEXT for s in lines]
    _polylines(svg, frame, left, slot, categories, lines, line_colours, y_format)
    names = [*zip((s.name for s in series), colours, strict=True)]
    names += [*zip((s.name for s in lines), line_colours, strict=True)]
    if len(names) > 1:
        _legend(svg, names, left, 16)
    return _to_string(svg)


def line_chart(
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    y_label: str,
    chart_id: str,
    y_format: Format = percent_format,
    y_max: float | None = None,
    width: int = 640,
    height: int = 260,
) -> str:
    """Lines through the values of each series; a ``None`` breaks the line.

    Points are ``<circle class="point">`` elements with a ``<title>`` each.
    """
    _check(categories, series)
    colours = _colours(series)
    values = [float(v) for s in series for v in s.values if v is not None]
    top_value = max(values, default=0.0)
    if y_max is not None:
        top_value = max(top_value, y_max)
    ticks = nice_ticks(0, top_value or 1)
    svg = _root(chart_id, width, height, title, _describe(categories, series, y_format))
    left, top, plot_w, plot_h = _layout(categories, len(series), width, height)
    frame = _Frame(left, top, plot_w, plot_h, ticks)
    slot = plot_w / max(len(categories), 1)
    _axes(svg, frame, categories, slot, y_label, y_format)
    _polylines(svg, frame, left, slot, categories, series, colours, y_format)
    if len(series) > 1:
        _legend(svg, list(zip((s.name for s in series), colours, strict=True)), left, 16)
    return _to_string(svg)


def _polylines(
    svg: ET.Element,
    frame: _Frame,
    left: float,
    slot: float,
    categories: Sequence[str],
    series: Sequence[Series],
    colours: Sequence[str],
    y_format: Format,
) -> None:
    """Each series as a line through its values (a ``None`` breaks it), with a
    ``<circle class="point">`` and its ``<title>`` at each value."""
    for j, s in enumerate(series):
        group = _el(svg, "g", class_="series", data_series=s.name)
        runs: list[list[tuple[float, float]]] = [[]]
        for i, value in enumerate(s.values):
            if value is None:
                runs.append([])
                continue
            runs[-1].append((left + slot * (i + 0.5), frame.y(float(value))))
        for run in runs:
            if len(run) > 1:
                points = " ".join(f"{_fmt(x)},{_fmt(y)}" for x, y in run)
                _el(
                    group, "polyline", points=points, fill="none", stroke=colours[j], stroke_width=2
                )
        for i, value in enumerate(s.values):
            if value is None:
                continue
            point = _el(
                group,
                "circle",
                class_="point",
                cx=left + slot * (i + 0.5),
                cy=frame.y(float(value)),
                r=3,
                fill=colours[j],
                data_value=float(value),
            )
            _el(point, "title", f"{categories[i]}, {s.name}: {y_format(float(value))}")


def _describe(categories: Sequence[str], series: Sequence[Series], y_format: Format) -> str:
    if not categories:
        return "No data for this selection."
    parts = []
    for s in series:
        known = [(c, float(v)) for c, v in zip(categories, s.values, strict=True) if v is not None]
        if not known:
            parts.append(f"{s.name}: no values")
            continue
        peak = max(known, key=lambda cv: cv[1])
        parts.append(f"{s.name}: highest {y_format(peak[1])} ({peak[0]})")
    span = categories[0] if len(categories) == 1 else f"{categories[0]} to {categories[-1]}"
    return f"{len(categories)} categories, {span}. " + "; ".join(parts) + "."


# The map -----------------------------------------------------------------


def class_breaks(
    maximum: float, classes: int = len(MAP_CLASSES), *, integer: bool = False
) -> list[float]:
    """Upper bounds of equal-interval classes from 0 to ``maximum`` (rounded up, nice).

    With ``integer`` (counts) classes are at least one wide and end on whole numbers;
    counts smaller than ``classes`` get one class per count.

    >>> class_breaks(10)
    [2.0, 4.0, 6.0, 8.0, 10.0]
    >>> class_breaks(0.23)
    [0.05, 0.1, 0.15, 0.2, 0.25]
    >>> class_breaks(2, integer=True)
    [1.0, 2.0]
    """
    if maximum <= 0:
        return [float(i + 1) for i in range(classes)]
    if integer and maximum < classes:
        return [float(i + 1) for i in range(math.ceil(maximum))]
    raw = maximum / classes
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * 0.999)
    if integer:
        step = float(max(1, math.ceil(step)))
    return [float(round(step * (i + 1), 10)) for i in range(classes)]


def class_colours(breaks: Sequence[float]) -> tuple[str, ...]:
    """The colours of ``breaks``' classes: the darkest ones when there are fewer classes,
    so the largest value is always drawn darkest."""
    return MAP_CLASSES[max(len(MAP_CLASSES) - len(breaks), 0) :]


def map_colour(value: float | None, breaks: Sequence[float]) -> str:
    """The fill for ``value``: no data, zero, or the first class whose bound holds it.

    >>> map_colour(None, [1, 2]), map_colour(0, [1, 2]), map_colour(1.5, [1, 2])
    ('#d9d9d9', '#f7f7f7', '#a50f15')
    """
    if value is None:
        return MAP_NO_DATA
    if value <= 0:
        return MAP_ZERO
    colours = class_colours(breaks)
    for colour, bound in zip(colours, breaks, strict=False):
        if value <= bound + 1e-12:
            return colour
    return colours[-1]


@dataclass(frozen=True)
class _Projection:
    """Equirectangular, x stretched by cos(mean latitude): fine for a country-sized map."""

    west: float
    north: float
    scale: float
    kx: float
    pad: float

    def __call__(self, lon: float, lat: float) -> tuple[float, float]:
        return (
            self.pad + (lon - self.west) * self.kx * self.scale,
            self.pad + (self.north - lat) * self.scale,
        )


def _rings(geometry: Mapping[str, Any]) -> list[list[list[list[float]]]]:
    kind = geometry.get("type")
    if kind == "Polygon":
        return [geometry["coordinates"]]
    if kind == "MultiPolygon":
        return list(geometry["coordinates"])
    raise ValueError(f"cannot draw a {kind} geometry as an area")


def _projection(
    features: Sequence[Mapping[str, Any]], width: int, height: int
) -> tuple[_Projection, float, float]:
    """The projection fitting ``features`` into ``width`` x ``height``, and the drawn size."""
    lons, lats = [], []
    for feature in features:
        for polygon in _rings(feature["geometry"]):
            for ring in polygon:
                lons += [p[0] for p in ring]
                lats += [p[1] for p in ring]
    if not lons:
        raise ValueError("no coordinates to draw")
    west, east, south, north = min(lons), max(lons), min(lats), max(lats)
    kx = math.cos(math.radians((north + south) / 2))
    pad = 8.0
    span_x = max((east - west) * kx, 1e-9)
    span_y = max(north - south, 1e-9)
    scale = min((width - 2 * pad) / span_x, (height - 2 * pad) / span_y)
    return (
        _Projection(west, north, scale, kx, pad),
        span_x * scale + 2 * pad,
        span_y * scale + 2 * pad,
    )


def _path(polygons: list[list[list[list[float]]]], project: _Projection) -> str:
    parts = []
    for polygon in polygons:
        for ring in polygon:
            points = [project(p[0], p[1]) for p in ring]
            head, *rest = points
            parts.append(
                f"M{_fmt(head[0])},{_fmt(head[1])}"
                + "".join(f"L{_fmt(x)},{_fmt(y)}" for x, y in rest)
                + "Z"
            )
    return "".join(parts)


def choropleth(
    geojson: Mapping[str, Any],
    values: Mapping[str, float | None],
    *,
    title: str,
    value_label: str,
    chart_id: str,
    value_format: Format = count_format,
    markers: Sequence[tuple[float, float, str]] = (),
    legend: bool = True,
    labels: bool = True,
    width: int = 640,
    height: int = 480,
) -> str:
    """The regions of ``geojson`` filled by their value in ``values`` (by region code).

    Regions missing from ``values`` (or ``None``) are grey, "no data"; zero is near
    white; the rest fall into five equal-interval classes of the Reds scale,
    shown in the legend. Each region is a ``<path class="region">`` with
    ``data-code``, ``data-value`` and a ``<title>`` ("Old Harbour: 3 positives").
    The picture holds nothing focusable (it is one image to assistive technology):
    a page offers its regions as links in the map's data table instead.
    ``markers`` are points ``(latitude, longitude, label)`` drawn as ``<circle class="marker">``;
    ``labels=False`` leaves the region names off (a small map with a marker).
    """
    features = [f for f in geojson.get("features", []) if f.get("geometry")]
    legend_h = 66 if legend else 0  # two rows of swatches on a narrow map
    map_h = float(height - legend_h)
    project = None
    if features:
        # The picture takes the regions' own shape: no empty band beside a tall country.
        project, drawn_w, map_h = _projection(features, width, height - legend_h)
        width = max(round(drawn_w), 360)
        height = round(map_h + legend_h)
    known = [float(v) for v in values.values() if v is not None]
    whole = value_format is count_format and all(v.is_integer() for v in known)
    breaks = class_breaks(max(known, default=0.0), integer=whole)
    named = ", ".join(
        f"{f['properties'].get('name', f['properties'].get('code'))} "
        f"{_value_text(values.get(f['properties'].get('code')), value_format)}"
        for f in features
    )
    desc = f"{value_label} by region. {named}." if features else "No regions to show."
    if not value_label:
        desc = "Regions: " + ", ".join(
            str(f["properties"].get("name", f["properties"].get("code"))) for f in features
        )
        desc += "." + "".join(f" Marked: {m[2]}." for m in markers)
    svg = _root(chart_id, width, height, title, desc)
    regions = _el(svg, "g", class_="regions", stroke="#555", stroke_width=0.8)
    names = _el(
        svg,
        "g",
        class_="labels",
        fill=TEXT,
        font_size=11,
        text_anchor="middle",
        stroke="#fff",
        stroke_width=3,
        paint_order="stroke",
        aria_hidden="true",
    )
    for feature in features:
        assert project is not None
        props = feature.get("properties", {})
        code = str(props.get("code", ""))
        name = str(props.get("name", code))
        value = values.get(code)
        path = _el(
            regions,
            "path",
            class_="region",
            d=_path(_rings(feature["geometry"]), project),
            fill=map_colour(value, breaks),
            fill_rule="evenodd",
            data_code=code,
            data_value="" if value is None else float(value),
        )
        figure = f": {_value_text(value, value_format)} {value_label}" if value_label else ""
        _el(path, "title", f"{name} ({code}){figure}")
        if not labels:
            continue
        x, y = _label_point(feature["geometry"], project)
        _el(names, "text", name, x=x, y=y)
        if value_label:
            _el(names, "text", _value_text(value, value_format), x=x, y=y + 13, font_weight="bold")
    if project is not None:
        for latitude, longitude, text in markers:
            x, y = project(longitude, latitude)
            marker = _el(
                svg, "circle", class_="marker", cx=x, cy=y, r=7, fill="#b3261e", stroke="#fff",
                stroke_width=2,
            )  # fmt: skip
            _el(marker, "title", f"{text} ({latitude:.5f}, {longitude:.5f})")
    if legend:
        _map_legend(svg, breaks, value_format, value_label, 8, map_h + 6, width)
    return _to_string(svg)


def _value_text(value: float | None, value_format: Format) -> str:
    return "no data" if value is None else value_format(float(value))


def _label_point(geometry: Mapping[str, Any], project: _Projection) -> tuple[float, float]:
    # A point inside the polygon (not the centroid, which may fall outside a concave shape).
    from shapely.geometry import shape

    point = shape(geometry).representative_point()
    return project(point.x, point.y)


def _map_legend(
    svg: ET.Element,
    breaks: Sequence[float],
    fmt: Format,
    label: str,
    x: float,
    y: float,
    width: float,
) -> None:
    group = _el(svg, "g", class_="legend", fill=TEXT)
    _el(group, "text", label, x=x, y=y + 10)
    items = [("no data", MAP_NO_DATA), (fmt(0.0), MAP_ZERO)]
    low = 0.0
    for colour, bound in zip(class_colours(breaks), breaks, strict=False):
        # Whole counts in classes one wide read better as the count itself.
        whole = fmt is count_format and bound - low == 1
        items.append((fmt(bound) if whole else f"{fmt(low)}–{fmt(bound)}", colour))
        low = bound
    cx, cy = x, y + 16
    for text, colour in items:
        item_w = 30 + 7.5 * len(text)
        if cx > x and cx + item_w > width:
            cx, cy = x, cy + 20
        _el(group, "rect", x=cx, y=cy, width=14, height=14, fill=colour, stroke="#555")
        _el(group, "text", text, x=cx + 18, y=cy + 11)
        cx += item_w
