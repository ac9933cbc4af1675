"""The photo-set writer: deterministic, labelled, with the kits it used."""

from __future__ import annotations

import json

import numpy as np
import pytest

from datasets.generate import (
    DEFAULT_OD_MIX,
    KitLike,
    build_parser,
    draw_line_ods,
    generate,
    kits_from_args,
    main,
)
from datasets.kits import random_kit
from datasets.render import VISIBLE_OD
from pipeline.kit import Kit, load_kit

SIZE = (640, 480)


@pytest.fixture(scope="module")
def demo() -> Kit:
    return load_kit("datasets/kits/demo/kit.json")


def test_generate_is_deterministic_and_labelled(tmp_path, demo: Kit) -> None:
    kits: list[KitLike] = [demo, random_kit(np.random.default_rng(5), fmt="strip")]
    a = generate(tmp_path / "a", kits, 5, seed=3, size=SIZE, flaw_rate=0.4, progress=False)
    b = generate(tmp_path / "b", kits, 5, seed=3, size=SIZE, flaw_rate=0.4, progress=False)
    assert a.read_bytes() == b.read_bytes()
    records = [json.loads(line) for line in a.read_text().splitlines()]
    assert len(records) == 5
    for rec in records:
        for key in (
            "image",
            "kit",
            "code",
            "fit",
            "flaw",
            "od",
            "result",
            "analytes",
            "homography",
        ):
            assert key in rec
        assert (tmp_path / "a" / rec["image"]).read_bytes() == (
            tmp_path / "b" / rec["image"]
        ).read_bytes()
        kit = load_kit(tmp_path / "a" / rec["kit"])
        assert set(rec["od"]) == {line.name for line in kit.lines}
        assert rec["fit"] == (rec["flaw"] is None)
        if rec["flaw"] != "no_cassette":
            assert np.asarray(rec["homography"]).shape == (3, 3)
    c = generate(tmp_path / "c", kits, 5, seed=4, size=SIZE, progress=False)
    assert c.read_bytes() != a.read_bytes()


def test_od_mix_categories(demo: Kit) -> None:
    rng = np.random.default_rng(0)
    seen: dict[str, list[dict[str, float]]] = {}
    for _ in range(400):
        ods, cat = draw_line_ods(demo, rng, DEFAULT_OD_MIX)
        seen.setdefault(cat, []).append(ods)
    assert set(seen) == set(DEFAULT_OD_MIX)
    assert all(o["C"] < VISIBLE_OD for o in seen["invalid"])
    assert all(o["T"] == 0 and o["C"] >= 0.05 for o in seen["negative"])
    assert all(0.012 <= o["T"] <= 0.02 for o in seen["trace"])
    assert all(0.02 <= o["T"] <= 0.05 for o in seen["faint"])
    assert all(0.05 <= o["T"] <= 0.15 for o in seen["weak"])
    assert all(0.15 <= o["T"] <= 1.0 for o in seen["strong"])
    with pytest.raises(ValueError, match="unknown od_mix"):
        draw_line_ods(demo, rng, {"huge": 1.0})


def test_command_line(tmp_path, capsys) -> None:
    args = build_parser().parse_args(
        ["--out", str(tmp_path), "--benchmark-kits", "--random-kits", "2"]
    )
    kits = kits_from_args(args)
    assert len(kits) >= 5
    assert (
        main(
            [
                "--out",
                str(tmp_path / "o"),
                "--n",
                "2",
                "--seed",
                "1",
                "--size",
                "640x480",
                "--quiet",
            ]
        )
        == 0
    )
    labels = tmp_path / "o" / "labels.jsonl"
    assert capsys.readouterr().out.strip() == str(labels)
    assert len(labels.read_text().splitlines()) == 2
    assert (tmp_path / "o" / "kits" / "DEMO-COV-AG" / "kit.json").exists()
