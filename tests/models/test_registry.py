"""Registry: the current model loads, integrity is checked, only a registered one is current."""

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
    make_current,
    save_registry,
)
from pipeline.bands import FEATURE_NAMES

MODELS = Path(__file__).resolve().parents[2] / "models"


def test_only_a_registered_model_becomes_current(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    save_registry(load_registry(), path)
    make_current("band-classifier@1", path)
    assert load_registry(path)["current"] == "band-classifier@1"
    with pytest.raises(KeyError):
        make_current("band-classifier@999", path)
    assert load_registry(path)["current"] == "band-classifier@1"


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
