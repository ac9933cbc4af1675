"""Orchestration: from a photo to a :class:`Location`, or the reason there is none."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from pipeline.kit import Kit
from pipeline.locate.align import refine
from pipeline.locate.codes import code_homography, find_codes, read_code
from pipeline.locate.geometry import centre_px_per_mm, corners_apart_mm
from pipeline.locate.keypoints import FINE_KEYPOINT_SIDE, keypoint_hypotheses
from pipeline.locate.outline import box_hypotheses, candidate_boxes
from pipeline.locate.pyramid import Pyramid
from pipeline.locate.silhouette import colour_agreement, silhouette
from pipeline.locate.template import kit_model
from pipeline.locate.window import find_window
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

MIN_SCORE = 0.6
"""Aligned agreement of the print (window and code left out) from which the object is the
kit's product. Units of the kit's own product measure 0.79-0.90 on rendered photos, units
misregistered by 1.5 mm included; other products' designs 0.0-0.4 (tests/pipeline)."""
ROUGH_SCORE = 0.4
"""From here to :data:`MIN_SCORE` the print agrees only roughly (real phone photos of the
right product measured 0.40-0.58 before the window search): read, but by eye."""
MIN_WINDOW_SCORE = 0.6
"""Agreement of the window's rim where it was found (:func:`find_window`, side by side),
from which the window is found well: a kit's units measure 0.93-1.0 on rendered photos
(misregistered by 1.5 mm included), 0.7 with a code label stuck over the rim, 0.58-0.98 with
bevelled rims lit from one side and phone processing (read benchmark's main mix, true
place); a kit whose window sits 40 mm elsewhere finds nothing better than 0.39 on the
example photos (tests/pipeline)."""
ROUGH_WINDOW_SCORE = 0.45
"""From here to :data:`MIN_WINDOW_SCORE`, or with the window well matched but on the edge
of its tolerance, the window was found only roughly: read, but by eye."""
BACKED_SCORE = 0.5
"""Print agreement from which a window found clearly (:data:`BACKING_WINDOW_SCORE`) makes
the object the kit's product: two pieces of evidence, each short of proof alone. Halfway
between other products' designs (0.0-0.4) and the print of the right product on real units
whose hand-applied label covers part of it (0.40-0.58 on phone photos; 0.593 on the read
benchmark's wide slice, photo 036, its window found at 0.87 and read right at
confidence 1.0)."""
BACKING_WINDOW_SCORE = 0.75
"""Window agreement that backs a print agreeing from :data:`BACKED_SCORE`: clearly above the
best a wrong place finds (0.39) and the rough band of bevelled rims lit from one side."""
CODE_SCORE = 0.85
"""Placed from the unit's own code and matching this well elsewhere, the kit is the right one."""
CODE_WINDOW_SCORE = 0.45
"""Window agreement needed then: strong lines crossing the rim band lower it on many-line kits."""
PLACED_WINDOW_SCORE = 0.5
"""For strips (no window search): agreement around the window at the print's place."""
STRIP_CODE_WINDOW_SCORE = 0.3
"""... and that agreement for a strip placed from its code and matching well elsewhere."""
MIN_SCORE_STRIP = 0.7
"""For strips: the print's agreement needed, as before the window search existed (a strip
slid along its length still matches much of its own print)."""
SILHOUETTE_SHARE = 0.8
"""For strips: share of the placed outline along which the photo shows an edge
(:func:`~pipeline.locate.silhouette.silhouette`) from which the strip's own outline is
there. The 66 fit strip photos of the read benchmark's two slices measure 0.84-1.0 at
their true place (seen at the locating size); the places the locator tried on its three
small strips on ruled paper (wide slice 016, 087, 143), 30-270 mm off, 0.0-0.1. A strip
turned end for end measures as much: :data:`COLOUR_SCORE` tells its ends apart."""
COLOUR_SCORE = 0.6
"""For strips: correlation of the face's colours with the template's
(:func:`~pipeline.locate.silhouette.colour_agreement`) from which its ends lie the right
way round: 0.91-1.0 at the true places of those 66 photos, -0.93 to -0.16 turned end
for end."""
LABEL_MARGIN = 0.35
"""Around a code found in the photo, this share of its side is label (paper edge, quiet
zone): stuck on by hand anywhere, it is evidence neither for nor against the product."""

