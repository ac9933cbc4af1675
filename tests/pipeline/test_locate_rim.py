"""A moulded rim lit from one side is a window found well, not a rough find or another product.

Regression: the rim's agreement was one correlation over the whole band, so a bevel lit
bright on one side and shaded on the other (its sides of very different contrast) measured
0.43-0.56 on fit photos of a many-line kit: read by eye, or "wrong product" below 0.45
(main mix of the read benchmark: 5 by_eye, 2 wrong_product). Each side is now judged on
its own scale (``pipeline.locate.window._sides_zncc``).
"""

from __future__ import annotations

import numpy as np
import pytest

from datasets.kits import benchmark_kits
from datasets.render import render_photo
from datasets.render.variation import Variation
from pipeline.decode import decode_photo
from pipeline.kit import Kit, parse_kit
from pipeline.locate import Location, locate
from pipeline.rectify import window_corners, window_px_per_mm


@pytest.fixture(scope="module")
def many_lines() -> Kit:
    """A held-out four-line cassette design (dengue NS1/IgM/IgG, a control)."""
    for doc, template in benchmark_kits(20261126):
        if len(doc["lines"]) == 4 and doc["format"] == "cassette":
            return parse_kit(doc, template)
    raise AssertionError("no four-line cassette among the benchmark kits")


@pytest.mark.parametrize("seed", [2, 4])
def test_bevelled_rim_lit_from_one_side_is_found_well(many_lines: Kit, seed: int) -> None:
    rng = np.random.default_rng(seed)
    lit = Variation(
        rim_bevel_mm=0.4,
        rim_light_deg=90.0 * seed,
        rim_shadow=0.3,
        optics_sigma_px=1.0,
        denoise=15.0,
        sharpen_amount=0.8,
        sharpen_radius_px=1.3,
    )
    od = {line.name: (0.4 if line.role == "control" else 0.3) for line in many_lines.lines}
    photo = render_photo(
        many_lines, rng, od=od, code=f"BEV{seed}", size=(1600, 1200), variation=lit
    )
    assert photo.homography is not None
    found = locate(decode_photo(photo.jpeg).image, many_lines)
    assert isinstance(found, Location), found
    assert found.accepted
    assert not found.rough
    own = window_corners(many_lines, photo.homography)
    gap = np.linalg.norm(window_corners(many_lines, found.window) - own, axis=1).max()
    assert gap / window_px_per_mm(many_lines, photo.homography) < 0.5
