"""Evaluation: confirmed real cases in the export format, per product and unseen products,
the tallies behind each figure, and clear errors for a broken set."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from datasets.generate import DEMO_KIT, generate
from models.registry import load_registry, save_registry
from pipeline.kit import load_kit
from training import evaluate
from training.perturb import weaken_evidence

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "band-classifier@1.onnx"


def _export(tmp_path: Path) -> Path:
    """Render a few photos and write them as an export of confirmed cases (two products)."""
    rendered = tmp_path / "rendered"
    kits = [DEMO_KIT, *evaluate.new_kit_designs(11, 1)]
    generate(
        rendered,
        kits,
        6,
        11,
        od_mix={"faint": 0.5, "negative": 0.3, "invalid": 0.2},
        size=(960, 720),
        flaw_rate=0.0,
        progress=False,
    )
    export = tmp_path / "export"
    shutil.copytree(rendered / "kits", export / "kits")
    (export / "photos").mkdir(parents=True)
    lines = []
    for i, text in enumerate((rendered / "labels.jsonl").read_text().splitlines()):
        truth = json.loads(text)
        kit = load_kit(rendered / truth["kit"])
        case = f"c_{i:03d}"
        shutil.copy(rendered / truth["image"], export / "photos" / f"{case}.jpg")
        label: dict[str, Any] = {"result": truth["result"], "read_by_eye": i == 0}
        if len([ln for ln in kit.lines if ln.role == "test"]) > 1 or i == 1:
            # Several test lines (or a reference reader): the clinician names each line.
            label["lines"] = {n: od >= 0.01 for n, od in truth["od"].items()}
            label["od"] = {n: od for n, od in truth["od"].items() if od >= 0.01}
        lines.append(
            {
                "case": case,
                "unit": f"u_{i:03d}",
                "image": f"photos/{case}.jpg",
                "kit": truth["kit"],
                "product_code": kit.product_code,
                "lot": "L1",
                "region": "XX-01",
                "week": "2026-W48",
                "reading": None,
                "model": "band-classifier@1",
                "final_label": label,
            }
        )
    (export / "labels.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return export


def test_real_cases_per_product_and_unseen(tmp_path: Path) -> None:
    export = _export(tmp_path)
    cases = evaluate.load_real(export)
    assert len(cases) == 6
    products = sorted({c.product for c in cases})
    assert "DEMO-COV-AG" in products
    shipped = SHIPPED.read_bytes()
    report = evaluate.run(
        evaluate.Contender.from_bytes(shipped),
        evaluate.Contender.from_bytes(weaken_evidence(shipped, 0.25, "weak@1")),
        tmp_path / "out",
        n=0,
        real=export,
        unseen_products=["DEMO-COV-AG"],
    )
    sets = report["sets"]
    assert set(sets) == {"real", "real/unseen", *(f"real/product/{p}" for p in products)}
    demo = [c for c in cases if c.product == "DEMO-COV-AG"]
    assert sets["real/unseen"]["n_photos"] == len(demo)
    m = sets["real"]["metrics"]["candidate"]
    assert m["n_photos"] == 6
    assert m["by_eye"]["n"] == 6
    assert m["ms_per_read"]["median"] > 0
    # Every product slice is judged by the promotion rule too.
    assert set(report["comparison"]) == set(sets)
    md = (tmp_path / "out" / "report.md").read_text()
    assert "## real/unseen" in md
    assert (tmp_path / "out" / "reliability_real_unseen.png").exists()


def _case(result: str | None, lines: dict[str, bool], od: dict[str, float]) -> evaluate.Case:
    return evaluate.Case("c", Path("x.jpg"), load_kit(DEMO_KIT), "DEMO", result, lines, od)


def _reading(status: str, result: str | None, t: float, c: float, conf: float) -> dict[str, Any]:
    lines = {"T": {"present": t >= 0.5, "p_present": t}, "C": {"present": c >= 0.5, "p_present": c}}
    return {"status": status, "result": result, "confidence": conf, "lines": lines}


def test_tallies_follow_the_status_of_each_reading() -> None:
    scored = evaluate.Scored()
    positive = _case("positive", {"T": True, "C": True}, {"T": 0.03})
    evaluate.score_case(scored, positive, _reading("ok", "negative", 0.1, 0.99, 0.95))
    evaluate.score_case(scored, positive, _reading("by_eye", "negative", 0.4, 0.99, 0.4))
    negative = _case("negative", {"T": False, "C": True}, {})
    evaluate.score_case(scored, negative, _reading("ok", "negative", 0.01, 0.99, 0.99))
    invalid = _case("invalid", {"C": False}, {})
    evaluate.score_case(scored, invalid, _reading("ok", "invalid", 0.0, 0.01, 0.99))
    unfit = _case(None, {}, {})
    evaluate.score_case(scored, unfit, _reading("ok", "positive", 0.9, 0.9, 0.9))
    evaluate.score_case(scored, unfit, _reading("retake", None, 0.0, 0.0, 0.0))
    f = scored.figures
    assert f["sensitivity_faint"] == [0, 1]  # the by_eye reading is not a miss
    assert f["specificity"] == [1, 1]
    assert f["invalid_detected"] == [1, 1]
    assert f["confident_errors"] == [2, 6]  # the missed positive and the unfit photo answered
    assert f["by_eye"] == [1, 6]
    assert f["retake_unfit"] == [1, 2]
    out = evaluate.summarise(scored, 6)
    assert out["kappa"] is not None
    assert out["calibration"]["ece"] is not None


def test_calibration_and_kappa() -> None:
    perfect = [(1.0, True), (0.0, False)] * 5
    assert evaluate.calibration(perfect)["ece"] == 0.0
    rng = np.random.default_rng(0)
    p = rng.uniform(size=2000)
    honest = [(float(x), bool(rng.uniform() < x)) for x in p]
    assert evaluate.calibration(honest)["ece"] < 0.05
    assert evaluate.calibration([(0.9, False)] * 10)["ece"] == pytest.approx(0.9)
    assert evaluate.kappa([("positive", "positive"), ("negative", "negative")]) == 1.0
    assert evaluate.kappa([("positive", "positive")]) is None


def test_a_broken_set_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(evaluate.DatasetError, match="no such file"):
        evaluate.load_real(tmp_path)
    (tmp_path / "labels.jsonl").write_text('{"case": "a"}\n')
    with pytest.raises(evaluate.DatasetError, match="missing"):
        evaluate.load_real(tmp_path)
    (tmp_path / "labels.jsonl").write_text("not json\n")
    with pytest.raises(evaluate.DatasetError, match="not JSON"):
        evaluate.load_real(tmp_path)
    shutil.copytree(DEMO_KIT.parent, tmp_path / "kits" / "demo")
    record = {
        "case": "a",
        "image": "photos/a.jpg",
        "kit": "kits/demo/kit.json",
        "product_code": "DEMO",
        "final_label": {"result": "maybe"},
    }
    (tmp_path / "labels.jsonl").write_text(json.dumps(record))
    with pytest.raises(evaluate.DatasetError, match="unknown final result"):
        evaluate.load_real(tmp_path)
    record["final_label"] = {"result": "positive"}
    (tmp_path / "labels.jsonl").write_text(json.dumps(record))
    with pytest.raises(evaluate.DatasetError, match="missing"):
        evaluate.load_real(tmp_path)
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.jpg").write_bytes(b"any")
    record["final_label"] = {"result": "positive", "od": ["not", "a", "mapping"]}
    (tmp_path / "labels.jsonl").write_text(json.dumps(record))
    with pytest.raises(evaluate.DatasetError, match="malformed"):
        evaluate.load_real(tmp_path)


def test_only_an_accepted_decision_changes_the_current_model(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    save_registry(load_registry(), path)
    before = load_registry(path)["current"]
    assert not evaluate.promote({"decision": {"accepted": False}}, "band-classifier@1", path)
    assert load_registry(path)["current"] == before
    assert evaluate.promote({"decision": {"accepted": True}}, "band-classifier@1", path)
    assert load_registry(path)["current"] == "band-classifier@1"
