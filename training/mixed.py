"""Train the band classifier on synthetic photos plus exported confirmed real cases.

``python -m training.mixed --real EXPORT_DIR --seed 0 --out DIR`` (``vigil models
train`` runs it) renders synthetic photos as :mod:`training.train` does, adds the
line features of real confirmed cases (``training/dataset_format.md``: the
straightened window the server kept, the clinicians' final label as truth), fits
the same model (``--synthetic-cache DIR`` keeps the rendered synthetic rows, so
retraining after a new export renders nothing), exports ONNX and checks that
onnxruntime reproduces scikit-learn's probabilities on a sample
(``--parity-tolerance``).

Real cases are split by product and by unit: the products named with
``--unseen-product`` are held out whole (a product never seen in training is
then measured), and of the rest a seeded share of units (``--heldout-units``)
is held out with every one of their photos, so no unit is on both sides. The
held-out real cases are written as a dataset of their own (``real-heldout/``)
for ``training.evaluate --real``.

Same seed, same arguments and the same exports: the same model bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from datasets.render.variation import PROFILES
from pipeline.bands import FEATURE_NAMES, band_probability
from training import train
from training.evaluate import Case, DatasetError, load_real

#: Lowest OD given to a line the clinicians saw but the reading measured fainter:
#: a present line is a positive example whatever its measured density.
PRESENT_FLOOR = train.TRACE_OD
PARITY_SAMPLE = 512


@dataclass(frozen=True)
class RealSplit:
    """Real cases on each side, and why each held-out case is there."""

    train: list[Case]
    heldout: list[Case]
    unseen_products: list[str]
    heldout_units: list[str]


def split_real(
    cases: Sequence[Case], seed: int, *, unseen_products: Sequence[str] = (), share: float = 0.25
) -> RealSplit:
    """Hold out whole products, then a seeded share of the other products' units.

    Examples
    --------
    >>> from pathlib import Path
    >>> c = lambda i, u, p: Case(str(i), Path(), None, p, "negative", {}, {}, unit=u)
    >>> s = split_real([c(0, "u1", "A"), c(1, "u1", "A"), c(2, "u2", "A"), c(3, "u3", "B")],
    ...                0, unseen_products=["B"], share=0.5)
    >>> sorted(x.case for x in s.heldout), s.heldout_units
    (['0', '1', '3'], ['u1'])
    """
    unseen = sorted(set(unseen_products))
    units = sorted({c.unit for c in cases if c.product not in unseen})
    order = np.random.default_rng([seed, 7]).permutation(len(units))
    n_held = round(share * len(units))
    held_units = sorted(units[i] for i in order[:n_held])
    held = set(held_units)
    train_cases = [c for c in cases if c.product not in unseen and c.unit not in held]
    heldout = [c for c in cases if c.product in unseen or c.unit in held]
    return RealSplit(train_cases, heldout, unseen, held_units)


def real_dataset(cases: Sequence[Case], first_photo: int = 0) -> train.Dataset:
    """Line features of the cases' stored windows, with the clinicians' truth per line.

    Cases without a window, or unreadable ones, give nothing; lines the label says
    nothing about are left out. ``kit`` is -1: no synthetic kit design.
    """
    parts = []
    for i, case in enumerate(cases):
        if not case.fit or case.window is None or not case.px_per_mm or not case.lines:
            continue
        window = cv2.imread(str(case.window), cv2.IMREAD_COLOR)
        if window is None:
            raise DatasetError(f"case {case.case}: window {case.window} unreadable")
        features = train.window_features(window, case.kit, case.px_per_mm)
        keep, od, role = [], [], []
        for j, line in enumerate(case.kit.lines):
            if line.name not in case.lines:
                continue
            keep.append(j)
            present = case.lines[line.name]
            od.append(max(case.od.get(line.name, 0.0), PRESENT_FLOOR) if present else 0.0)
            role.append(1 if line.role == "control" else 0)
        n = len(keep)
        if n:
            parts.append(
                train.Dataset(
                    features[keep],
                    np.array(od),
                    np.array(role),
                    np.full(n, first_photo + i),
                    np.full(n, -1),
                )
            )
    if not parts:
        width = len(FEATURE_NAMES)
        return train.Dataset(
            np.zeros((0, width), np.float32),
            np.zeros(0),
            np.zeros(0, int),
            *(np.zeros(0, int),) * 2,
        )
    return train.Dataset.concat(parts)


def synthetic_dataset(
    seed: int,
    photos: int,
    kits: int,
    *,
    variation: str = "mild",
    workers: int = 1,
    cache: Path | None = None,
) -> train.Dataset:
    """Line features of ``photos`` rendered synthetic photos of ``kits`` random designs.

    Rendering is the slow part of training (minutes for 1400 photos) and gives the
    same rows for the same arguments, so with ``cache`` the rows are kept in a
    ``.npz`` named by the arguments and the feature names and read back the next
    time (retraining after each new export renders nothing). A renderer change
    makes other rows: clear the cache then.
    """
    key = hashlib.sha256(
        json.dumps([seed, photos, kits, variation, list(FEATURE_NAMES)]).encode()
    ).hexdigest()[:16]
    path = cache / f"synthetic-{seed}-{photos}-{kits}-{variation}-{key}.npz" if cache else None
    if path is not None and path.is_file():
        with np.load(path) as stored:
            return train.Dataset(*(stored[f] for f in ("x", "od", "role", "photo", "kit")))
    samples = train.render_windows(seed, photos, kits, workers, progress=False, variation=variation)
    data = train.make_dataset(samples, train.random_kits(seed, kits))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial.npz")
        np.savez(partial, x=data.x, od=data.od, role=data.role, photo=data.photo, kit=data.kit)
        partial.replace(path)  # whole or absent: a killed run leaves no half file
    return data


def write_subset(sources: Sequence[Path], cases: Sequence[Case], out: Path) -> Path:
    """The exports' records and files of ``cases`` only, as one dataset of its own."""
    wanted = {(c.photo.resolve()) for c in cases}
    out.mkdir(parents=True, exist_ok=True)
    lines = []
    for source in sources:
        for text in (source / "labels.jsonl").read_text(encoding="utf-8").splitlines():
            if not text.strip():
                continue
            record = json.loads(text)
            if (source / record["image"]).resolve() not in wanted:
                continue
            lines.append(text)
            kit_dir = Path(record["kit"]).parent
            kit_files = [str(kit_dir / p.name) for p in (source / kit_dir).iterdir()]
            for relative in [record["image"], record.get("window"), *kit_files]:
                if relative and not (out / relative).exists():
                    (out / relative).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(source / relative, out / relative)
    (out / "labels.jsonl").write_text("".join(t + "\n" for t in lines), encoding="utf-8")
    return out


