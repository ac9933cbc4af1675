"""Registry: the promoted model loads, integrity is checked, promotion needs a better model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from models.band_model import BandModelError
from models.registry import (
    RuleBandModel,
    band_model,
    current_band_model,
    load_registry,
    promote,
    save_registry,
)
from pipeline.bands import FEATURE_NAMES

MODELS = Path(__file__).resolve().parents[2] / "models"

GOOD = {
    "log_loss": 0.05,
    "specificity": 0.996,
    "sensitivity_faint": 0.96,
    "sensitivity_weak": 0.995,
    "sensitivity_strong": 1.0,
    "invalid_detected": 0.99,
}


def test_promote_needs_lower_log_loss_and_no_safety_loss() -> None:
    assert promote(GOOD, None)
    assert promote({**GOOD, "log_loss": 0.04}, GOOD)
    assert not promote(GOOD, GOOD)  # equal is not better
    assert not promote({**GOOD, "log_loss": 0.06}, GOOD)
    # Better fit overall but worse at faint lines or specificity: refused.
    assert not promote({**GOOD, "log_loss": 0.03, "sensitivity_faint": 0.90}, GOOD)
    assert not promote({**GOOD, "log_loss": 0.03, "specificity": 0.98}, GOOD)
    # Within the tolerance for sampling noise: allowed.
    assert promote({**GOOD, "log_loss": 0.04, "specificity": 0.995}, GOOD)
    # A candidate that lacks a guarded metric cannot be judged: refused.
    lacking = {k: v for k, v in GOOD.items() if k != "invalid_detected"}
    assert not promote({**lacking, "log_loss": 0.01}, GOOD)


def test_committed_registry_names_a_loadable_current_model() -> None:
    registry = load_registry()
    assert registry["current"]
    model = band_model(registry["current"])
    assert model.version == registry["current"]
    assert model(np.zeros((1, len(FEATURE_NAMES)), np.float32)).shape == (1,)


def test_every_registered_model_loads_and_the_first_is_kept_for_comparison() -> None:
    registry = load_registry()
    versions = [m["version"] for m in registry["models"]]
    assert "band-classifier@1" in versions
    for item in registry["models"]:
        model = band_model(item["version"])
        assert (MODELS / item["file"]).stat().st_size < 1_000_000
        assert model(np.zeros((2, len(FEATURE_NAMES)), np.float32)).shape == (2,)


def test_tampered_model_file_is_refused(tmp_path: Path) -> None:
    registry = load_registry()
    entry = next(m for m in registry["models"] if m["version"] == registry["current"])
    shutil.copy(MODELS / entry["file"], tmp_path / entry["file"])
    save_registry(registry, tmp_path / "registry.json")
    assert band_model(entry["version"], tmp_path / "registry.json").version == entry["version"]
    with (tmp_path / entry["file"]).open("ab") as f:
        f.write(b"\0")
    with pytest.raises(BandModelError, match="hash"):
        band_model(entry["version"], tmp_path / "registry.json")
    with pytest.raises(BandModelError, match="no band model"):
        band_model("band-classifier@999", tmp_path / "registry.json")


def test_empty_registry_falls_back_to_the_rule(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    path.write_text(json.dumps({"current": None, "models": []}))
    model = current_band_model(path)
    assert isinstance(model, RuleBandModel)
    assert model.version == "od-logistic@1"
    f = np.zeros((2, len(FEATURE_NAMES)), np.float32)
    f[1, FEATURE_NAMES.index("od")] = 0.05
    f[1, FEATURE_NAMES.index("snr")] = 50
    f[1, FEATURE_NAMES.index("band_min_snr")] = 20
    p = model(f)
    assert p[0] < 0.5 < p[1]
