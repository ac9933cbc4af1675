"""Train the band classifier on synthetic photos of random kit designs.

``python -m training.train --seed 0`` renders photos of random kit designs
(never the benchmark designs) with :func:`datasets.render.render_photo`, each
unit and phone varied as real ones are (variation profile ``mild`` by default,
see :mod:`datasets.render.variation`; ``--variation mild,realworld-wide`` mixes
profiles, photo by photo in turn), rectifies each window with the photo's
true window homography (slightly disturbed, as a locator that finds the window
would), computes the pipeline's own line features, fits a
gradient-boosted classifier, evaluates it on photos of held-out kit designs,
exports it to ONNX and registers it in ``models/`` (``--out`` elsewhere). It
never replaces a current model: ``python -m training.evaluate --candidate
VERSION --champion CURRENT --promote`` does, only when the safety rule of
:mod:`models.promotion` accepts it (the first model of an empty registry
becomes current, as that rule accepts a candidate with no champion).

Same seed, same arguments: same photos, same features, same model bytes and
metrics (each photo draws from its own seeded generator, so the number of
worker processes does not matter).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pickle
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

import models
from datasets.kits import random_kit
from datasets.render import VISIBLE_OD, render_photo
from datasets.render.variation import NO_VARIATION, PROFILES, Variation, draw_variation
from pipeline.bands import (
    FEATURE_NAMES,
    band_probability,
    find_lines,
    line_features,
    optical_density_profile,
)
from pipeline.kit import Kit, parse_kit
from pipeline.rectify import rectify_window, window_px_per_mm

MODEL_NAME = "band-classifier"
TRACE_OD = 0.012  # the faintest present line drawn for training
RESIDUAL_OD = 0.004  # the strongest residual tint of an absent line
# Absent lines weigh this much more in training: a prior of about 22 % present
# test lines instead of the training set's 58 %, since false positives matter.
NEGATIVE_WEIGHT = 5.0
# Read resolution, as pipeline.read rectifies: photo px/mm clipped to this range.
READ_PPM = (5.0, 8.0)
# Photo sizes: small enough to render fast; the reader resamples the window to
# 5-8 px/mm anyway, so what matters is that the window lands near that range.
SIZES = ((960, 720), (1280, 960), (1600, 1200), (720, 960), (960, 1280))
OD_BANDS = (
    ("trace", 0.012, 0.02),
    ("faint", 0.02, 0.05),
    ("weak", 0.05, 0.15),
    ("strong", 0.15, 99.0),
)
# Monotone increasing in the evidence for a line: more OD or SNR never lowers p.
MONOTONE = {"od": 1, "snr": 1, "snr_anchor": 1, "band_min_snr": 1}
# Kit designs are drawn from this seed stream, far from the benchmark's.
KIT_SEED_BASE = 7_000_000


@dataclass
class Dataset:
    """Line feature rows with their truth."""

    x: np.ndarray  # (n, n_features) float32
    od: np.ndarray  # truth OD of the line
    role: np.ndarray  # 1 control, 0 test
    photo: np.ndarray  # photo index
    kit: np.ndarray  # kit design index

    @property
    def y(self) -> np.ndarray:
        return (self.od >= VISIBLE_OD).astype(np.int64)

    def subset(self, mask: np.ndarray) -> Dataset:
        return Dataset(
            self.x[mask], self.od[mask], self.role[mask], self.photo[mask], self.kit[mask]
        )

    @staticmethod
    def concat(parts: Sequence[Dataset]) -> Dataset:
        return Dataset(
            np.concatenate([p.x for p in parts]).astype(np.float32),
            np.concatenate([p.od for p in parts]),
            np.concatenate([p.role for p in parts]),
            np.concatenate([p.photo for p in parts]),
            np.concatenate([p.kit for p in parts]),
        )


# --- data --------------------------------------------------------------------------------


def random_kits(seed: int, n: int) -> list[Kit]:
    """``n`` random kit designs (``RND-`` product codes, never benchmark designs)."""
    kits = []
    for i in range(n):
        rng = np.random.default_rng([KIT_SEED_BASE, seed, i])
        doc, template = random_kit(rng)
        kits.append(parse_kit(doc, template))
    return kits


def sample_ods(kit: Kit, rng: np.random.Generator) -> dict[str, float]:
    """Line densities for one unit: many absent and faint test lines, some invalid units.

    An absent line is often not quite zero: half of them carry a residual
    tint up to RESIDUAL_OD, below visibility (the example photos' truth has
    absent lines at 0.002-0.003; ``datasets.generate`` draws invalid units'
    controls up to 0.006). Present lines start at TRACE_OD, the
    faintest band the reader is judged on: lines just above visibility are
    indistinguishable from residuals and ghost marks, and teaching the model
    to call them would cost specificity.
    """

    def absent() -> float:
        return float(rng.uniform(0.001, RESIDUAL_OD)) if rng.random() < 0.5 else 0.0

    ods: dict[str, float] = {}
    for line in kit.lines:
        if line.role == "control":
            ods[line.name] = (
                absent()
                if rng.random() < 0.1
                else float(np.exp(rng.uniform(np.log(0.04), np.log(1.3))))
            )
            continue
        u = rng.random()
        if u < 0.42:
            ods[line.name] = absent()
        elif u < 0.75:  # trace and faint: where the difficulty is
            ods[line.name] = float(rng.uniform(TRACE_OD, 0.06))
        else:
            ods[line.name] = float(np.exp(rng.uniform(np.log(0.06), np.log(1.2))))
    return ods


def _jitter(kit: Kit, rng: np.random.Generator) -> np.ndarray:
    """A small template-space error, as a locator makes: shift, rotation and scale."""
    s = kit.px_per_mm
    cx = kit.window.x + kit.window.w / 2
    cy = kit.window.y + kit.window.h / 2
    angle = np.radians(rng.normal(0, 0.4))
    scale = 1 + rng.normal(0, 0.006)
    tx, ty = rng.normal(0, 0.2 * s, 2)
    c, si = np.cos(angle) * scale, np.sin(angle) * scale
    to_c = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1.0]])
    back = np.array([[1, 0, cx + tx], [0, 1, cy + ty], [0, 0, 1.0]])
    return back @ np.array([[c, -si, 0], [si, c, 0], [0, 0, 1.0]]) @ to_c


@dataclass
class WindowSample:
    """One rendered photo's rectified window and its truth (what features are made from)."""

    window: np.ndarray  # BGR uint8, as pipeline.read rectifies it
    px_per_mm: float
    kit: int  # index into the kit designs
    od: np.ndarray  # truth OD per kit line, in the kit's order