RIVAL_MM = 2.0
"""A place tried before whose print agreed better and whose corners lie further than this
from the accepted place makes the accepted place doubtful (read by eye): a rendered strip
was accepted 35 mm from itself (print 0.72) after its true place (print 0.76) failed only
on its window's agreement (tests/pipeline/test_locate_strip.py)."""

FINE_OUTLINE_DETAIL = 2.0
"""The outline search's image sizes times this, in that finer look: a strip 12 % of a 12-MP
photo's width is 8 px across at the usual 720 px, its sides broken by the table's ruling
(read benchmark's wide slice: photo 081, "wrong product", found here within 0.5 mm; photo
138, a cassette, "not found", read right here)."""

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
        Agreement of the window's rim where the window was found (NaN: not in view).
    metrics : dict
        Further numbers for explanations and calibration.
    window_homography : ndarray or None
        3x3 map from template pixels to image pixels that puts the template's window
        where the window itself was found (:func:`find_window`); ``None`` where the
        image was too coarse to search it (use ``homography``, or search a finer image).
    rough : bool
        Found only roughly (print or window agree only roughly): a person can read
        the photo, the model should not alone.
    accepted : bool
        Judged the kit's product, found well (:func:`judge`).
    rough_window : bool
        Rough only because the window's rim agreed roughly (within its tolerance), the
        print well: the lines may confirm the window
        (:func:`pipeline.bands.control_confirms_window`).
    """

    homography: np.ndarray
    method: str
    code: str | None
    score: float
    window_score: float
    metrics: dict[str, float] = field(default_factory=dict)
    window_homography: np.ndarray | None = None
    rough: bool = False
    accepted: bool = False
    rough_window: bool = False

    @property
    def window(self) -> np.ndarray:
        """3x3 map from template pixels to image pixels for the result window."""
        return self.homography if self.window_homography is None else self.window_homography


def locate(
    image: np.ndarray, kit: Kit, *, codes: bool = True, grey: np.ndarray | None = None
) -> Location | QualityIssue:
    """Find the kit's test in a photo.

    Parameters
    ----------
    image : ndarray
        BGR ``uint8`` photo, ideally reduced to a long side of about 1000 px;
        the homography refers to this image's pixels.
    kit : Kit
    codes : bool
        Look for the unit's code first (``False`` forces the template path).
    grey : ndarray, optional
        ``image`` in grey (``cv2.COLOR_BGR2GRAY``) where the caller has it: the code is
        read in grey.

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
    looked_at = image if grey is None else grey
    sightings = find_codes(looked_at) if codes and kit.code_box is not None else []
    pyramid = Pyramid(image, ignore=[_label(s.corners) for s in sightings])
    tried: list[Location] = []
    backed: list[Location] = []  # the kit's, on print and window together: taken if no better

    def attempt(
        start: np.ndarray, method: str, code: str | None = None, coarse: bool = True
    ) -> Location:
        h, metrics = refine(image, kit, start, coarse=coarse, pyramid=pyramid)
        # Where the print does not match, no window can make it the kit: skip the search. A
        # bare strip has no moulded window to search (its membrane is the strip itself, and
        # a strip slid along its length would match anywhere): there the agreement around
        # the window at the print's place judges, as it always did.
        searched = kit.description.format == "cassette" and metrics["score"] >= ROUGH_SCORE
        if kit.description.format == "strip":
            # A strip's outline and colours pin its place and its ends, where its edge
            # structure (mostly its two long sides) matches along much of its length.
            metrics["silhouette"] = silhouette(pyramid, kit, h)
            metrics["colour_score"] = colour_agreement(pyramid, kit, h)
        fit = find_window(pyramid, kit, h) if searched else None
        window_h = None
        if fit is not None:
            metrics.update(fit.metrics())
            window_h = fit.homography
        elif searched:
            # Too coarse here to search the window: the reader searches it in a finer image.
            metrics["window_score"] = math.nan
        found = Location(h, method, code, metrics["score"], metrics["window_score"], metrics)
        found = replace(found, window_homography=window_h)
        at_limit = fit is not None and fit.at_limit
        verdict = judge(found, at_limit, searched=searched)
        rough = verdict == "rough"
        found = replace(
            found,
            rough=rough,
            accepted=verdict == "ok",
            # A window at the edge of its tolerance may lie beyond it: no line confirms that.
            rough_window=rough and metrics["score"] >= MIN_SCORE and not at_limit,
        )
        tried.append(found)
        if verdict == "backed":
            backed.append(found)
        return found

    # 1. The unit's code: identity, and a coarse pose (it may sit on a label stuck on by
    # hand, millimetres and degrees off the template's box).
    for sighting in sightings:
        # Near a printed code the start is good to a fraction of a millimetre: skip the coarse
        # pass unless perspective far from the code needs it.
        start = code_homography(kit, sighting)
        for coarse in (False, True):
            found = attempt(start, "code", sighting.text, coarse)
            if found.accepted:
                return found
    code_seen = bool(sightings)

    # 2. The template alone: keypoints of the print, then outline-shaped regions.
    # A photo blurred or dark all over hides the print the search relies on: say so at once
    # rather than search in vain. Not one mostly clipped white: a white table in bright light
    # clips while the test on it is well exposed (the reader says why if it is not found).
    problem = photo_problem(image)
    if problem is not None and problem.code != "overexposed":
        return problem

    def outline_starts(detail: float = 1.0) -> Iterator[np.ndarray]:
        boxes: list[tuple[float, np.ndarray]] = []
        for box in candidate_boxes(image, kit_model(kit).aspect, detail):
            boxes += box_hypotheses(kit, pyramid, box)
        boxes.sort(key=lambda item: -item[0])
        yield from (h for _, h in boxes[:4])

    def with_code(found: Location) -> Location:
        if sightings:  # the code seen anywhere on the unit: a label need not sit in the box
            return replace(found, code=sightings[0].text)
        if codes and kit.code_box is not None:
            read = read_code(image, kit, found.homography)
            if read is not None:
                return replace(found, code=read.text)
        return found

    def finer() -> Iterator[np.ndarray]:
        # Last, and only where the photo has the pixels (the reader's finer decode after the
        # first found nothing): a small test's print and outline at finer detail.
        if max(image.shape[:2]) >= FINE_KEYPOINT_SIDE:
            yield from keypoint_hypotheses(image, kit, FINE_KEYPOINT_SIDE)
            yield from outline_starts(FINE_OUTLINE_DETAIL)

    # The outline search only runs when the print's keypoints did not place the kit.
    starts = itertools.chain(keypoint_hypotheses(image, kit), outline_starts(), finer())
    for start in starts:
        found = attempt(start, "template")
        if found.accepted:
            rival = any(
                f.score > found.score
                and corners_apart_mm(kit, found.homography, f.homography) > RIVAL_MM
                for f in tried
            )
            # Two places claim the kit, the print prefers the one rejected: a person decides.
            return with_code(replace(found, rough=True, accepted=False) if rival else found)

    # 3. The kit's product on print and window together (BACKED_SCORE): taken only now, since
    # a later place may agree better (a code's coarse pass after its fine one).
    if backed:
        best_backed = max(backed, key=lambda f: f.score + f.window_score)
        best_backed = replace(best_backed, accepted=True)
        return best_backed if best_backed.code else with_code(best_backed)

    # 4. Found only roughly: a person can read it, so a clinician does, by eye.
    rough = [f for f in tried if f.rough]
    if rough:
        best_rough = max(rough, key=lambda f: f.score + np.nan_to_num(f.window_score))
        return best_rough if best_rough.code else with_code(best_rough)

    # 5. Nothing that matches: say why as helpfully as we can.
    # Only a sharp, well resolved view in full sight can tell one product from another.
    judged = [
        f
        for f in tried
        if f.metrics.get("seen", 0.0) > 0.5
        and not math.isnan(f.score)
        and centre_px_per_mm(kit, f.homography) >= _JUDGE_PPM
    ]
    best = max(judged, key=lambda f: f.score, default=None)
    if best is not None and (code_seen or _kit_shaped(kit, best)):
        # A unit code, or something the size and shape of the kit, in full view and sharp,
        # whose print and window do not match the kit's.
        return WRONG_PRODUCT
    return NO_CASSETTE


