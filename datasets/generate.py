"""Write a labelled synthetic photo set: JPEG photos plus ``labels.jsonl``.

Each photo is one unit of one kit with line densities drawn from an OD mix
that covers what matters for a reader: clean negatives (membrane artefacts
only), trace, faint, weak and strong lines, and invalid units (no control
line); a share of photos carries a flaw that makes them unreadable. Units and
phones vary as real ones do (:mod:`datasets.render.variation`): mildly by
default, at their widest with ``variation="realworld-wide"`` (a held-out slice).

Output layout::

    out_dir/
      labels.jsonl          one JSON object per photo (see :func:`generate`)
      images/000000.jpg     the photos, as the pipeline would receive them
      kits/<product_code>/  kit.json + template.png of every kit used

The same seed gives byte-identical files: photo ``i`` draws everything from
``numpy.random.default_rng([seed, i])``, and its variation from
``default_rng([seed, i, 1])`` (so ``variation="none"`` renders the plain set).

Held-out kits: :func:`datasets.kits.benchmark_kits` (product codes
``BENCH-*``) are for the benchmark only. ``--random-kits K`` draws training
designs ``RND-*`` from ``default_rng([seed, 1_000_000 + j])``, ``j < K``.

Examples
--------
``python -m datasets.generate --out /tmp/synth --n 600 --seed 1 --random-kits 20``

``python -m datasets.generate --out /tmp/wide --n 200 --benchmark-kits --variation realworld-wide``
"""

from __future__ import annotations

import argparse
import json
import re
import string
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from datasets.kits import benchmark_kits, random_kit, write_kit
from datasets.render import FLAWS, render_photo
from datasets.render.variation import PROFILES, draw_variation
from pipeline.kit import Kit, load_kit, parse_kit

DEMO_KIT = Path(__file__).parent / "kits" / "demo" / "kit.json"

#: Share of photos per test-line category. ``invalid``: the control line is absent.
DEFAULT_OD_MIX: dict[str, float] = {
    "negative": 0.25,
    "trace": 0.08,
    "faint": 0.15,
    "weak": 0.17,
    "strong": 0.25,
    "invalid": 0.10,
}
# Optical density range of each category (strong is drawn log-uniform).
OD_RANGES: dict[str, tuple[float, float]] = {
    "negative": (0.0, 0.0),
    "trace": (0.012, 0.02),
    "faint": (0.02, 0.05),
    "weak": (0.05, 0.15),
    "strong": (0.15, 1.0),
}
_CODE_ALPHABET = string.ascii_uppercase + string.digits

KitLike = Kit | str | Path | tuple[dict[str, Any], np.ndarray]


def _draw_od(rng: np.random.Generator, category: str) -> float:
    lo, hi = OD_RANGES[category]
    if hi == 0:
        return 0.0
    if category == "strong":
        return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    return float(rng.uniform(lo, hi))


def draw_line_ods(
    kit: Kit, rng: np.random.Generator, od_mix: dict[str, float]
) -> tuple[dict[str, float], str]:
    """Optical density of every line of one unit, and the category drawn for it.

    The category applies to the first test line; further test lines draw their
    own category (never ``invalid``). Control lines are strong unless the
    category is ``invalid``, where they are below visibility.

    Examples
    --------
    >>> from pipeline.kit import load_kit
    >>> kit = load_kit("datasets/kits/demo/kit.json")
    >>> ods, cat = draw_line_ods(kit, np.random.default_rng(0), {"invalid": 1.0})
    >>> cat, ods["C"] < 0.01
    ('invalid', True)
    """
    names = list(od_mix)
    p = np.array([od_mix[n] for n in names], float)
    if (p < 0).any() or p.sum() <= 0:
        raise ValueError("od_mix needs non-negative shares that sum to more than 0")
    unknown = set(names) - set(OD_RANGES) - {"invalid"}
    if unknown:
        raise ValueError(f"unknown od_mix categories: {sorted(unknown)}")
    category = str(rng.choice(names, p=p / p.sum()))
    line_names = [n for n in names if n != "invalid"] or ["negative"]
    q = np.array([od_mix.get(n, 0.0) for n in line_names], float)
    q = q / q.sum() if q.sum() > 0 else np.full(len(line_names), 1 / len(line_names))
    ods: dict[str, float] = {}
    first = True
    for line in kit.lines:
        if line.role == "control":
            if category == "invalid":
                od = float(rng.uniform(0.0, 0.006)) * (rng.random() < 0.7)
            else:
                od = (
                    _draw_od(rng, "strong")
                    if rng.random() < 0.85
                    else float(rng.uniform(0.05, 0.15))
                )
        else:
            cat = category if first and category != "invalid" else str(rng.choice(line_names, p=q))
            od = _draw_od(rng, cat)
            first = False
        ods[line.name] = round(od, 4)
    return ods, category


