"""Training is reproducible: same seed, same features, same model bytes and metrics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models.band_model import BandModel
from models.registry import load_registry
from pipeline.bands import FEATURE_NAMES
from training import train


def test_sampled_ods_avoid_the_ambiguous_range() -> None:
    kit = train.random_kits(0, 1)[0]
    rng = np.random.default_rng(0)
    values = [v for _ in range(300) for v in train.sample_ods(kit, rng).values()]
    arr = np.array(values)
    # Absent lines (zero or a residual tint) and present ones are kept apart.
    assert not np.any((arr > train.RESIDUAL_OD) & (arr < train.TRACE_OD))
    assert np.mean(arr < train.VISIBLE_OD) > 0.2  # plenty of absent lines
    assert np.mean((arr > 0) & (arr < train.VISIBLE_OD)) > 0.05  # some with a residual
    assert np.mean((arr >= 0.012) & (arr < 0.06)) > 0.15  # plenty of faint ones


def test_random_kits_are_never_benchmark_designs() -> None:
    kits = train.random_kits(0, 5)
    assert all(k.product_code.startswith("RND-") for k in kits)


def test_tiny_training_run_is_deterministic(tmp_path: Path) -> None:
    outs = []
    for name in ("a", "b"):
        out = tmp_path / name
        args = ["--seed", "3", "--photos", "8", "--kits", "3", "--workers", "1", "--out", str(out)]
        assert train.main([*args, "--version", "band-classifier@1"]) == 0
        outs.append(out)
    a, b = ((o / "band-classifier@1.onnx").read_bytes() for o in outs)
    assert a == b
    ma, mb = (json.loads((o / "band-classifier@1.metrics.json").read_text()) for o in outs)
    assert json.dumps(ma["metrics"], sort_keys=True) == json.dumps(mb["metrics"], sort_keys=True)
    # The run registered its model, wrote a card, and the file loads.
    registry = load_registry(outs[0] / "registry.json")
    assert [m["version"] for m in registry["models"]] == ["band-classifier@1"]
    assert (outs[0] / "cards" / "band-classifier@1.md").exists()
    model = BandModel.from_file(outs[0] / "band-classifier@1.onnx")
    assert model.version == "band-classifier@1"
    p = model(np.zeros((3, len(FEATURE_NAMES)), np.float32))
    assert np.all((p >= 0) & (p <= 1))


def test_evaluate_counts_bands_and_invalids() -> None:
    od = np.array([0.0, 0.004, 0.015, 0.03, 0.1, 0.5, 0.003, 0.4])
    role = np.array([0, 0, 0, 0, 0, 0, 1, 1])
    data = train.Dataset(
        np.zeros((8, len(FEATURE_NAMES)), np.float32), od, role, np.arange(8), np.zeros(8)
    )
    p = np.array([0.1, 0.7, 0.2, 0.9, 0.9, 0.9, 0.1, 0.9])
    m = train.evaluate(lambda _x: p, data)
    assert m["specificity"] == 0.5
    assert m["sensitivity_trace"] == 0.0
    assert m["sensitivity_faint"] == 1.0
    assert m["invalid_detected"] == 1.0
    assert m["n_negative"] == 2


def test_a_profile_mix_takes_its_profiles_in_turn(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    drawn: dict[str, list] = {}

    def no_render(kit, rng, code, variation):  # type: ignore[no-untyped-def]
        drawn.setdefault(mix, []).append(variation)
        return np.zeros((4, 4, 3), np.uint8), 6.0, np.zeros(len(kit.lines))

    monkeypatch.setattr(train, "render_window", no_render)
    for mix in ("mild,realworld-wide", "mild"):
        train.render_windows(5, 4, 3, workers=1, progress=False, variation=mix)
    profiles = [v.profile for v in drawn["mild,realworld-wide"]]
    assert profiles == ["mild", "realworld-wide", "mild", "realworld-wide"]
    # A photo of a mix draws exactly what its profile alone draws: one-profile runs
    # (the registered models' commands) still reproduce their bytes.
    assert drawn["mild,realworld-wide"][0] == drawn["mild"][0]
    assert drawn["mild,realworld-wide"][2] == drawn["mild"][2]
    wide = drawn["mild,realworld-wide"][1]
    assert wide.code_label
    assert 1.0 <= float(np.hypot(*wide.window_offset_mm)) <= 1.5


def test_an_unknown_profile_is_refused_before_rendering() -> None:
    with pytest.raises(SystemExit):
        train.main(["--variation", "mild,sharp", "--photos", "1"])
    with pytest.raises(ValueError, match="expected profiles"):
        train.render_windows(0, 1, 1, variation="realworld,mild")
