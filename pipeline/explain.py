"""Pictures that explain a reading to a clinician: the marked window and the profile plot.

Both return data (an image array, or encoded image bytes); writing files is
the caller's business.
"""

from __future__ import annotations

import io

import cv2
import numpy as np

from pipeline.reading import Reading

_FOUND = (40, 170, 40)  # green: where a line was measured
_EXPECTED = (200, 120, 0)  # blue-ish: where the template puts it


def marked_window(reading: Reading, *, scale: int = 4) -> np.ndarray | None:
    """The rectified window, enlarged, with each line's found and expected place marked.

    Parameters
    ----------
    reading : Reading
        A reading whose explanation carries a window image.
    scale : int
        Integer enlargement, so thin lines stay visible on screen.

    Returns
    -------
    ndarray or None
        BGR image, sample side on the left; ``None`` when the reading has
        no window (a photo that could not be located).

    Examples
    --------
    >>> from pipeline.reading import Explanation, LineReading
    >>> window = np.full((20, 100, 3), 230, np.uint8)
    >>> r = Reading("ok", "negative", {}, {"C": LineReading(True, 0.5, 1.0, 0.6, 0.62)}, 0.9,
    ...             None, [], "m@1", explanation=Explanation(window=window))
    >>> marked_window(r, scale=2).shape
    (52, 200, 3)
    """
    window = reading.explanation.window
    if window is None:
        return None
    big = cv2.resize(window, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    band = 12 * max(1, scale // 2)
    canvas = cv2.copyMakeBorder(big, band, 0, 0, 0, cv2.BORDER_CONSTANT, value=(255, 255, 255))
    width = big.shape[1]
    for name, line in reading.lines.items():
        if line.expected_at is not None:
            x = round(line.expected_at * width)
            cv2.line(canvas, (x, band), (x, canvas.shape[0] - 1), _EXPECTED, 1)
        if line.at is not None:
            x = round(line.at * width)
            colour = _FOUND if line.present else (0, 0, 200)
            cv2.line(canvas, (x, 0), (x, band - 2), colour, 2)
            cv2.putText(
                canvas,
                name,
                (x + 3, band - 3),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.3 * max(1, scale // 2),
                colour,
                1,
                cv2.LINE_AA,
            )
    return canvas


def profile_plot(reading: Reading, *, fmt: str = "png") -> bytes | None:
    """The optical-density profile along the flow, with expected and found line places.

    Parameters
    ----------
    reading : Reading
    fmt : {"png", "svg"}
        Encoding of the returned image.

    Returns
    -------
    bytes or None
        The encoded plot; ``None`` when the reading has no profile.
    """
    profile = reading.explanation.profile
    if profile is None or len(profile) == 0:
        return None
    # Imported here: matplotlib is slow to import and only explanations need it.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 2.4), dpi=100)
    ax = fig.add_subplot()
    x = np.linspace(0, 1, len(profile), endpoint=False) + 0.5 / len(profile)
    ax.plot(x, profile, color="black", linewidth=1, label="optical density")
    for name, line in reading.lines.items():
        if line.expected_at is not None:
            ax.axvline(line.expected_at, color="tab:blue", linestyle="--", linewidth=0.8)
        if line.at is not None:
            colour = "tab:green" if line.present else "tab:red"
            ax.plot([line.at], [line.intensity], "v", color=colour)
            ax.annotate(
                f"{name} {line.intensity:.3f}",
                (line.at, line.intensity),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize=8,
            )
    ax.set_xlim(0, 1)
    ax.set_xlabel("position along the flow (sample side = 0)")
    ax.set_ylabel("OD")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt)
    return buf.getvalue()
