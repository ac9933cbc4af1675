"""``read``: one photo of a used test in, one proposal (``rdt-reading/1``) out.

The steps are small pure functions from the sibling modules; this module only
chains them and decides at which resolution each step runs, because decoding a
12-megapixel JPEG at full size costs more than everything else together.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace

import cv2
import numpy as np

from pipeline.bands import (
    band_probability,
    control_confirms_window,
    doubt_faint_controls,
    find_lines,
    line_features,
    optical_density_profile,
    unknown_where_unreadable,
)
from pipeline.decode import (
    Photo,
    PhotoError,
    PhotoInfo,
    choose_reduction,
    decode_photo,
    probe,
    shrink_photo,
)
from pipeline.fingerprint import dhash
from pipeline.interpret import interpret
from pipeline.kit import Kit
from pipeline.locate import (
    MIN_SCORE,
    MIN_WINDOW_SCORE,
    ROUGH_WINDOW_SCORE,
    Location,
    find_window,
    locate,
    search_reach_mm,
)
from pipeline.quality import (
    AMBIGUOUS_LINES,
    LOCATED_ROUGHLY,
    SOFT_FOCUS,
    QualityCheck,
    cassette_view,
    check_blur,
    check_exposure,
    check_framing,
    check_glare,
    check_resolution,
    photo_problem,
)
from pipeline.reading import Explanation, LineReading, QualityIssue, QualityMetric, Reading
from pipeline.rectify import rectify_window, window_px_per_mm

BandModel = Callable[[np.ndarray], np.ndarray]
"""Maps line features (one row per line) to the probability that each line is present."""

DEFAULT_MODEL = "od-logistic@1"
LOCATE_LONG_SIDE = 1000  # px: enough for the code and the cassette outline, cheap to search
READ_PX_PER_MM = 8.0  # window resolution the band reader wants; finer adds little
MIN_READ_PX_PER_MM = 4.0  # below this, decode the photo again at a finer scale
AMBIGUOUS_CONFIDENCE = 0.8
"""Below this confidence in the result a line is ambiguous: read by eye. The benchmark's
line for a confident answer (``benchmarks/bench_read.py``)."""
BY_EYE_CONFIDENCE = 0.5
"""A reading sent to be read by eye carries at most this confidence: a hint, not a call."""
_NOT_FOUND = ("no_cassette", "wrong_product")


def read(
    photo: bytes,
    kit: Kit,
    *,
    band_model: BandModel | None = None,
    image: str | None = None,
) -> Reading:
    """Read one photo of a used test of ``kit``.

    Parameters
    ----------
    photo : bytes
        The encoded photo (JPEG, PNG, WebP; HEIC where pillow-heif is installed).
    kit : Kit
        The kit the unit belongs to.
    band_model : callable, optional
        Features -> line-present probability (``models.registry.current_band_model()``);
        the default is a calibrated logistic rule on optical density and SNR.
    image : str, optional
        Name of the photo, echoed in the reading.

    Returns
    -------
    Reading
        ``status="ok"`` with a proposal; ``"by_eye"`` with the model's best attempt
        and a low confidence where a person can read the photo but the model is
        unsure; or ``"retake"`` with reasons a patient can act on, the real one
        first. Bad input never raises.

    Examples
    --------
    >>> from pipeline.kit import load_kit
    >>> kit = load_kit("datasets/kits/demo/kit.json")
    >>> r = read(b"not a photo", kit)
    >>> r.status, r.to_json()["quality"]["codes"]
    ('retake', ['not_an_image'])
    """
    started = time.perf_counter()
    model_name = getattr(band_model, "version", DEFAULT_MODEL) if band_model else DEFAULT_MODEL
    reading = _read(photo, kit, band_model or band_probability, model_name)
    elapsed = (time.perf_counter() - started) * 1000
    return replace(reading, elapsed_ms=elapsed, image=image)


def photo_hash(data: bytes) -> str | None:
    """The photo's difference hash as :func:`read` computes it, without reading the test.

    For a caller whose read failed otherwise (a bug in the reader, not a bad photo): the
    same-photo check still gets the hash it would have had. ``None`` for bytes that do not
    decode, or a featureless photo.

    Examples
    --------
    >>> photo_hash(b"not a photo") is None
    True
    """
    try:
        _, _, photo = _first_decode(data)
    except PhotoError:
        return None
    return dhash(photo.image)


def _first_decode(data: bytes) -> tuple[PhotoInfo, int, Photo]:
    """The whole photo decoded once, at the size the search wants (:data:`LOCATE_LONG_SIDE`)."""
    info = probe(data)
    reduce = choose_reduction(info, LOCATE_LONG_SIDE)
    return info, reduce, decode_photo(data, reduce=reduce, info=info)


def _read(data: bytes, kit: Kit, band_model: BandModel, model_name: str) -> Reading:
    try:
        info, reduce, photo = _first_decode(data)
    except PhotoError as exc:
        return Reading.retake([QualityIssue(exc.code, str(exc))], model=model_name)
    # The same-photo check's hash, from this first decode of the whole photo: a 9 x 8
    # average barely depends on the decode's size, and a second decode cost 4 ms a photo.
    # In grey, as the code is read where this decode is searched as it is.
    grey = cv2.cvtColor(photo.image, cv2.COLOR_BGR2GRAY)
    photo_hash = dhash(grey)
    reading = _read_decoded(data, info, reduce, photo, kit, band_model, model_name, grey)
    return replace(reading, photo_hash=photo_hash)


def _read_decoded(
    data: bytes,
    info: PhotoInfo,
    reduce: int,
    photo: Photo,
    kit: Kit,
    band_model: BandModel,
    model_name: str,
    grey: np.ndarray,
) -> Reading:
    try:
        # Found in a view of about LOCATE_LONG_SIDE px (the decode's own detail is kept for
        # reading): searching costs by the pixel, and a photo is decoded once where it can be.
        view = shrink_photo(photo, LOCATE_LONG_SIDE)
        found = locate(view.image, kit, grey=grey if view is photo else None)
        if isinstance(found, QualityIssue) and found.code in _NOT_FOUND:
            # Small kits (strips, or a test far from the camera) may need more pixels; at too
            # few, clutter shaped like the kit may look like another product (read benchmark's
            # wide slice, photo 081: a strip 14 % of the width, "wrong product", then found).
            if reduce > 1:
                photo = decode_photo(data, reduce=max(1, reduce // 4), info=info)
            if reduce > 1 or view is not photo:
                view = photo
                found = locate(view.image, kit)
    except PhotoError as exc:
        return Reading.retake([QualityIssue(exc.code, str(exc))], model=model_name)
    if isinstance(found, QualityIssue):
        # The one real reason first: a photo blurred, dark or washed out all over hides the
        # test, and "hold still" helps more than "we could not find the test".
        problem = photo_problem(view.image) if found.code in _NOT_FOUND else None
        issues = [found] if problem is None or problem == found else [problem, found]
        return Reading.retake(issues, model=model_name)
    location: Location = found
    # From the view's pixels to the decoded photo's.
    to_photo = np.linalg.inv(photo.to_original) @ view.to_original
    homography, window_h = to_photo @ location.homography, to_photo @ location.window
    full_ppm = window_px_per_mm(kit, window_h) / photo.scale
    metrics = _location_metrics(location, kit)

    framing = check_framing(photo.image.shape, window_h, kit)
    resolution = check_resolution(full_ppm)
    metrics |= _metrics(framing, resolution)
    issues = [*framing, *resolution]
    if issues:
        return Reading.retake(
            issues,
            model=model_name,
            code=location.code,
            explanation=_explain(location, view),
            metrics=metrics,
        )

    # Read the bands at a finer decode when the locating scale leaves the window too coarse.
    if window_px_per_mm(kit, window_h) < MIN_READ_PX_PER_MM and photo.scale < 1:
        finer = decode_photo(data, reduce=_finer_reduction(photo, full_ppm), info=info)
        rescale = np.linalg.inv(finer.to_original) @ photo.to_original
        homography, window_h = rescale @ homography, rescale @ window_h
        photo = finer
    rough, rough_window = location.rough, location.rough_window
    if location.window_homography is None and kit.description.format == "cassette":
        # Too coarse to search the window where the test was found: search it here.
        fit = find_window(photo.image, kit, homography)
        if fit is not None and fit.score >= MIN_WINDOW_SCORE and not fit.at_limit:
            window_h = fit.homography
        else:
            rough = True  # read where the print puts the window, by eye
            if (
                fit is not None
                and not fit.at_limit
                and fit.score >= ROUGH_WINDOW_SCORE
                and location.score >= MIN_SCORE
            ):
                window_h, rough_window = fit.homography, True
        if fit is not None:
            metrics["window_agreement"] = QualityMetric(fit.score, MIN_WINDOW_SCORE)
            metrics["window_shift_mm"] = QualityMetric(fit.shift_mm, search_reach_mm(kit))
    ppm = window_px_per_mm(kit, window_h)
    out_ppm = float(np.clip(ppm, MIN_READ_PX_PER_MM, READ_PX_PER_MM))
    window = rectify_window(photo.image, kit, window_h, px_per_mm=out_ppm)
    explanation = Explanation(
        window=window,
        homography=photo.to_original @ window_h,
        locator=location.method,
        px_per_mm=full_ppm,
    )
    # The lines' channel first: exposure and glare are judged where the lines are read.
    profile = optical_density_profile(window, kit, out_ppm)

    surround = cassette_view(photo.image, homography, kit)
    exposure = check_exposure(window, surround, profile.channel)
    glare = check_glare(window, surround, profile.channel, out_ppm, exposure=exposure)
    blur = check_blur(photo.image, window_h, kit)
    metrics |= _metrics(exposure, glare, blur)
    # Blur first: it is the one reason that explains the others.
    issues = [*blur, *exposure, *glare]
    if issues:
        return Reading.retake(
            issues, model=model_name, code=location.code, explanation=explanation, metrics=metrics
        )

    measured = find_lines(profile, kit, out_ppm)
    features = line_features(profile, measured, kit, out_ppm)
    p_present = np.clip(np.asarray(band_model(features), dtype=float).reshape(-1), 0.0, 1.0)
    # A line whose place could not be read is not known to be absent: by eye.
    p_present = unknown_where_unreadable(p_present, measured)
    # Nor is a control too faint to tell from a residue of dye known to be there.
    p_present = doubt_faint_controls(p_present, measured)
    if rough and rough_window and control_confirms_window(measured):
        # The rim agreed only roughly (bevelled, lit from one side); the lines confirm it.
        rough = False
    probabilities = {line.name: float(p) for line, p in zip(kit.lines, p_present, strict=True)}
    verdict = interpret(kit, probabilities)

    lines = {
        line.name: LineReading(
            present=verdict.present[line.name],
            intensity=max(0.0, float(measured[line.name].od)),
            p_present=probabilities[line.name],
            at=measured[line.name].at,
            expected_at=line.at,
        )
        for line in kit.lines
    }
    explanation = replace(explanation, profile=profile.od, baseline=profile.baseline)
    metrics["confidence"] = QualityMetric(verdict.confidence, AMBIGUOUS_CONFIDENCE)
    # A person could read this photo; the model is unsure: a clinician reads it by eye.
    doubts = [
        *([LOCATED_ROUGHLY] if rough else []),
        *([SOFT_FOCUS] if blur.by_eye else []),
        *([AMBIGUOUS_LINES] if verdict.confidence < AMBIGUOUS_CONFIDENCE else []),
    ]
    return Reading(
        status="by_eye" if doubts else "ok",
        result=verdict.result,
        analytes=verdict.analytes,
        lines=lines,
        confidence=min(verdict.confidence, BY_EYE_CONFIDENCE) if doubts else verdict.confidence,
        code=location.code,
        issues=doubts,
        model=model_name,
        explanation=explanation,
        metrics=metrics,
    )


def _metrics(*checks: QualityCheck) -> dict[str, QualityMetric]:
    return {
        name: QualityMetric(value, check.limits.get(name))
        for check in checks
        for name, value in check.metrics.items()
    }


def _location_metrics(location: Location, kit: Kit) -> dict[str, QualityMetric]:
    """How well the print and the window matched the kit, against the acceptance limits."""
    return {
        "print_agreement": QualityMetric(location.score, MIN_SCORE),
        "window_agreement": QualityMetric(location.window_score, MIN_WINDOW_SCORE),
        "window_shift_mm": QualityMetric(
            location.metrics.get("window_shift_mm", math.nan), search_reach_mm(kit)
        ),
    }


def _finer_reduction(photo: Photo, full_ppm: float) -> int:
    """The coarsest finer JPEG scale at which the window reaches ``MIN_READ_PX_PER_MM``."""
    factor = max(1, round(1 / photo.scale) // 2)
    while factor > 1 and full_ppm / factor < MIN_READ_PX_PER_MM:
        factor //= 2
    return factor


def _explain(location: Location, photo: Photo) -> Explanation:
    return Explanation(homography=photo.to_original @ location.homography, locator=location.method)