def parity(model: Any, onnx_bytes: bytes, x: np.ndarray, seed: int) -> float:
    """Largest difference between scikit-learn's and onnxruntime's probabilities on a sample."""
    from models.band_model import BandModel

    if not len(x):
        return 0.0
    rows = np.random.default_rng([seed, 3]).permutation(len(x))[:PARITY_SAMPLE]
    sample = x[rows].astype(np.float32)
    expected = model.predict_proba(sample)[:, 1]
    got = np.asarray(BandModel.from_bytes(onnx_bytes)(sample), dtype=np.float64).reshape(-1)
    return float(np.max(np.abs(expected - got)))


def _finite(value: Any) -> Any:
    """NaN (a rate over nothing) as None: the metrics go into JSON columns."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _export_hash(directory: Path) -> str:
    sheet = directory / "datasheet.json"
    if sheet.is_file():
        value = json.loads(sheet.read_text(encoding="utf-8")).get("content_hash")
        if value:
            return str(value)
    return hashlib.sha256((directory / "labels.jsonl").read_bytes()).hexdigest()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.mixed", description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="folder for the model, metrics and split")
    p.add_argument("--version", required=True, help="name@number of the model")
    p.add_argument("--variation", choices=PROFILES, default="mild")
    p.add_argument("--photos", type=int, default=1400, help="synthetic photos (0: real only)")
    p.add_argument("--kits", type=int, default=40, help="random kit designs")
    p.add_argument("--heldout-kits", type=float, default=0.25, help="share of designs held out")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--real", type=Path, action="append", default=[], help="exported cases")
    p.add_argument("--unseen-product", action="append", default=[], help="hold out a product")
    p.add_argument("--heldout-units", type=float, default=0.25, help="share of real units held out")
    p.add_argument("--parity-tolerance", type=float, default=1e-4)
    p.add_argument(
        "--synthetic-cache", type=Path, default=None, help="keep rendered synthetic rows here"
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    parts, heldout_synthetic = [], None
    if args.photos > 0:
        synthetic = synthetic_dataset(
            args.seed,
            args.photos,
            args.kits,
            variation=args.variation,
            workers=args.workers,
            cache=args.synthetic_cache,
        )
        order = np.random.default_rng([args.seed, 1]).permutation(args.kits)
        held_kits = np.sort(order[: max(1, round(args.heldout_kits * args.kits))])
        mask = np.isin(synthetic.kit, held_kits)
        parts.append(synthetic.subset(~mask))
        heldout_synthetic = synthetic.subset(mask)
    try:
        cases = [c for directory in args.real for c in load_real(directory)]
    except DatasetError as exc:
        print(f"train: {exc}", file=sys.stderr)
        return 2
    split = split_real(
        cases, args.seed, unseen_products=args.unseen_product, share=args.heldout_units
    )
    real_train = real_dataset(split.train, first_photo=10**7)
    real_heldout = real_dataset(split.heldout, first_photo=2 * 10**7)
    parts.append(real_train)
    data = train.Dataset.concat(parts)
    if data.y.size == 0 or len(set(data.y.tolist())) < 2:
        print("train: no lines of both kinds to learn from", file=sys.stderr)
        return 2
    features_s = time.perf_counter() - started
    model = train.fit(data, args.seed)
    onnx_bytes = train.to_onnx(model, args.version)
    gap = parity(model, onnx_bytes, data.x, args.seed)
    if gap > args.parity_tolerance:
        print(f"train: onnxruntime differs from scikit-learn by {gap:.2e}", file=sys.stderr)
        return 1
    from models.band_model import BandModel

    candidate = BandModel.from_bytes(onnx_bytes, args.version)
    model_path = out / f"{args.version}.onnx"
    model_path.write_bytes(onnx_bytes)
    if split.heldout:
        write_subset(args.real, split.heldout, out / "real-heldout")
    metrics = {
        "synthetic_heldout": train.evaluate(candidate, heldout_synthetic)
        if heldout_synthetic is not None
        else None,
        "real_heldout": train.evaluate(candidate, real_heldout) if real_heldout.y.size else None,
    }
    baseline = {
        "synthetic_heldout": train.evaluate(band_probability, heldout_synthetic)
        if heldout_synthetic is not None
        else None,
    }
    sources = {
        "synthetic": {
            k: getattr(args, k) for k in ("seed", "photos", "kits", "variation", "heldout_kits")
        },
        "real": [_export_hash(d) for d in args.real],
        "split": {"unseen_products": split.unseen_products, "heldout_units": split.heldout_units},
    }
    info: dict[str, Any] = {
        "version": args.version,
        "file": model_path.name,
        "sha256": hashlib.sha256(onnx_bytes).hexdigest(),
        "size_bytes": len(onnx_bytes),
        "seed": args.seed,
        "n_photos": args.photos,
        "n_kits": args.kits,
        "variation": args.variation,
        "real_exports": sources["real"],
        "n_real_cases": {"train": len(split.train), "heldout": len(split.heldout)},
        "n_lines": {"train": int(data.y.size), "real_train": int(real_train.y.size)},
        "unseen_products": split.unseen_products,
        "heldout_units": split.heldout_units,
        "params": "lr 0.05, 200 trees, 6 leaves, min leaf 60, l2 1.0, absent lines weighted 5",
        "command": "python -m training.mixed " + " ".join(argv or sys.argv[1:]),
        "features": list(FEATURE_NAMES),
        "onnx_parity_max_abs": gap,
        "training_data_hash": hashlib.sha256(
            json.dumps(sources, sort_keys=True).encode()
        ).hexdigest(),
        "metrics": _finite(metrics),
        "baseline_metrics": _finite(baseline),
        "timing_s": {
            "render_and_features": round(features_s, 1),
            "total": round(time.perf_counter() - started, 1),
        },
    }
    (out / f"{args.version}.metrics.json").write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps({"version": args.version, "parity": gap, **info["n_real_cases"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
