"""Orchestration: from a photo to a :class:`Location`, or the reason there is none."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from pipeline.kit import Kit
from pipeline.locate.align import Pyramid, refine
from pipeline.locate.codes import code_homography, find_codes, read_code
from pipeline.locate.geometry import centre_px_per_mm
from pipeline.locate.keypoints import keypoint_hypotheses
from pipeline.locate.outline import box_hypotheses, candidate_boxes
from pipeline.locate.template import kit_model
from pipeline.quality import photo_problem
from pipeline.reading import QualityIssue

NO_CASSETTE = QualityIssue(
    "no_cassette",
    "We could not find the test in the photo. Place the whole test flat in the middle of "
    "the picture, close enough that it fills most of it, and try again.",
)

WRONG_PRODUCT = QualityIssue(
    "wrong_product",
    "This photo shows a different test than the one you registered. Please take a photo "
    "of the test you registered, or register this test first.",
)

MIN_SCORE = 0.7
"""Aligned structural agreement below which the object is not the kit's product."""
MIN_WINDOW_SCORE = 0.5
"""Agreement around the result window below which the window is not where the kit says."""
CODE_SCORE = 0.85
"""Placed from the unit's own code and matching this well elsewhere, the kit is the right one."""
CODE_WINDOW_SCORE = 0.3
"""Window agreement needed then: strong lines crossing the rim band lower it on many-line kits."""

_JUDGE_PPM = 2.5  # px/mm a view needs before it may be called a different product


@dataclass(frozen=True)
class Location:
    """Where the test is in the image.

    Attributes
    ----------
    homography : ndarray
        3x3 map from template pixels to pixels of the image given to :func:`locate`.
    method : str
        ``"code"`` when found from the unit's code, ``"template"`` otherwise.
    code : str or None
        The unit's code text, when it could be read.
    score : float
        0..1, agreement of the photo's structure with the template's after alignment.
    window_score : float
        0..1, the same around the result window only.
    metrics : dict
        Further numbers for explanations and calibration.
    """

    homography: np.ndarray
    method: str
    code: str | None
    score: float
    window_score: float
    metrics: dict[str, float] = field(default_factory=dict)


def locate(image: np.ndarray, kit: Kit, *, codes: bool = True) -> Location | QualityIssue:
    """Find the kit's test in a photo.

    Parameters
    ----------
    image : ndarray
        BGR ``uint8`` photo, ideally reduced to a long side of about 1000 px;
        the homography refers to this image's pixels.
    kit : Kit
    codes : bool
        Look for the unit's code first (``False`` forces the template path).

    Returns
    -------
    Location or QualityIssue
        The issue's code is ``"no_cassette"`` or ``"wrong_product"``.

    Examples
    --------
    >>> from pipeline.kit import load_kit
    >>> kit = load_kit("datasets/kits/demo/kit.json")
    >>> locate(np.full((480, 640, 3), 128, np.uint8), kit).code
    'no_cassette'
    """
    pyramid = Pyramid(image)
    tried: list[Location] = []

    def attempt(
        start: np.ndarray, method: str, code: str | None = None, coarse: bool = True
    ) -> Location:
        h, metrics = refine(image, kit, start, coarse=coarse, pyramid=pyramid)
        found = Location(h, method, code, metrics["score"], metrics["window_score"], metrics)
        tried.append(found)
        return found

    # 1. The unit's code: its corners place the template to within a millimetre or two.
    sightings = find_codes(image) if codes and kit.code_box is not None else []
    for sighting in sightings:
        # Near the code the start is good to a fraction of a millimetre: skip the coarse pass
        # unless perspective far from the code needs it.
        start = code_homography(kit, sighting)
        for coarse in (False, True):
            found = attempt(start, "code", sighting.text, coarse)
            if accepted(found):
                return found
    code_seen = bool(sightings)

    # 2. The template alone: keypoints of the print, then outline-shaped regions.
    # A photo blurred, dark or washed out all over hides the print the search relies on:
    # say so at once rather than search in vain.
    problem = photo_problem(image)
    if problem is not None:
        return problem

    def outline_starts() -> Iterator[np.ndarray]:
        boxes: list[tuple[float, np.ndarray]] = []
        for box in candidate_boxes(image, kit_model(kit).aspect):
            boxes += box_hypotheses(kit, pyramid, box)
        boxes.sort(key=lambda item: -item[0])
        yield from (h for _, h in boxes[:4])

    # The outline search only runs when the print's keypoints did not place the kit.
    for start in itertools.chain(keypoint_hypotheses(image, kit), outline_starts()):
        found = attempt(start, "template")
        if accepted(found):
            if codes and kit.code_box is not None:
                read = read_code(image, kit, found.homography)
                if read is not None:
                    found = replace(found, code=read.text)
            return found

    # 3. Nothing that matches: say why as helpfully as we can.
    # Only a sharp, well resolved view in full sight can tell one product from another.
    judged = [
        f
        for f in tried
        if f.metrics.get("seen", 0.0) > 0.5
        and not math.isnan(f.score)
        and centre_px_per_mm(kit, f.homography) >= _JUDGE_PPM
    ]
    best = max(judged, key=lambda f: f.score, default=None)
    if best is not None and (code_seen or best.metrics.get("outline_score", 0.0) > 0.6):
        # A unit code, or something the size and shape of the kit, in full view and sharp,
        # whose print and window do not match the kit's.
        return WRONG_PRODUCT
    return NO_CASSETTE


def accepted(found: Location) -> bool:
    # A window hidden by glare (no score there) does not count against the location; the
    # quality gates report the glare.
    if math.isnan(found.window_score):
        return found.score >= MIN_SCORE
    if found.method == "code" and found.score >= CODE_SCORE:
        return found.window_score >= CODE_WINDOW_SCORE
    return found.score >= MIN_SCORE and found.window_score >= MIN_WINDOW_SCORE
