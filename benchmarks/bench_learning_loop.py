"""The learning loop's benchmark: the shipped band model against one trained on synthetic photos
plus a few hundred confirmed cases, on a product neither was trained on.

Run ``python -m benchmarks.bench_learning_loop``. Confirmed cases are stood in for by
photos of ``--products`` new kit designs rendered with every real-world variation at
its widest (``realworld-wide``), read by the shipped model through ``pipeline.read``
as the server does (its straightened window kept), labelled with the rendered truth
as a clinician's final label (``unreadable`` for unfit photos; what the pipeline
answered ``by_eye`` counts as read by eye) and written in the export layout
(``training/dataset_format.md``). :mod:`training.mixed` trains on synthetic photos
plus those cases with one product held out whole (and a share of the other units);
:mod:`training.evaluate` compares the two models on the held-out cases (the unseen
product on its own) and on fresh ``realworld-wide`` photos of new designs. Writes
``benchmarks/results/learning_loop.md`` and the evaluation (report, JSON, reliability
diagrams) under ``benchmarks/results/learning_loop/``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from datasets.generate import generate  # noqa: E402
from datasets.kits import random_kit  # noqa: E402
from models.registry import REGISTRY_PATH, load_registry  # noqa: E402
from pipeline.read import read  # noqa: E402
from training import evaluate, mixed  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
#: The stand-in products' designs: their own seed stream (not training's, evaluation's
#: or the read benchmark's).
CASE_KIT_SEED_BASE = 11_000_000


def confirmed_cases(out: Path, n: int, products: int, seed: int, contender: Any) -> dict[str, Any]:
    """Render, read and label ``n`` stand-in confirmed cases in the export layout."""
    designs = [
        random_kit(np.random.default_rng([CASE_KIT_SEED_BASE, seed, j])) for j in range(products)
    ]
    generate(out, designs, n, seed, variation="realworld-wide", size=(1280, 960), progress=False)
    records, by_eye = [], 0
    (out / "windows").mkdir(exist_ok=True)
    source = [json.loads(t) for t in (out / "labels.jsonl").read_text().splitlines()]
    for i, (case, raw) in enumerate(zip(evaluate.load_synthetic(out), source, strict=True)):
        reading = read(case.photo.read_bytes(), case.kit, band_model=contender.model)
        found = reading.explanation
        window = None
        if found.window is not None and found.window.size and found.px_per_mm:
            window = f"windows/{i:06d}.png"
            cv2.imwrite(str(out / window), found.window)
        by_eye += reading.status == "by_eye"
        records.append(
            {
                "case": f"c_{i:06d}",
                "unit": f"u_{i:06d}",
                "image": raw["image"],
                "window": window,
                "px_per_mm": found.px_per_mm if window else None,
                "kit": raw["kit"],
                "product_code": case.product,
                "reading": reading.to_json(),
                "model": reading.model,
                "final_label": {
                    "result": case.result or "unreadable",
                    "lines": dict(case.lines),
                    "od": dict(case.od),
                    "read_by_eye": reading.status == "by_eye",
                },
                "second_label": None,
                "resolution": "single_reader",
            }
        )
    (out / "labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    codes = sorted({r["product_code"] for r in records})
    return {"cases": len(records), "read_by_eye": by_eye, "products": codes}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=300, help="stand-in confirmed cases")
    p.add_argument("--products", type=int, default=5, help="their kit designs (products)")
    p.add_argument("--photos", type=int, default=1400, help="synthetic training photos")
    p.add_argument("--kits", type=int, default=40, help="synthetic training designs")
    p.add_argument("--eval-n", type=int, default=120, help="fresh realworld-wide photos")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument(
        "--synthetic-cache", type=Path, default=None, help="keep rendered synthetic rows (reruns)"
    )
    argv = sys.argv[1:] if argv is None else argv
    args = p.parse_args(argv)

    shipped_version = str(load_registry()["current"])
    entry = next(m for m in load_registry()["models"] if m["version"] == shipped_version)
    shipped = evaluate.Contender.from_bytes(
        (REGISTRY_PATH.parent / entry["file"]).read_bytes(), shipped_version
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vigil-loop-") as tmp:
        cases_dir, trained_dir = Path(tmp) / "cases", Path(tmp) / "trained"
        cases = confirmed_cases(cases_dir, args.cases, args.products, args.seed, shipped)
        unseen = cases["products"][0]
        cases_s = time.perf_counter() - started
        train_args = [
            *("--seed", str(args.seed), "--photos", str(args.photos), "--kits", str(args.kits)),
            *("--workers", str(args.workers), "--real", str(cases_dir)),
            *("--unseen-product", unseen, "--out", str(trained_dir)),
            *("--version", "band-classifier@loop"),
            *(("--synthetic-cache", str(args.synthetic_cache)) if args.synthetic_cache else ()),
        ]
        if mixed.main(train_args) != 0:
            return 1
        info = json.loads((trained_dir / "band-classifier@loop.metrics.json").read_text())
        trained = evaluate.Contender.from_bytes(
            (trained_dir / "band-classifier@loop.onnx").read_bytes(), "band-classifier@loop"
        )
        train_s = time.perf_counter() - started - cases_s
        report_dir = args.out / "learning_loop"
        shutil.rmtree(report_dir, ignore_errors=True)
        report = evaluate.run(
            trained,
            shipped,
            report_dir,
            n=args.eval_n,
            seed=args.seed + 20261129,
            variation="realworld-wide",
            size=(1280, 960),
            real=trained_dir / "real-heldout",
            unseen_products=[unseen],
            command="python -m benchmarks.bench_learning_loop " + " ".join(argv),
        )
    seconds = {
        "cases": round(cases_s, 1),
        "train": round(train_s, 1),
        "total": round(time.perf_counter() - started, 1),
    }
    summary = {
        "parameters": vars(args) | {"out": str(args.out), "synthetic_cache": None},
        "cases": cases,
        "unseen_product": unseen,
        "training": {k: info[k] for k in ("n_real_cases", "n_lines", "onnx_parity_max_abs")},
        "decision": report["decision"]["summary"],
        "seconds": seconds,
        "unseen_product_metrics": report["sets"]["real/unseen"]["metrics"],
    }
    (args.out / "learning_loop.json").write_text(json.dumps(summary, indent=1) + "\n")
    text = (
        "# Learning loop: shipped vs synthetic + confirmed cases\n\n"
        f"`python -m benchmarks.bench_learning_loop {' '.join(argv)}`: {cases['cases']} "
        f"stand-in confirmed cases of {len(cases['products'])} new products (realworld-wide; "
        f"{cases['read_by_eye']} read by eye), product `{unseen}` held out whole; trained on "
        f"{args.photos} synthetic photos of {args.kits} designs plus "
        f"{info['n_real_cases']['train']} cases (held out: {info['n_real_cases']['heldout']}); "
        f"ONNX parity {info['onnx_parity_max_abs']:.1e}. Times: {seconds} s.\n\n"
        "Machine: 2 shared CPU cores, other jobs running; the times and ms per read are "
        "noisy, compare them within this run only.\n\n"
        f"## The held-out product `{unseen}` (no photo of it in training)\n\n"
        + evaluate.set_table(report, "real/unseen", "learning_loop/")
        + "\n\n## Every held-out confirmed case (the unseen product and held-out units)\n\n"
        + evaluate.set_table(report, "real", "learning_loop/")
        + "\n\n## Fresh synthetic photos of new designs (realworld-wide)\n\n"
        + evaluate.set_table(report, "synthetic", "learning_loop/")
        + f"\n\nPromotion rule (candidate vs shipped): {report['decision']['summary']}\n\n"
        "The evaluation, product by product: [learning_loop/report.md](learning_loop/report.md).\n"
    )
    (args.out / "learning_loop.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
