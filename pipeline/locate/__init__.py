"""Find the test in a photo: a homography from the kit's template to the photo.

Two ways in, one way to finish:

* **code path** (:mod:`~pipeline.locate.codes`) -- the unit's code (QR) is
  decoded with zxing-cpp; its corners, matched to the kit's ``code_box``, give a
  *coarse* pose. The code may sit on a label stuck on by hand, millimetres and
  degrees off the template's box, so it gives identity and a start, never the
  final geometry.
* **template path** -- for kits without a code box and photos whose code
  cannot be read (blur, glare): SIFT keypoints of the print
  (:mod:`~pipeline.locate.keypoints`), then candidate cassette outlines tried in
  every orientation and placed by a structure profile
  (:mod:`~pipeline.locate.outline`).

Both finish by aligning the template's *structure* (gradient magnitude, so the
cassette's colour does not matter) to the photo (:mod:`~pipeline.locate.align`),
with the code box and the window's membrane masked out because they differ from
unit to unit (:mod:`~pipeline.locate.template` prepares the template once per
content). Real units of one product are not identical: the moulded window sits
up to 1.5 mm off the print, so the window itself is then found in the photo
(:mod:`~pipeline.locate.window`) within stated tolerances. The aligned
agreement tells the kit's product from another one
(:mod:`~pipeline.locate.find` orchestrates and decides).

All coordinates are pixel centres on integers (OpenCV's convention).
"""

from pipeline.locate.align import refine
from pipeline.locate.codes import CodeSighting, code_homography, find_codes, read_code
from pipeline.locate.find import (
    CODE_SCORE,
    CODE_WINDOW_SCORE,
    MIN_SCORE,
    MIN_WINDOW_SCORE,
    NO_CASSETTE,
    ROUGH_SCORE,
    ROUGH_WINDOW_SCORE,
    WRONG_PRODUCT,
    Location,
    judge,
    locate,
)
from pipeline.locate.window import WindowFit, find_window, search_reach_mm

__all__ = [
    "CODE_SCORE",
    "CODE_WINDOW_SCORE",
    "MIN_SCORE",
    "MIN_WINDOW_SCORE",
    "NO_CASSETTE",
    "ROUGH_SCORE",
    "ROUGH_WINDOW_SCORE",
    "WRONG_PRODUCT",
    "CodeSighting",
    "Location",
    "WindowFit",
    "code_homography",
    "find_codes",
    "find_window",
    "judge",
    "locate",
    "read_code",
    "refine",
    "search_reach_mm",
]