def render_window(
    kit: Kit, rng: np.random.Generator, code: str, variation: Variation = NO_VARIATION
) -> tuple[np.ndarray, float, np.ndarray]:
    """Render one fit photo and rectify its window as ``pipeline.read`` would.

    The window is rectified where this unit's window really is (a misregistered
    unit's window is found from the image, not from the template), disturbed by
    :func:`_jitter`. Returns ``(window, px_per_mm, truth OD per line)``.
    """
    ods = sample_ods(kit, rng)
    size = SIZES[int(rng.integers(len(SIZES)))]
    photo = render_photo(kit, rng, od=ods, code=code, size=size, variation=variation)
    assert photo.window_homography is not None
    image = photo.decoded()  # the JPEG pixels the pipeline sees
    homography = photo.window_homography @ _jitter(kit, rng)
    ppm = float(np.clip(window_px_per_mm(kit, homography), *READ_PPM))
    window = rectify_window(image, kit, homography, px_per_mm=ppm)
    truth = np.array([photo.truth["od"][line.name] for line in kit.lines], dtype=np.float64)
    return window, ppm, truth


def window_features(window: np.ndarray, kit: Kit, ppm: float) -> np.ndarray:
    """The pipeline's own line features for a rectified window."""
    profile = optical_density_profile(window, kit, ppm)
    lines = find_lines(profile, kit, ppm)
    return line_features(profile, lines, kit, ppm)


def parse_profiles(text: str) -> tuple[str, ...]:
    """Variation profiles named in ``text``, comma-separated (a training mix).

    Examples
    --------
    >>> parse_profiles("mild,realworld-wide")
    ('mild', 'realworld-wide')
    """
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in PROFILES]
    if not names or unknown:
        raise ValueError(f"variation {text!r}: expected profiles among {PROFILES}, comma-separated")
    return names


