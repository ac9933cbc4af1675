"""Random kit designs must be valid rdt-kit/1 kits with the promised geometry."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from datasets.kits import (
    BENCHMARK_DESIGNS,
    absorbance_from_hex,
    benchmark_kits,
    dye_absorbance,
    line_color_hex,
    random_kit,
    write_kit,
)
from pipeline.kit import load_kit, parse_kit


@pytest.mark.parametrize(
    ("flow", "fmt"), list(itertools.product(["up", "down", "left", "right"], ["cassette", "strip"]))
)
def test_random_kit_is_valid_for_every_flow_and_format(flow: str, fmt: str) -> None:
    for seed in range(3):
        doc, template = random_kit(np.random.default_rng(seed), flow=flow, fmt=fmt)
        kit = parse_kit(doc, template)
        assert kit.flow == flow
        assert doc["format"] == fmt
        assert 8 <= kit.px_per_mm <= 12
        assert 15 <= kit.window_length_mm <= 25.5
        assert 4 <= kit.window_width_mm <= 7.5
        assert (kit.code_box is None) == (fmt == "strip")
        # Lines: 1-3 tests and one control, at least 3 mm apart, clear of the window ends.
        roles = [line.role for line in kit.lines]
        assert roles.count("control") == 1
        assert 1 <= roles.count("test") <= 3
        at_mm = sorted(line.at * kit.window_length_mm for line in kit.lines)
        assert all(b - a >= 3.0 for a, b in itertools.pairwise(at_mm))
        assert at_mm[0] >= 2.0
        assert at_mm[-1] <= kit.window_length_mm - 2.0
        # Transparent outside the kit, opaque on the window.
        assert template[0, 0, 3] == 0
        assert template[-1, -1, 3] == 0
        w = kit.window
        assert template[int(w.y + w.h / 2), int(w.x + w.w / 2), 3] == 255
        # The window is the membrane: light and nearly neutral in the template.
        centre = template[int(w.y + w.h / 2), int(w.x + w.w / 2), :3].astype(int)
        assert centre.min() > 200
        assert np.ptp(centre) < 12


def test_window_runs_along_the_flow() -> None:
    for flow in ("up", "down", "left", "right"):
        doc, template = random_kit(np.random.default_rng(5), flow=flow)
        w = doc["template"]["window"]
        longer_vertical = w["h"] > w["w"]
        assert longer_vertical == (flow in ("up", "down"))
        # The kit's long side follows the flow too.
        assert (template.shape[0] > template.shape[1]) == (flow in ("up", "down"))


def test_code_box_is_blank_white_with_a_quiet_zone() -> None:
    doc, template = random_kit(np.random.default_rng(11), flow="down")
    c = doc["template"]["code_box"]
    box = template[c["y"] : c["y"] + c["size"], c["x"] : c["x"] + c["size"], :3]
    assert box.min() > 230
    margin = round(c["size"] * 0.08)  # quiet zone: white beyond the box as well
    ring = template[c["y"] - margin : c["y"], c["x"] : c["x"] + c["size"], :3]
    assert ring.min() > 230


def test_competitive_kits_and_options() -> None:
    doc, template = random_kit(
        np.random.default_rng(3), n_test_lines=2, present_means="non-reactive", dye="black"
    )
    kit = parse_kit(doc, template)
    tests = [line for line in kit.lines if line.role == "test"]
    assert len(tests) == 2
    assert all(line.present_means == "non-reactive" for line in tests)
    assert doc["line_color"] == line_color_hex(dye_absorbance("black"))
    doc, _ = random_kit(np.random.default_rng(3), n_test_lines=1, present_means="reactive")
    assert all(line.get("present_means", "reactive") == "reactive" for line in doc["lines"])
    with pytest.raises(ValueError, match="n_test_lines"):
        random_kit(np.random.default_rng(0), n_test_lines=4)
    with pytest.raises(ValueError, match="flow"):
        random_kit(np.random.default_rng(0), flow="sideways")


def test_same_seed_same_design() -> None:
    a_doc, a_tpl = random_kit(np.random.default_rng(42))
    b_doc, b_tpl = random_kit(np.random.default_rng(42))
    assert a_doc == b_doc
    assert np.array_equal(a_tpl, b_tpl)
    c_doc, _ = random_kit(np.random.default_rng(43))
    assert c_doc != a_doc


def test_dye_colour_round_trip() -> None:
    for dye in ("gold", "blue", "black"):
        a = dye_absorbance(dye)
        assert a.max() == pytest.approx(1.0)
        back = absorbance_from_hex(line_color_hex(a))
        assert np.allclose(back, a, atol=0.03)
    # Gold absorbs green most (red-purple look), blue latex absorbs red most (BGR order).
    assert np.argmax(dye_absorbance("gold")) == 1
    assert np.argmax(dye_absorbance("blue")) == 2


def test_benchmark_kits_are_distinct_held_out_designs() -> None:
    kits = [parse_kit(d, t) for d, t in benchmark_kits()]
    demo = load_kit("datasets/kits/demo/kit.json")
    assert len(kits) >= 3
    assert len({k.product_code for k in kits}) == len(kits)
    assert all(k.product_code.startswith("BENCH-") for k in kits)
    signatures = {
        (k.flow, len(k.lines), k.description.line_color, k.description.format) for k in kits
    }
    assert len(signatures) == len(kits)
    demo_sig = (demo.flow, len(demo.lines), demo.description.line_color, demo.description.format)
    assert demo_sig not in signatures
    assert any(len(k.lines) >= 3 for k in kits)
    assert any(line.present_means == "non-reactive" for k in kits for line in k.lines)
    assert any(k.description.format == "strip" for k in kits)
    assert len(BENCHMARK_DESIGNS) == len(kits)
    # Fixed: the same call gives the same designs.
    again = benchmark_kits()
    assert all(
        np.array_equal(a[1], b[1]) and a[0] == b[0]
        for a, b in zip(benchmark_kits(), again, strict=True)
    )


def test_write_kit_round_trips(tmp_path) -> None:
    doc, template = random_kit(np.random.default_rng(7), fmt="strip")
    path = write_kit(tmp_path / "k", doc, template)
    kit = load_kit(path)
    assert kit.to_json()["product_code"] == doc["product_code"]
    assert np.array_equal(kit.template, template)
