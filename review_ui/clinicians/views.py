"""What the clinicians' pages show, computed from stored rows: no pipeline runs here.

The explanation pictures are drawn as SVG from the numbers kept with the
proposal (``Proposal.explanation``): the window image with the found and
expected line places marked and named, and the optical-density profile.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

if TYPE_CHECKING:
    from api.products.schemas import KitDescription

# Reasons a clinician picks from; the retake ones are shown to the patient as they are.
CHANGE_REASONS = (
    "A faint test line is visible that the model missed",
    "The mark at the test line is a smudge, shadow or reflection, not a line",
    "The control line is missing or too faint",
    "A line is in the wrong place for this kit",
    "The line colour is wrong for this kit",
)
RETAKE_REASONS = (
    "The photo is blurred: hold the phone still and take it again.",
    "The result window is not fully in the photo: take it again with the whole test visible.",
    "The photo is too dark: take it again in good light.",
    "There is glare on the result window: tilt the test away from the light.",
    "The photo was taken outside the reading time: use a new test and read it in time.",
    "The test looks damaged or flooded: use a new test.",
)
AGE_FILTERS = (
    (30, "over 30 minutes"),
    (60, "over 1 hour"),
    (240, "over 4 hours"),
    (1440, "over 1 day"),
)
PAGE_SIZE = 25

_FOUND = "#1a7f37"
_ABSENT = "#b3261e"
_EXPECTED = "#0b5cad"


@dataclass
class LineMark:
    name: str
    role: str
    present: bool | None
    intensity: float | None
    p_present: float | None
    at: float | None
    expected_at: float | None
    analyte: str | None = None


@dataclass
class Explained:
    """An item's explanation, ready for the templates."""

    lines: list[LineMark] = field(default_factory=list)
    window_url: str | None = None
    window_svg: Markup | None = None
    profile_svg: Markup | None = None
    profile: list[float] = field(default_factory=list)


def line_marks(
    kit: KitDescription, reading: dict[str, Any], kept: dict[str, Any] | None
) -> list[LineMark]:
    """Each kit line with what the reading found; expected places from the kit."""
    measured = reading.get("lines") or {}
    stored = (kept or {}).get("lines") or {}
    marks = []
    for line in kit.lines:
        name = line.name
        got = measured.get(name) or {}
        extra = stored.get(name) or {}
        marks.append(
            LineMark(
                name=name,
                role=line.role,
                analyte=line.analyte,
                present=got.get("present"),
                intensity=got.get("intensity"),
                p_present=got.get("p_present"),
                at=extra.get("at", got.get("at")),
                expected_at=extra.get("expected_at", line.at),
            )
        )
    return marks


def explain(
    kit: KitDescription, reading: dict[str, Any], kept: dict[str, Any] | None, window_url: str
) -> Explained:
    marks = line_marks(kit, reading, kept)
    result = Explained(lines=marks)
    if kept and kept.get("window_sha256") and kept.get("window_size"):
        width, height = kept["window_size"]
        result.window_url = window_url
        result.window_svg = window_svg(window_url, int(width), int(height), marks)
    if kept and kept.get("profile"):
        result.profile = [float(v) for v in kept["profile"]]
        result.profile_svg = profile_svg(result.profile, marks)
    return result


def _f(value: float) -> str:
    return f"{value:.1f}"