def _window_job(job: tuple[int, int, int, int, str]) -> WindowSample:
    seed, n_kits, index, kit_index, mix = job
    # A mix takes its profiles in turn (balanced whatever the count); one profile
    # draws exactly as before the mix existed, so earlier models stay reproducible.
    profiles = parse_profiles(mix)
    profile = profiles[index % len(profiles)]
    cv2.setNumThreads(1)
    kit = _kits_cached(seed, n_kits)[kit_index]
    rng = np.random.default_rng([seed, index])
    # Its own stream, as datasets.generate draws it; small training photos: no 12-MP case.
    variation = draw_variation(
        np.random.default_rng([seed, index, 1]),
        profile,
        small_cassettes=False,
        kit=kit,
    )
    window, ppm, truth = render_window(kit, rng, f"TRAIN{seed:03d}{index:07d}", variation)
    return WindowSample(window, ppm, kit_index, truth)


_KITS: dict[tuple[int, int], list[Kit]] = {}


def _kits_cached(seed: int, n: int) -> list[Kit]:
    if (seed, n) not in _KITS:
        _KITS[(seed, n)] = random_kits(seed, n)
    return _KITS[(seed, n)]


def render_windows(
    seed: int,
    n_photos: int,
    n_kits: int,
    workers: int = 1,
    progress: bool = True,
    variation: str = "mild",
) -> list[WindowSample]:
    """Render ``n_photos`` photos over ``n_kits`` random designs (the slow part).

    Units and phones vary by the ``variation`` profile (see
    :func:`datasets.render.variation.draw_variation`), or by several
    comma-separated profiles taken photo by photo in turn.
    """
    parse_profiles(variation)  # refuse a bad name before starting any worker
    kit_of = np.random.default_rng([seed, 10**9]).integers(0, n_kits, n_photos)
    jobs = [(seed, n_kits, i, int(kit_of[i]), variation) for i in range(n_photos)]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            return list(pool.map(_window_job, jobs, chunksize=8))
    samples = []
    for k, job in enumerate(jobs):
        samples.append(_window_job(job))
        if progress and (k + 1) % 100 == 0:
            print(f"  {k + 1}/{n_photos} photos", file=sys.stderr, flush=True)
    return samples


def make_dataset(samples: Sequence[WindowSample], kits: Sequence[Kit]) -> Dataset:
    """Line features and truth of rendered windows (fast: no rendering)."""
    parts = []
    for i, sample in enumerate(samples):
        kit = kits[sample.kit]
        feats = window_features(sample.window, kit, sample.px_per_mm)
        role = np.array([1 if line.role == "control" else 0 for line in kit.lines])
        n = len(kit.lines)
        parts.append(Dataset(feats, sample.od, role, np.full(n, i), np.full(n, sample.kit)))
    return Dataset.concat(parts)


# --- model -------------------------------------------------------------------------------


