"""The photo at halving resolutions, and views of it through a homography.

Each alignment step samples the level nearest its own scale, which stands in for
anti-aliasing and keeps warps of a large photo cheap.
"""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.color import channel_max, channel_min
from pipeline.locate.geometry import local_scale


class Pyramid:
    """The photo at halving resolutions, built on demand.

    Parameters
    ----------
    image : ndarray
        The photo, BGR ``uint8``.
    ignore : list of ndarray, optional
        Polygons (photo px) whose content is no evidence for or against the kit:
        the unit's code label where it was found (it may be stuck on anywhere).

    Examples
    --------
    >>> p = Pyramid(np.zeros((400, 300, 3), np.uint8))
    >>> p.level(4.0), [lv.shape[:2] for lv in p.levels]
    (2, [(400, 300), (200, 150), (100, 75)])
    """

    def __init__(self, image: np.ndarray, ignore: list[np.ndarray] | None = None) -> None:
        self.levels = [image]
        self.ignore = list(ignore or [])

    def level(self, ratio: float) -> int:
        """The coarsest level with at least one pixel per frame pixel, built on demand."""
        k = 0
        while ratio / 2 ** (k + 1) >= 1.0 and min(self.levels[k].shape[:2]) > 64:
            k += 1
            if k == len(self.levels):
                self.levels.append(cv2.pyrDown(self.levels[-1]))
        return k

    def warp(
        self,
        homography: np.ndarray,
        frame_to_template: np.ndarray,
        size: tuple[int, int],
        *,
        judge: bool = True,
        clipped_unseen: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The photo seen in a frame through ``homography`` (template -> photo), and where
        that view is real: inside the picture, not clipped white, and, when the view is
        to ``judge`` the product by, not an ignored region (matching patches is robust to
        a label by itself, and the print around a printed code is good evidence of place).

        ``frame_to_template`` maps frame px to template px; ``size`` is (width, height).
        ``clipped_unseen=False`` leaves clipped pixels in the view's extent, for a caller
        that judges them itself.
        """
        m = homography @ frame_to_template
        ratio = local_scale(m, (size[0] / 2, size[1] / 2))
        k = self.level(ratio)
        d = np.diag([0.5**k, 0.5**k, 1.0])
        # Outside the picture reads as pure black: one warp gives the view and its extent.
        # From the level's three channels as they are: a four-channel copy warps faster
        # (OpenCV's vector path) but is 3 MB of fresh memory a read at 1000 x 750, whose
        # page faults, and those it causes later by the heap's trimming, cost more.
        view = cv2.warpPerspective(
            self.levels[k],
            d @ m,
            size,
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(0, 0, 0),
        )
        real = channel_max(view) > 0
        if clipped_unseen:
            real &= channel_min(view) < 250
        if judge:
            hidden = self.ignored(homography, frame_to_template, size)
            if hidden is not None:
                real &= ~hidden
        return view, real

    def ignored(
        self, homography: np.ndarray, frame_to_template: np.ndarray, size: tuple[int, int]
    ) -> np.ndarray | None:
        """Where a frame seen as in :meth:`warp` shows an ignored region (bool), or None
        when there is none: for a caller that warped with ``judge=False`` and now judges.
        """
        if not self.ignore:
            return None
        hidden = np.zeros((size[1], size[0]), np.uint8)
        to_frame = np.linalg.inv(homography @ frame_to_template)
        for polygon in self.ignore:
            pts = cv2.perspectiveTransform(polygon.reshape(-1, 1, 2).astype(np.float64), to_frame)
            cv2.fillPoly(hidden, [np.round(pts).astype(np.int32)], 1)
        return hidden > 0