def window_svg(url: str, width: int, height: int, marks: list[LineMark]) -> Markup:
    """The rectified window (sample side left) with expected places dashed and found lines
    marked and named above it."""
    scale = max(1, round(600 / max(width, 1)))
    w, h = width * scale, height * scale
    band = 28
    parts = [
        f'<svg class="window-svg" viewBox="0 0 {w} {h + band}" role="img" '
        f'aria-labelledby="window-title window-desc" xmlns="http://www.w3.org/2000/svg">',
        '<title id="window-title">Result window, straightened, sample side on the left</title>',
    ]
    said = []
    for mark in marks:
        where = "not found" if mark.at is None else f"found at {mark.at:.0%} of the window"
        state = "" if mark.present is None else (" (present)" if mark.present else " (absent)")
        expected = "" if mark.expected_at is None else f", expected at {mark.expected_at:.0%}"
        said.append(f"{mark.name} line {where}{state}{expected}.")
    parts.append(f'<desc id="window-desc">{escape(" ".join(said))}</desc>')
    parts.append(
        f'<image href="{escape(url)}" x="0" y="{band}" width="{w}" height="{h}" '
        'preserveAspectRatio="none" class="pixelated"/>'
    )
    for mark in marks:
        if mark.expected_at is not None:
            x = mark.expected_at * w
            parts.append(
                f'<line x1="{_f(x)}" y1="{band}" x2="{_f(x)}" y2="{h + band}" stroke="{_EXPECTED}" '
                'stroke-width="2" stroke-dasharray="6 4"/>'
            )
        if mark.at is not None:
            x = mark.at * w
            colour = _FOUND if mark.present else _ABSENT
            parts.append(
                f'<line x1="{_f(x)}" y1="4" x2="{_f(x)}" y2="{band - 2}" stroke="{colour}" '
                'stroke-width="4"/>'
            )
            parts.append(
                f'<text x="{_f(x + 6)}" y="{band - 8}" fill="{colour}" font-size="16" '
                f'font-weight="700">{escape(mark.name)}</text>'
            )
        elif mark.expected_at is not None:
            parts.append(
                f'<text x="{_f(mark.expected_at * w + 6)}" y="{band - 8}" fill="{_EXPECTED}" '
                f'font-size="14">{escape(mark.name)}?</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # every value above is escaped or a number


def profile_svg(profile: list[float], marks: list[LineMark]) -> Markup:
    """The optical-density profile along the flow with the expected line places."""
    width, height = 640, 240
    left, right, top, bottom = 48, 12, 14, 38
    plot_w, plot_h = width - left - right, height - top - bottom
    low = min(0.0, min(profile))
    high = max(max(profile), max((m.intensity or 0.0) for m in marks) if marks else 0.0)
    high = high * 1.15 if high > 0 else 1.0
    n = len(profile)

    def x_of(fraction: float) -> float:
        return left + fraction * plot_w

    def y_of(value: float) -> float:
        return top + (1 - (value - low) / (high - low)) * plot_h

    points = " ".join(f"{_f(x_of((i + 0.5) / n))},{_f(y_of(v))}" for i, v in enumerate(profile))
    parts = [
        f'<svg class="profile-plot" viewBox="0 0 {width} {height}" role="img" '
        'aria-labelledby="profile-title profile-desc" xmlns="http://www.w3.org/2000/svg">',
        '<title id="profile-title">Optical density along the flow</title>',
    ]
    peaks = []
    for mark in marks:
        if mark.at is not None and mark.intensity is not None:
            peaks.append(f"{mark.name} {mark.intensity:.3f} at {mark.at:.0%}")
    desc = "Peaks: " + ("; ".join(peaks) if peaks else "none found") + "."
    parts.append(f'<desc id="profile-desc">{escape(desc)}</desc>')
    # Axes and grid.
    for k in range(5):
        value = low + (high - low) * k / 4
        y = y_of(value)
        parts.append(
            f'<line x1="{left}" y1="{_f(y)}" x2="{width - right}" y2="{_f(y)}" stroke="#d0d7de"/>'
        )
        parts.append(
            f'<text x="{left - 6}" y="{_f(y + 4)}" text-anchor="end" font-size="11" '
            f'fill="#57606a">{value:.2f}</text>'
        )
    for k in range(6):
        x = x_of(k / 5)
        parts.append(
            f'<text x="{_f(x)}" y="{height - bottom + 16}" text-anchor="middle" font-size="11" '
            f'fill="#57606a">{k / 5:.1f}</text>'
        )
    parts.append(
        f'<text x="{left + plot_w / 2}" y="{height - 4}" text-anchor="middle" font-size="12" '
        'fill="#1b1f24">position along the flow (sample side = 0)</text>'
    )
    parts.append(
        f'<text x="12" y="{top + plot_h / 2}" text-anchor="middle" font-size="12" fill="#1b1f24" '
        f'transform="rotate(-90 12 {top + plot_h / 2})">OD</text>'
    )
    parts.append(
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" '
        'stroke="#8c959f"/>'
    )
    for mark in marks:
        if mark.expected_at is not None:
            x = x_of(mark.expected_at)
            parts.append(
                f'<line x1="{_f(x)}" y1="{top}" x2="{_f(x)}" y2="{top + plot_h}" '
                f'stroke="{_EXPECTED}" stroke-dasharray="5 4"/>'
            )
            # Named at the foot of the plot, clear of the peaks' labels at the top.
            parts.append(
                f'<text x="{_f(x + 4)}" y="{top + plot_h - 6}" font-size="12" '
                f'fill="{_EXPECTED}">{escape(mark.name)} expected</text>'
            )
    parts.append(f'<polyline points="{points}" fill="none" stroke="#1b1f24" stroke-width="1.5"/>')
    for mark in marks:
        if mark.at is not None and mark.intensity is not None:
            x, y = x_of(mark.at), y_of(mark.intensity)
            colour = _FOUND if mark.present else _ABSENT
            triangle = f"M{_f(x - 6)},{_f(y - 12)} L{_f(x + 6)},{_f(y - 12)} L{_f(x)},{_f(y - 2)} Z"
            parts.append(f'<path d="{triangle}" fill="{colour}"/>')
            parts.append(
                f'<text x="{_f(x + 8)}" y="{_f(y - 14)}" font-size="12" font-weight="700" '
                f'fill="{colour}">{escape(mark.name)} {mark.intensity:.3f}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def without_findings(kept: dict[str, Any] | None) -> dict[str, Any] | None:
    """A proposal's explanation without where the model found lines (a blind reading):
    the window image and the measured profile stay, the kit's expected places too."""
    if kept is None:
        return None
    return {key: value for key, value in kept.items() if key != "lines"}


def page_numbers(total: int, page: int, size: int = PAGE_SIZE) -> dict[str, int | None]:
    pages = max(1, -(-total // size))
    page = min(max(page, 1), pages)
    return {
        "page": page,
        "pages": pages,
        "previous": page - 1 if page > 1 else None,
        "next": page + 1 if page < pages else None,
        "first_index": (page - 1) * size + 1 if total else 0,
        "last_index": min(page * size, total),
    }