def fit(data: Dataset, seed: int) -> Any:
    """Gradient-boosted trees on the line features, monotone in the line evidence.

    Returns a fitted ``HistGradientBoostingClassifier``. No early stopping,
    fixed seed: the same data give the same trees.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier

    monotone = [MONOTONE.get(name, 0) for name in FEATURE_NAMES]
    model = HistGradientBoostingClassifier(
        learning_rate=0.05,
        max_iter=200,
        max_leaf_nodes=6,
        min_samples_leaf=60,
        l2_regularization=1.0,
        monotonic_cst=monotone,
        early_stopping=False,
        random_state=seed,
    )
    model.fit(data.x, data.y, sample_weight=np.where(data.y == 0, NEGATIVE_WEIGHT, 1.0))
    return model


def to_onnx(model: Any, version: str) -> bytes:
    """The fitted classifier as ONNX bytes, with its version and feature names as metadata."""
    from skl2onnx import to_onnx as convert
    from skl2onnx.common import tree_ensemble
    from skl2onnx.common.data_types import FloatTensorType

    # skl2onnx 1.20 passes a Python bool for leaves' missing-value flag, which the
    # current protobuf refuses in an ints attribute; cast it while converting.
    original = tree_ensemble.add_node

    def add_node(*args: Any, **kwargs: Any) -> Any:
        flag = kwargs.get("nodes_missing_value_tracks_true")
        if flag is not None:
            kwargs["nodes_missing_value_tracks_true"] = int(flag)
        return original(*args, **kwargs)

    tree_ensemble.add_node = add_node
    try:
        onx = convert(
            model,
            initial_types=[("features", FloatTensorType([None, len(FEATURE_NAMES)]))],
            options={id(model): {"zipmap": False}},
            target_opset={"": 17, "ai.onnx.ml": 3},
        )
    finally:
        tree_ensemble.add_node = original
    onx.doc_string = f"{version}: line-present classifier on pipeline.bands.line_features"
    onx.producer_name = "vigil-models-train"
    for key, value in (("version", version), ("features", ",".join(FEATURE_NAMES))):
        prop = onx.metadata_props.add()
        prop.key, prop.value = key, value
    return bytes(onx.SerializeToString())


# --- evaluation --------------------------------------------------------------------------


def evaluate(predict: Callable[[np.ndarray], np.ndarray], data: Dataset) -> dict[str, Any]:
    """Held-out metrics at the reading threshold 0.5.

    Sensitivity per OD band and specificity are over test lines; invalid
    detection is over units whose control is absent (control called absent).
    """
    p = np.clip(np.asarray(predict(data.x), dtype=np.float64).reshape(-1), 1e-6, 1 - 1e-6)
    y = data.y
    called = p >= 0.5
    test = data.role == 0
    out: dict[str, Any] = {}
    for name, lo, hi in OD_BANDS:
        sel = test & (data.od >= lo) & (data.od < hi)
        out[f"sensitivity_{name}"] = _rate(called[sel])
        out[f"n_{name}"] = int(sel.sum())
    neg = test & (data.od < VISIBLE_OD)
    out["specificity"] = _rate(~called[neg])
    out["n_negative"] = int(neg.sum())
    ctrl_absent = (data.role == 1) & (data.od < VISIBLE_OD)
    out["invalid_detected"] = _rate(~called[ctrl_absent])
    out["n_invalid"] = int(ctrl_absent.sum())
    ctrl_present = (data.role == 1) & (data.od >= VISIBLE_OD)
    out["control_sensitivity"] = _rate(called[ctrl_present])
    out["log_loss"] = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    out["brier"] = float(np.mean((p - y) ** 2))
    out["n_lines"] = int(y.size)
    return {k: (round(v, 5) if isinstance(v, float) else v) for k, v in out.items()}


def _rate(hits: np.ndarray) -> float:
    return float(np.mean(hits)) if hits.size else float("nan")


# --- outputs -----------------------------------------------------------------------------


def _next_version(registry: dict[str, Any]) -> str:
    numbers = [
        int(m["version"].split("@")[1])
        for m in registry.get("models", [])
        if str(m.get("version", "")).startswith(MODEL_NAME + "@")
    ]
    return f"{MODEL_NAME}@{max(numbers, default=0) + 1}"


def _card(version: str, info: dict[str, Any]) -> str:
    m, b = info["metrics"], info["baseline_metrics"]

    def row(key: str, label: str) -> str:
        return f"| {label} | {_pct(m.get(key))} | {_pct(b.get(key))} |"

    features = "\n".join(f"- `{name}`" for name in FEATURE_NAMES)
    return f"""# {version}

Line-present classifier for `pipeline.bands.line_features` (one row per kit line).
ONNX ({info["size_bytes"] / 1024:.0f} KiB, sha256 `{info["sha256"][:16]}…`), run with onnxruntime by
`models.band_model.BandModel`; the probability feeds `pipeline.interpret` (present at p >= 0.5).

## Data
Synthetic photos from `datasets.render.render_photo` (linear-light scene, sRGB JPEG) of
{info["n_kits"]} random kit designs (`datasets.kits.random_kit`, `RND-` codes, none of the
benchmark designs): {info["n_photos"]} fit photos, sizes 720-1600 px, units and phones varied by
{_profiles_text(info["variation"])} (`datasets.render.variation`: misregistered windows, lines and
codes, labels, moulded rims, tinted membranes, phone denoise and sharpening), windows rectified
where each unit's window really is, disturbed like a locator (about 0.2 mm, 0.4°, 0.6 %), at
5-8 px/mm as `pipeline.read` does. Test lines: 42 % absent (half of them with a residual tint of OD
0.001-{RESIDUAL_OD}), 33 % OD 0.012-0.06, the rest 0.06-1.2; controls absent in 10 % of
units. Absent lines weigh {NEGATIVE_WEIGHT:g}x in training (a prior of about 22 % present
test lines: false positives matter more). Kit designs are split {info["n_train_kits"]} train /
{info["n_heldout_kits"]} held-out: held-out metrics are on designs the model never saw.