def unit_code(rng: np.random.Generator) -> str:
    """A random unit code like those printed on cassettes (10 to 16 letters and digits)."""
    n = int(rng.integers(10, 17))
    return "".join(rng.choice(list(_CODE_ALPHABET), n))


def _as_kit(item: KitLike) -> Kit:
    if isinstance(item, Kit):
        return item
    if isinstance(item, tuple):
        return parse_kit(item[0], item[1])
    return load_kit(item)


def _kit_dir_name(code: str, used: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", code) or "kit"
    name, k = base, 1
    while name in used:
        k += 1
        name = f"{base}-{k}"
    used.add(name)
    return name


def generate(
    out_dir: str | Path,
    kits: Sequence[KitLike],
    n: int,
    seed: int,
    *,
    flaw_rate: float = 0.1,
    od_mix: dict[str, float] | None = None,
    size: tuple[int, int] | None = None,
    variation: str = "mild",
    progress: bool = True,
) -> Path:
    """Render ``n`` labelled photos of units of ``kits`` into ``out_dir``.

    Parameters
    ----------
    out_dir : str or Path
        Created if missing; existing files of the same names are overwritten.
    kits : sequence
        :class:`~pipeline.kit.Kit` objects, paths of ``kit.json`` files, or
        ``(document, template)`` pairs from :mod:`datasets.kits`.
    n : int
        Number of photos.
    seed : int
        Same seed, same files.
    flaw_rate : float
        Share of photos with one of :data:`datasets.render.FLAWS` (drawn uniformly).
    od_mix : dict, optional
        Share of each category (see :data:`DEFAULT_OD_MIX`).
    size : (width, height), optional
        Fix the photo size (default: drawn per photo, 3 to 12 MP; 12 MP for
        small cassettes).
    variation : {"none", "mild", "realworld-wide"}
        How far units and phones differ from the kit description (see
        :func:`datasets.render.variation.draw_variation`): ``mild`` for
        training and the benchmark, ``realworld-wide`` for the held-out slice.
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    Path
        The written ``labels.jsonl``. Each line holds ``image`` (path relative
        to ``out_dir``), ``kit`` (relative path of its ``kit.json``), ``code``,
        ``fit``, ``flaw``, ``od``, ``result``, ``analytes``, ``homography``
        (template px -> photo px, or null), ``window_homography`` (the same
        for where this unit's window really is), ``code_corners`` (the code
        symbol's corners in the photo), ``line_at`` (true line positions),
        ``window_px_per_mm``, ``category``, ``variation`` (every parameter of
        :class:`~datasets.render.variation.Variation`, with its ``profile``)
        and ``meta`` (scene parameters).
    """
    if n < 0:
        raise ValueError("n must not be negative")
    if not kits:
        raise ValueError("at least one kit is needed")
    if not 0 <= flaw_rate <= 1:
        raise ValueError("flaw_rate must be within [0, 1]")
    if variation not in PROFILES:
        raise ValueError(f"unknown variation {variation!r}; expected one of {PROFILES}")
    mix = dict(od_mix or DEFAULT_OD_MIX)
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)

    parsed = [_as_kit(k) for k in kits]
    used: set[str] = set()
    kit_paths = []
    for kit in parsed:
        path = write_kit(
            out / "kits" / _kit_dir_name(kit.product_code, used), kit.to_json(), kit.template
        )
        kit_paths.append(path.relative_to(out).as_posix())

    labels = out / "labels.jsonl"
    with labels.open("w", encoding="utf-8") as fh:
        for i in tqdm(range(n), desc="rendering", unit="photo", disable=not progress):
            rng = np.random.default_rng([seed, i])
            j = int(rng.integers(len(parsed)))
            kit = parsed[j]
            ods, category = draw_line_ods(kit, rng, mix)
            flaw = str(rng.choice(FLAWS)) if rng.random() < flaw_rate else None
            code = unit_code(rng)
            # The variation draws from its own stream: "none" renders what it always did.
            unit = draw_variation(
                np.random.default_rng([seed, i, 1]),
                variation,
                small_cassettes=size is None,
                kit=kit,
            )
            photo = render_photo(kit, rng, od=ods, code=code, flaw=flaw, size=size, variation=unit)
            image = f"images/{i:06d}.jpg"
            (out / image).write_bytes(photo.jpeg)
            record: dict[str, Any] = {"image": image, "kit": kit_paths[j], **photo.truth}
            record["homography"] = (
                np.round(photo.homography, 9).tolist() if photo.homography is not None else None
            )
            record["window_homography"] = (
                np.round(photo.window_homography, 9).tolist()
                if photo.window_homography is not None
                else None
            )
            record["code_corners"] = (
                np.round(photo.code_corners, 3).tolist() if photo.code_corners is not None else None
            )
            record["line_at"] = photo.line_at
            record["window_px_per_mm"] = photo.window_px_per_mm
            record["category"] = category
            record["variation"] = unit.to_json()
            record["meta"] = photo.meta
            fh.write(json.dumps(record) + "\n")
    return labels


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """Arguments of the generator (pass a sub-parser to add them to another command)."""
    p = parser or argparse.ArgumentParser(
        prog="python -m datasets.generate", description="Render labelled synthetic kit photos."
    )
    p.add_argument("--out", required=True, type=Path, help="output directory")
    p.add_argument("--n", type=int, default=600, help="number of photos (default 600)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument(
        "--kit", action="append", type=Path, default=[], help="kit.json to use (repeatable)"
    )
    p.add_argument(
        "--benchmark-kits", action="store_true", help="use the held-out benchmark designs"
    )
    p.add_argument(
        "--random-kits", type=int, default=0, metavar="K", help="add K random training designs"
    )
    p.add_argument(
        "--flaw-rate", type=float, default=0.1, help="share of unreadable photos (default 0.1)"
    )
    p.add_argument("--size", type=_parse_size, default=None, metavar="WxH", help="fixed photo size")
    p.add_argument(
        "--variation",
        choices=PROFILES,
        default="mild",
        help="how far units and phones differ from the kit description (default mild; "
        "realworld-wide is the held-out slice)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _parse_size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)[xX](\d+)", text.strip())
    if not m:
        raise argparse.ArgumentTypeError("size must look like 2048x1536")
    return int(m.group(1)), int(m.group(2))


def kits_from_args(args: argparse.Namespace) -> list[KitLike]:
    """The kits an argument namespace asks for (the demo kit when it names none)."""
    kits: list[KitLike] = [Path(k) for k in args.kit]
    if args.benchmark_kits:
        kits.extend(benchmark_kits())
    for j in range(args.random_kits):
        kits.append(random_kit(np.random.default_rng([args.seed, 1_000_000 + j])))
    return kits or [DEMO_KIT]


def run(args: argparse.Namespace) -> int:
    """Generate the set an argument namespace of :func:`build_parser` describes."""
    labels = generate(
        args.out,
        kits_from_args(args),
        args.n,
        args.seed,
        flaw_rate=args.flaw_rate,
        size=args.size,
        variation=args.variation,
        progress=not args.quiet,
    )
    print(labels)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry: ``python -m datasets.generate --out DIR [...]``."""
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
