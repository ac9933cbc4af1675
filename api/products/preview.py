"""A picture of a kit's template with its geometry drawn on it, for the manufacturer to check.

The window, the lines and the code box are drawn from the kit description with
the same geometry the pipeline reads photos with (``pipeline.rectify``), so a
wrong ``at`` or a window in the wrong place shows up here before any photo is read.
"""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.kit import Kit
from pipeline.rectify import window_corners, window_to_template

# BGR colours (Okabe-Ito): the window blue, control lines green, test lines vermilion.
WINDOW = (178, 114, 0)
CONTROL = (115, 158, 0)
TEST = (0, 94, 213)
CODE_BOX = (167, 121, 204)
LABEL_BG = (255, 255, 255)
MAX_SIDE = 900


def _on_checkerboard(bgra: np.ndarray) -> np.ndarray:
    """Composite the template over a light checkerboard so transparent parts read as such."""
    h, w = bgra.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    board = np.where(((yy // 12 + xx // 12) % 2)[..., None] == 0, 238, 255).astype(np.float32)
    alpha = bgra[..., 3:4].astype(np.float32) / 255.0
    out = bgra[..., :3].astype(np.float32) * alpha + board * (1.0 - alpha)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _label(
    image: np.ndarray,
    text: str,
    at: tuple[float, float],
    colour: tuple[int, ...],
    outward: tuple[float, float] = (1.0, 0.0),
) -> None:
    """Text in ``colour`` on a white box placed beside ``at`` on the ``outward`` side.

    The box grows away from ``at`` (rightwards when ``outward`` points right, and
    so on), so it never covers what it names; it is kept inside the image.
    """
    scale = max(image.shape[:2]) / 900 * 0.75
    thickness = max(1, round(scale * 2))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    dx, dy = outward
    if abs(dx) >= abs(dy):
        x = at[0] if dx >= 0 else at[0] - tw
        y = at[1] + th / 2
    else:
        x = at[0] - tw / 2
        y = at[1] + th if dy >= 0 else at[1] - base
    x = int(min(max(x, 4), image.shape[1] - tw - 4))
    y = int(min(max(y, th + 4), image.shape[0] - base - 2))
    cv2.rectangle(image, (x - 3, y - th - 3), (x + tw + 3, y + base + 1), LABEL_BG, -1)
    cv2.putText(
        image, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thickness, cv2.LINE_AA
    )


def render_preview(kit: Kit, max_side: int = MAX_SIDE) -> np.ndarray:
    """The template (BGR) with the result window, each line (named), the flow and the code box.

    Parameters
    ----------
    kit : Kit
    max_side : int
        Small templates are enlarged so the longer side has about this many pixels.

    Returns
    -------
    ndarray
        ``uint8`` BGR image.
    """
    base = _on_checkerboard(kit.template)
    factor = max(1.0, max_side / max(base.shape[:2]))
    image = cv2.resize(base, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
    # Geometry in template pixels, then scaled: the homography of an identity photo.
    scale = np.diag([factor, factor, 1.0])
    corners = window_corners(kit, scale)
    thickness = max(2, round(factor * 1.5))
    cv2.polylines(image, [np.round(corners).astype(np.int32)], True, WINDOW, thickness, cv2.LINE_AA)

    to_px = scale @ window_to_template(kit)
    length, width = kit.window_length_mm, kit.window_width_mm
    # Unit vectors in the image: along the flow (u) and across it (v).
    along = _unit(to_px[:2, 0])
    across = _unit(to_px[:2, 1])
    line_px = max(1, round(kit.line_width_mm * kit.px_per_mm * factor))
    overlay = image.copy()
    for line in kit.lines:
        u = line.at * length
        colour = CONTROL if line.role == "control" else TEST
        a = to_px @ np.array([u, 0.0, 1.0])
        b = to_px @ np.array([u, width, 1.0])
        cv2.line(overlay, _pt(a), _pt(b), colour, line_px, cv2.LINE_AA)
    # Lines half transparent: the printed marks underneath stay visible.
    image = cv2.addWeighted(overlay, 0.55, image, 0.45, 0)
    for line in kit.lines:
        # Named just outside the window, on the v < 0 side, growing away from it.
        u = line.at * length
        colour = CONTROL if line.role == "control" else TEST
        beside = to_px @ np.array([u, -1.0, 1.0])
        _label(image, f"{line.name} ({line.role})", _xy(beside), colour, (-across[0], -across[1]))

    # The flow: an arrow on the other side of the window, from the sample side onwards.
    start = to_px @ np.array([0.0, width + 2.0, 1.0])
    end = to_px @ np.array([min(length, 8.0), width + 2.0, 1.0])
    cv2.arrowedLine(image, _pt(start), _pt(end), WINDOW, thickness, cv2.LINE_AA, tipLength=0.3)
    side = to_px @ np.array([min(length, 8.0) / 2, width + 3.0, 1.0])
    _label(image, "flow", _xy(side), WINDOW, (across[0], across[1]))
    sample = to_px @ np.array([-1.0, width / 2, 1.0])
    _label(image, "window", _xy(sample), WINDOW, (-along[0], -along[1]))

    box = kit.code_box
    if box is not None:
        p0 = (round(box.x * factor), round(box.y * factor))
        p1 = (round((box.x + box.size) * factor), round((box.y + box.size) * factor))
        cv2.rectangle(image, p0, p1, CODE_BOX, thickness, cv2.LINE_AA)
        _label(image, "code", ((p0[0] + p1[0]) / 2, p0[1] - 4), CODE_BOX, (0.0, -1.0))
    return image


def _unit(vector: np.ndarray) -> tuple[float, float]:
    norm = float(np.hypot(vector[0], vector[1])) or 1.0
    return float(vector[0]) / norm, float(vector[1]) / norm


def _xy(homogeneous: np.ndarray) -> tuple[float, float]:
    return float(homogeneous[0] / homogeneous[2]), float(homogeneous[1] / homogeneous[2])


def _pt(homogeneous: np.ndarray) -> tuple[int, int]:
    return round(homogeneous[0] / homogeneous[2]), round(homogeneous[1] / homogeneous[2])


def preview_png(kit: Kit, max_side: int = MAX_SIDE) -> bytes:
    """:func:`render_preview` encoded as PNG."""
    ok, buffer = cv2.imencode(".png", render_preview(kit, max_side))
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 BGR image
        raise RuntimeError("could not encode the preview")
    return bytes(buffer.tobytes())