## Model
`HistGradientBoostingClassifier` ({info["params"]}),
monotone increasing in `od`, `snr`, `snr_anchor` and `band_min_snr` (more line evidence never
lowers p), so the probability stays tied to the measured optical density; a line's reported
intensity is its measured OD whatever the model says. Seed {info["seed"]};
`{info["command"]}` reproduces the bytes (render and features
{info["timing_s"]["render_and_features"]:.0f} s with 2 workers, fit
{info["timing_s"]["fit"]:.0f} s).

## Features
{features}

## Held-out metrics (threshold 0.5; baseline = `pipeline.bands.band_probability`)
| measure | {version} | baseline |
|---|---|---|
{row("sensitivity_trace", f"trace OD 0.012-0.02 (n={m['n_trace']})")}
{row("sensitivity_faint", f"faint OD 0.02-0.05 (n={m['n_faint']})")}
{row("sensitivity_weak", f"weak OD 0.05-0.15 (n={m['n_weak']})")}
{row("sensitivity_strong", f"strong OD >= 0.15 (n={m['n_strong']})")}
{row("specificity", f"specificity, absent test lines (n={m['n_negative']})")}
{row("invalid_detected", f"absent control called absent (n={m['n_invalid']})")}
{row("control_sensitivity", "present control called present")}
| log loss | {m["log_loss"]:.4f} | {b["log_loss"]:.4f} |

## Limits
- Trained and evaluated on one synthetic renderer only; real photos and other renderers
  (other tone curves, noise, membranes) may shift the score distribution.
- OD is measured on the encoded (sRGB) pixel values, as the kit contract's truth is; a camera
  with another tone curve changes the OD scale (features in SNR units are less affected).
- Held-out counts are small: a rate of 99.5 % needs thousands of lines to be checked.
- Unfit photos (blur, glare, dark...) are not in the training set: quality checks must
  catch them first.
