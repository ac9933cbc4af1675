"""Rendered photos: truth, photometry (OD), geometry (homography), QR code and flaws."""

from __future__ import annotations

import numpy as np
import pytest
import zxingcpp

from datasets.kits import benchmark_kits, random_kit
from datasets.render import FLAWS, VISIBLE_OD, kit_truth, render_photo, to_linear, to_srgb
from pipeline.kit import Kit, load_kit, parse_kit
from pipeline.rectify import rectify_window, window_corners

SIZE = (1024, 768)


@pytest.fixture(scope="module")
def demo() -> Kit:
    return load_kit("datasets/kits/demo/kit.json")


@pytest.fixture(scope="module")
def bench() -> list[Kit]:
    return [parse_kit(d, t) for d, t in benchmark_kits()]


def _profile(image: np.ndarray, kit: Kit, hom: np.ndarray, ppm: float = 10.0) -> np.ndarray:
    """Mean encoded value over the central half of the window's width, per column (cols, 3).

    Optical density is defined on encoded pixel values, as the example photos' truth is.
    """
    strip = rectify_window(image, kit, hom, px_per_mm=ppm).astype(np.float64)
    rows = strip.shape[0]
    return strip[rows // 4 : rows - rows // 4].mean(axis=0)


def _measured_od(image: np.ndarray, kit: Kit, hom: np.ndarray, at: float) -> float:
    """rdt-reading/1 intensity: -log10(line centre / membrane beside it), strongest channel."""
    ppm = 10.0
    prof = _profile(image, kit, hom, ppm)
    cols = np.arange(prof.shape[0])
    centre_col = at * prof.shape[0] - 0.5
    off = (kit.line_width_mm / 2 + 1.0) * ppm

    def at_col(c: float) -> np.ndarray:
        return np.array([np.interp(c, cols, prof[:, ch]) for ch in range(3)])

    beside = (at_col(centre_col - off) + at_col(centre_col + off)) / 2
    return float((-np.log10(at_col(centre_col) / beside)).max())


def test_srgb_round_trip() -> None:
    values = np.arange(256, dtype=np.uint8)
    assert np.array_equal(to_srgb(to_linear(values)), values)


def test_truth_follows_the_kit_criteria(demo: Kit, bench: list[Kit]) -> None:
    t = kit_truth(demo, {"T": 0.0, "C": 0.4}, "U1", None)
    assert t == {
        "code": "U1",
        "fit": True,
        "flaw": None,
        "od": {"T": 0.0, "C": 0.4},
        "result": "negative",
        "analytes": {"SARS-CoV-2 antigen": "negative"},
    }
    assert kit_truth(demo, {"T": 0.2, "C": VISIBLE_OD / 2}, "U1")["result"] == "invalid"
    assert kit_truth(demo, {"T": 0.2, "C": VISIBLE_OD / 2}, "U1")["analytes"] == {}
    assert kit_truth(demo, {"T": 0.3, "C": 0.4}, None, "blur")["fit"] is False
    # Competitive kit: a visible test line means negative, no line means positive.
    thc = next(k for k in bench if k.product_code == "BENCH-THC-DOA")
    assert kit_truth(thc, {"THC": 0.3, "C": 0.5}, "U")["result"] == "negative"
    assert kit_truth(thc, {"THC": 0.0, "C": 0.5}, "U")["result"] == "positive"
    # Two analytes, reported separately.
    flu = next(k for k in bench if k.product_code == "BENCH-FLU-AB")
    t = kit_truth(flu, {"A": 0.0, "B": 0.05, "C": 0.5}, "U")
    assert t["analytes"] == {"Influenza A antigen": "negative", "Influenza B antigen": "positive"}


def test_rendered_truth_matches_request(demo: Kit) -> None:
    photo = render_photo(
        demo, np.random.default_rng(0), od={"T": 0.04567, "C": 0.5}, code="X", size=SIZE
    )
    assert photo.truth["od"] == {"T": 0.0457, "C": 0.5}
    assert photo.truth["result"] == "positive"
    assert photo.truth["fit"] is True
    assert photo.image.shape == (768, 1024, 3)
    assert photo.image.dtype == np.uint8
    assert photo.jpeg[:2] == b"\xff\xd8"
    assert photo.decoded().shape == photo.image.shape
    with pytest.raises(ValueError, match="lines the kit does not have"):
        render_photo(demo, np.random.default_rng(0), od={"X": 0.1}, code=None, size=SIZE)


def test_same_seed_same_photo(demo: Kit) -> None:
    a = render_photo(
        demo, np.random.default_rng(9), od={"T": 0.1, "C": 0.5}, code="C0DE", size=SIZE
    )
    b = render_photo(
        demo, np.random.default_rng(9), od={"T": 0.1, "C": 0.5}, code="C0DE", size=SIZE
    )
    assert a.jpeg == b.jpeg
    assert a.homography is not None
    assert b.homography is not None
    assert np.array_equal(a.homography, b.homography)


def test_clean_render_od_matches_request(demo: Kit, bench: list[Kit]) -> None:
    kits = [demo, *bench, parse_kit(*random_kit(np.random.default_rng(1), flow="left"))]
    for i, kit in enumerate(kits):
        rng = np.random.default_rng(100 + i)
        ods = {line.name: float(rng.choice([0.03, 0.08, 0.25, 0.7])) for line in kit.lines}
        photo = render_photo(kit, rng, od=ods, code="OD", size=SIZE, clean=True)
        assert photo.homography is not None
        for line in kit.lines:
            got = _measured_od(photo.image, kit, photo.homography, photo.line_at[line.name])
            want = ods[line.name]
            # 10 %, or the 8-bit quantisation floor of a noise-free photo.
            assert got == pytest.approx(want, rel=0.1, abs=0.003), (kit.product_code, line.name)


def test_homography_finds_window_and_lines(demo: Kit, bench: list[Kit]) -> None:
    for i, kit in enumerate([demo, *bench]):
        control = next(line for line in kit.lines if line.role == "control")
        ods = {line.name: 0.0 for line in kit.lines} | {control.name: 0.6}
        photo = render_photo(
            kit, np.random.default_rng(7 + i), od=ods, code="H", size=SIZE, clean=True
        )
        assert photo.homography is not None
        prof = _profile(photo.image, kit, photo.homography)
        # Away from the control line the window is bare membrane: bright and even.
        n = prof.shape[0]
        c = int(photo.line_at[control.name] * n)
        bare = np.r_[
            prof[n // 10 : max(n // 10 + 1, c - 25)], prof[min(c + 25, n - 1) : n - n // 10]
        ]
        assert (bare.std(axis=0) / bare.mean(axis=0)).max() < 0.06
        # The line's centre of darkness is where the control line was put (within 0.15 mm).
        od = (-np.log10(prof / np.median(prof, axis=0))).max(axis=1)
        od[: n // 20] = od[n - n // 20 :] = 0  # the rim at the window ends is no line
        weight = np.where(od > od.max() / 2, od, 0.0)
        centre = (np.sum(weight * (np.arange(n) + 0.5)) / weight.sum()) / n
        assert abs(centre - photo.line_at[control.name]) * kit.window_length_mm < 0.15
        # The line's shift from its nominal place stays within 1.5 mm + jitter.
        shift_mm = (photo.line_at[control.name] - control.at) * kit.window_length_mm
        assert abs(shift_mm) <= 1.75
        # Window corners are inside the photo and 6+ px/mm.
        corners = window_corners(kit, photo.homography)
        assert (corners >= 0).all()
        assert (corners < SIZE).all()
        assert photo.window_px_per_mm is not None
        assert photo.window_px_per_mm > 4.5


def test_qr_code_decodes_to_the_unit_code(demo: Kit, bench: list[Kit]) -> None:
    kits = [demo, bench[0], bench[1]]
    for i, kit in enumerate(kits):
        code = f"VIGIL-{i:04d}-XYZ"
        photo = render_photo(
            kit, np.random.default_rng(30 + i), od={"C": 0.5}, code=code, size=(1600, 1200)
        )
        texts = [b.text for b in zxingcpp.read_barcodes(photo.decoded())]
        assert code in texts, (kit.product_code, texts)


def test_flaws_are_really_unreadable(demo: Kit) -> None:
    od = {"T": 0.2, "C": 0.5}
    photos = {
        f: render_photo(
            demo, np.random.default_rng(50 + k), od=od, code="FLAWCODE1234", flaw=f, size=SIZE
        )
        for k, f in enumerate(FLAWS)
    }
    assert all(p.truth["fit"] is False and p.truth["flaw"] == f for f, p in photos.items())
    assert photos["no_cassette"].homography is None
    far = photos["far"]
    assert far.window_px_per_mm is not None
    assert far.window_px_per_mm < 3
    cut = photos["cutoff"]
    assert cut.homography is not None
    corners = window_corners(demo, cut.homography)
    inside = (
        (corners[:, 0] >= 0)
        & (corners[:, 0] < SIZE[0])
        & (corners[:, 1] >= 0)
        & (corners[:, 1] < SIZE[1])
    )
    assert not inside.all()
    assert photos["dark"].image.mean() < 40
    for name in ("overexposed", "glare"):
        p = photos[name]
        assert p.homography is not None
        window = rectify_window(p.image, demo, p.homography, px_per_mm=5)
        assert (window.max(axis=2) >= 250).mean() > 0.3, name
    blurred = photos["blur"]
    assert not any(b.text == "FLAWCODE1234" for b in zxingcpp.read_barcodes(blurred.decoded()))
    with pytest.raises(ValueError, match="unknown flaw"):
        render_photo(demo, np.random.default_rng(0), od=od, code=None, flaw="smudge", size=SIZE)
