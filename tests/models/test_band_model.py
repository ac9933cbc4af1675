"""The committed ONNX band model: loads, gives probabilities, follows the line evidence."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from datasets.render import render_photo
from models.band_model import BandModel, BandModelError
from models.registry import current_band_model, load_registry
from pipeline.bands import FEATURE_NAMES, find_lines, line_features, optical_density_profile
from pipeline.kit import Kit, load_kit
from pipeline.rectify import rectify_window

MODELS = Path(__file__).resolve().parents[2] / "models"


@pytest.fixture(scope="module")
def model() -> BandModel:
    found = current_band_model()
    assert isinstance(found, BandModel), "a trained band model should be promoted"
    return found


@pytest.fixture(scope="module")
def demo() -> Kit:
    return load_kit("datasets/kits/demo/kit.json")


def test_current_model_is_a_small_registered_onnx_file(model: BandModel) -> None:
    registry = load_registry()
    entry = next(m for m in registry["models"] if m["version"] == registry["current"])
    path = MODELS / entry["file"]
    assert path.suffix == ".onnx"
    assert path.stat().st_size < 2_000_000
    assert model.version == registry["current"]
    assert set(entry["features"]) == set(FEATURE_NAMES)


def test_probabilities_are_in_unit_interval(model: BandModel) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(0, 5, size=(200, len(FEATURE_NAMES))).astype(np.float32)
    x[:5] = np.nan  # degenerate rows must not crash
    p = model(x)
    assert p.shape == (200,)
    assert np.all((p >= 0) & (p <= 1))
    assert model(np.zeros((0, len(FEATURE_NAMES)), np.float32)).shape == (0,)


def test_wrong_feature_count_is_refused(model: BandModel) -> None:
    with pytest.raises(BandModelError):
        model(np.zeros((1, len(FEATURE_NAMES) + 1), np.float32))


def test_unloadable_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "x.onnx"
    bad.write_bytes(b"not onnx")
    with pytest.raises(BandModelError):
        BandModel.from_file(bad)


def test_probability_rises_with_od_on_clean_windows(model: BandModel, demo: Kit) -> None:
    ods = [0.0, 0.012, 0.03, 0.08, 0.3]
    p_test = []
    for od in ods:
        photo = render_photo(
            demo,
            np.random.default_rng(3),
            od={"T": od, "C": 0.5},
            code="MONO0001",
            size=(960, 720),
            clean=True,
        )
        assert photo.homography is not None
        window = rectify_window(photo.decoded(), demo, photo.homography, px_per_mm=8.0)
        profile = optical_density_profile(window, demo, 8.0)
        feats = line_features(profile, find_lines(profile, demo), demo)
        p = model(feats)
        assert p[1] > 0.9  # the control
        p_test.append(float(p[0]))
    assert p_test[0] < 0.5
    assert min(p_test[2:]) > 0.9
    assert all(b >= a - 0.05 for a, b in itertools.pairwise(p_test))