"""


def _profiles_text(variation: str) -> str:
    """How a card names the variation: one profile, or a mix taken in turn.

    >>> _profiles_text("mild,realworld-wide")
    'the profiles `mild` and `realworld-wide`, photo by photo in turn'
    """
    names = parse_profiles(variation)
    if len(names) == 1:
        return f"the profile `{names[0]}`"
    listed = ", ".join(f"`{n}`" for n in names[:-1]) + f" and `{names[-1]}`"
    return f"the profiles {listed}, photo by photo in turn"


def _pct(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "n/a"
    return f"{100 * float(value):.1f} %"


def _evaluate_only(args: argparse.Namespace) -> int:
    """Held-out evaluation of a model on photos of designs never trained on."""
    from models.band_model import BandModel
    from models.registry import REGISTRY_PATH, band_model

    path = Path(args.evaluate)
    model = BandModel.from_file(path) if path.suffix == ".onnx" else band_model(args.evaluate)
    started = time.perf_counter()
    samples = render_windows(
        args.seed, args.photos, args.kits, args.workers, variation=args.variation
    )
    data = make_dataset(samples, random_kits(args.seed, args.kits))
    result = {
        "model": model.version,
        "registry": str(REGISTRY_PATH),
        "seed": args.seed,
        "photos": args.photos,
        "kits": args.kits,
        "metrics": evaluate(model, data),
        "baseline_metrics": evaluate(band_probability, data),
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(result, indent=1))
    return 0


def _profiles_arg(text: str) -> str:
    try:
        return ",".join(parse_profiles(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(Path(models.__file__).resolve().parent))
    parser.add_argument(
        "--variation",
        type=_profiles_arg,
        default="mild",
        help="how far units and phones differ from the kit description: a profile of "
        f"{', '.join(PROFILES)}, or several comma-separated, taken photo by photo in turn "
        "(default mild)",
    )
    parser.add_argument("--photos", type=int, default=1400, help="training + held-out photos")
    parser.add_argument("--kits", type=int, default=40, help="random kit designs")
    parser.add_argument(
        "--heldout-kits", type=float, default=0.25, help="share of designs held out"
    )
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--version", default=None, help="default: next free band-classifier@N")
    parser.add_argument("--cache", default=None, help="pickle to reuse rendered windows (dev)")
    parser.add_argument("--no-register", action="store_true", help="write files, leave registry")
    parser.add_argument(
        "--evaluate",
        metavar="MODEL",
        default=None,
        help="only evaluate MODEL (a registered version or an .onnx path) and the rule baseline "
        "on fresh photos of --kits designs drawn from --seed (use a seed not trained on)",
    )
    args = parser.parse_args(argv)
    if args.evaluate:
        return _evaluate_only(args)

    from models.band_model import BandModel
    from models.registry import load_registry, save_registry, sha256

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    cache = Path(args.cache) if args.cache else None
    if cache is not None and cache.exists():
        with cache.open("rb") as f:
            samples = [WindowSample(*fields) for fields in pickle.load(f)]
    else:
        print(f"rendering {args.photos} photos of {args.kits} kit designs ...", file=sys.stderr)
        samples = render_windows(
            args.seed, args.photos, args.kits, args.workers, variation=args.variation
        )
        if cache is not None:
            with cache.open("wb") as f:
                pickle.dump([(s.window, s.px_per_mm, s.kit, s.od) for s in samples], f)
    data = make_dataset(samples, random_kits(args.seed, args.kits))
    render_s = time.perf_counter() - started

    order = np.random.default_rng([args.seed, 1]).permutation(args.kits)
    n_held = max(1, round(args.heldout_kits * args.kits))
    held_kits = np.sort(order[:n_held])
    heldout_mask = np.isin(data.kit, held_kits)
    train, heldout = data.subset(~heldout_mask), data.subset(heldout_mask)

    registry_path = out / "registry.json"
    registry = load_registry(registry_path)
    version = args.version or _next_version(registry)
    fit_started = time.perf_counter()
    model = fit(train, args.seed)
    fit_s = time.perf_counter() - fit_started
    onnx_bytes = to_onnx(model, version)
    model_path = out / f"{version}.onnx"
    model_path.write_bytes(onnx_bytes)
    candidate = BandModel.from_file(model_path)

    metrics = evaluate(candidate, heldout)
    baseline = evaluate(band_probability, heldout)
    current_version = registry.get("current")
    current_metrics = None
    if current_version and current_version != version:
        try:
            from models.registry import band_model

            current_metrics = evaluate(band_model(current_version, registry_path), heldout)
        except Exception as exc:  # an unloadable current model must not block training
            print(f"current model {current_version} not evaluated: {exc}", file=sys.stderr)
    # Shown beside the candidate's (same held-out lines); the decision is training.evaluate's.
    promoted = not current_version

    command = (
        f"python -m training.train --seed {args.seed} --photos {args.photos} --kits {args.kits}"
        + (f" --variation {args.variation}" if args.variation != "mild" else "")
    )
    info: dict[str, Any] = {
        "version": version,
        "file": model_path.name,
        "sha256": sha256(model_path),
        "size_bytes": len(onnx_bytes),
        "created": dt.date.today().isoformat(),
        "seed": args.seed,
        "n_photos": args.photos,
        "n_kits": args.kits,
        "variation": args.variation,
        "n_train_kits": args.kits - n_held,
        "n_heldout_kits": n_held,
        "n_train_lines": int(train.y.size),
        "params": "lr 0.05, 200 trees, 6 leaves, min leaf 60, l2 1.0, absent lines weighted 5",
        "command": command,
        "features": list(FEATURE_NAMES),
        "metrics": metrics,
        "baseline_metrics": baseline,
        "current_metrics_on_same_heldout": current_metrics,
        "promoted": promoted,
        "timing_s": {"render_and_features": round(render_s, 1), "fit": round(fit_s, 1)},
    }
    (out / f"{version}.metrics.json").write_text(json.dumps(info, indent=2) + "\n")
    cards = out / "cards"
    cards.mkdir(exist_ok=True)
    (cards / f"{version}.md").write_text(_card(version, info))
    if not args.no_register:
        registry["models"] = [m for m in registry["models"] if m.get("version") != version]
        keep = ("version", "file", "sha256", "size_bytes", "created", "seed", "command", "features")
        registry["models"].append(
            {**{k: info[k] for k in keep}, "metrics": metrics, "baseline_metrics": baseline}
        )
        if promoted:
            registry["current"] = version
        save_registry(registry, registry_path)
    print(json.dumps({"version": version, "promoted": promoted, **info["timing_s"]}))
    if not promoted:
        print(
            f"registered {version}; to promote it: python -m training.evaluate --candidate "
            f"{version} --champion {current_version} --out DIR --promote",
            file=sys.stderr,
        )
    print(json.dumps({"candidate": metrics, "baseline": baseline}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