def _kit_shaped(kit: Kit, found: Location) -> bool:
    """Whether something the kit's size and shape lies where ``found`` put the template.

    For a strip, its outline in colour (:data:`SILHOUETTE_SHARE`): the edge structure
    along a thin outline is as strong between two ruled lines of a page (wide-slice photos
    016 and 087, strips on ruled paper, were "wrong product" where nothing was found).
    """
    if kit.description.format == "strip":
        return found.metrics.get("silhouette", 0.0) >= SILHOUETTE_SHARE
    return found.metrics.get("outline_score", 0.0) > 0.6


def judge(found: Location, window_at_limit: bool = False, *, searched: bool = True) -> str:
    """``"ok"``: the kit's product, its window found well; ``"backed"``: the kit's product on
    print and window together (:data:`BACKED_SCORE`), to take where no place is ``"ok"``;
    ``"rough"``: the kit's product found only roughly (read by eye); ``"no"``: not the kit's
    product, or not found.

    A window hidden by glare or beyond the picture (no score there) does not count
    against the location; the quality gates report it. ``searched=False``: the window
    score is the agreement at the print's place (strips), judged by the limits for that;
    failing those, a strip whose outline shows all round, the right way round
    (``metrics`` ``silhouette`` and ``colour_score``), is judged on its print alone.

    Examples
    --------
    >>> found = Location(np.eye(3), "template", None, 0.8, 0.9)
    >>> judge(found), judge(replace(found, window_score=0.5)), judge(replace(found, score=0.2))
    ('ok', 'rough', 'no')
    >>> judge(replace(found, score=0.55)), judge(replace(found, score=0.55, window_score=0.7))
    ('backed', 'rough')
    >>> strip = replace(found, score=0.65, window_score=0.4)
    >>> outlined = replace(strip, metrics={"silhouette": 0.95, "colour_score": 0.9})
    >>> judge(strip, searched=False), judge(outlined, searched=False)
    ('no', 'ok')
    """
    score, window = found.score, found.window_score
    if math.isnan(score):
        return "no"
    if not searched:  # a strip: the rules from before the window search, then its outline
        if _placed_strip_ok(found):
            return "ok"
        outlined = (
            found.metrics.get("silhouette", 0.0) >= SILHOUETTE_SHARE
            and found.metrics.get("colour_score", 0.0) >= COLOUR_SCORE
        )
        if not outlined:
            return "no"
        # The strip's own outline, the right way round: the print need agree only as much
        # as a cassette's must, where its outline pins it too (no sliding along).
        if score >= MIN_SCORE:
            return "ok"
        return "rough" if score >= ROUGH_SCORE else "no"
    if math.isnan(window):
        # No window in view to back a print that agrees only roughly: no evidence of the kit
        # (wide-slice photo 005: a print agreeing 0.42 at four times the kit's true size, less
        # than half of it inside the picture, was answered "window out of frame").
        return "ok" if score >= MIN_SCORE else "no"
    trusted = found.method == "code" and score >= CODE_SCORE and window >= CODE_WINDOW_SCORE
    if not window_at_limit and (trusted or (score >= MIN_SCORE and window >= MIN_WINDOW_SCORE)):
        return "ok"
    if not window_at_limit and score >= BACKED_SCORE and window >= BACKING_WINDOW_SCORE:
        return "backed"
    # A window at the edge of its tolerance counts only where it matches well.
    window_floor = MIN_WINDOW_SCORE if window_at_limit else ROUGH_WINDOW_SCORE
    if (score >= ROUGH_SCORE or trusted) and window >= window_floor:
        return "rough"
    return "no"


def _placed_strip_ok(found: Location) -> bool:
    """A strip's print and the agreement around its window at the print's place suffice."""
    score, window = found.score, found.window_score
    if math.isnan(window):
        return score >= MIN_SCORE_STRIP
    if found.method == "code" and score >= CODE_SCORE:
        return window >= STRIP_CODE_WINDOW_SCORE
    return score >= MIN_SCORE_STRIP and window >= PLACED_WINDOW_SCORE


def _label(corners: np.ndarray) -> np.ndarray:
    """The label around a code symbol's corners: the symbol grown by :data:`LABEL_MARGIN`."""
    centre = corners.mean(axis=0)
    return centre + (corners - centre) * (1 + 2 * LABEL_MARGIN)
