"""``read``: one photo of a used test in, one proposal (``rdt-reading/1``) out.

The steps are small pure functions from the sibling modules; this module only
chains them and decides at which resolution each step runs, because decoding a
12-megapixel JPEG at full size costs more than everything else together.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from pipeline.bands import band_probability, find_lines, line_features, optical_density_profile
from pipeline.decode import Photo, PhotoError, choose_reduction, decode_photo, probe
from pipeline.interpret import interpret
from pipeline.kit import Kit
from pipeline.locate import Location, locate
from pipeline.quality import (
    cassette_view,
    check_blur,
    check_exposure,
    check_framing,
    check_glare,
    check_resolution,
)
from pipeline.reading import Explanation, LineReading, QualityIssue, Reading
from pipeline.rectify import rectify_window, window_px_per_mm

BandModel = Callable[[np.ndarray], np.ndarray]
"""Maps line features (one row per line) to the probability that each line is present."""

DEFAULT_MODEL = "od-logistic@1"
LOCATE_LONG_SIDE = 1000  # px: enough for the code and the cassette outline, cheap to search
READ_PX_PER_MM = 8.0  # window resolution the band reader wants; finer adds little
MIN_READ_PX_PER_MM = 4.0  # below this, decode the photo again at a finer scale


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
        ``status="ok"`` with a proposal, or ``status="retake"`` with reasons a
        patient can act on. Bad input never raises.

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


def _read(data: bytes, kit: Kit, band_model: BandModel, model_name: str) -> Reading:
    try:
        info = probe(data)
        reduce = choose_reduction(info, LOCATE_LONG_SIDE)
        photo = decode_photo(data, reduce=reduce, info=info)
        found = locate(photo.image, kit)
        if isinstance(found, QualityIssue) and found.code == "no_cassette" and reduce > 1:
            # Small kits (strips, or a test far from the camera) may need more pixels.
            photo = decode_photo(data, reduce=max(1, reduce // 4), info=info)
            found = locate(photo.image, kit)
    except PhotoError as exc:
        return Reading.retake([QualityIssue(exc.code, str(exc))], model=model_name)
    if isinstance(found, QualityIssue):
        return Reading.retake([found], model=model_name)
    location: Location = found
    homography = location.homography
    full_ppm = window_px_per_mm(kit, homography) / photo.scale

    issues = [*check_framing(photo.image.shape, homography, kit), *check_resolution(full_ppm)]
    if issues:
        return Reading.retake(
            issues, model=model_name, code=location.code, explanation=_explain(location, photo)
        )

    # Read the bands at a finer decode when the locating scale leaves the window too coarse.
    if window_px_per_mm(kit, homography) < MIN_READ_PX_PER_MM and photo.scale < 1:
        finer = decode_photo(data, reduce=_finer_reduction(photo, full_ppm), info=info)
        homography = np.linalg.inv(finer.to_original) @ photo.to_original @ homography
        photo = finer
    ppm = window_px_per_mm(kit, homography)
    out_ppm = float(np.clip(ppm, MIN_READ_PX_PER_MM, READ_PX_PER_MM))
    window = rectify_window(photo.image, kit, homography, px_per_mm=out_ppm)
    to_full = photo.to_original @ homography
    explanation = Explanation(
        window=window, homography=to_full, locator=location.method, px_per_mm=full_ppm
    )

    surround = cassette_view(photo.image, homography, kit)
    issues = [*check_exposure(window, surround), *check_glare(window, surround)]
    issues += check_blur(photo.image, homography, kit)
    if issues:
        return Reading.retake(issues, model=model_name, code=location.code, explanation=explanation)

    profile = optical_density_profile(window, kit, out_ppm)
    measured = find_lines(profile, kit, out_ppm)
    features = line_features(profile, measured, kit, out_ppm)
    p_present = np.clip(np.asarray(band_model(features), dtype=float).reshape(-1), 0.0, 1.0)
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
    return Reading(
        status="ok",
        result=verdict.result,
        analytes=verdict.analytes,
        lines=lines,
        confidence=verdict.confidence,
        code=location.code,
        issues=[],
        model=model_name,
        explanation=explanation,
    )


def _finer_reduction(photo: Photo, full_ppm: float) -> int:
    """The coarsest finer JPEG scale at which the window reaches ``MIN_READ_PX_PER_MM``."""
    factor = max(1, round(1 / photo.scale) // 2)
    while factor > 1 and full_ppm / factor < MIN_READ_PX_PER_MM:
        factor //= 2
    return factor


def _explain(location: Location, photo: Photo) -> Explanation:
    return Explanation(homography=photo.to_original @ location.homography, locator=location.method)
