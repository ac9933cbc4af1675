"""Evaluate a candidate band model against the champion, photo by photo, through ``pipeline.read``.

``python -m training.evaluate --candidate new.onnx --champion band-classifier@1 --out DIR``
reads the same photos with both models and scores each:

- a fresh **synthetic** set of *new* kit designs (drawn from their own seed
  stream: never the training designs nor the benchmark's), rendered by
  :func:`datasets.generate.generate` with the real-world variations of
  :mod:`datasets.render.variation` (profile ``mild`` by default,
  ``--variation realworld-wide`` for the widest);
- optionally **real** confirmed cases (``--real DIR``, the format in
  ``training/dataset_format.md``), scored as a whole, per product (when it holds
  several), and for the products the candidate never saw in training pooled
  (``--unseen-product``).

Per model and set: sensitivity per OD band (trace/faint/weak/strong, the bands
of ``benchmarks/bench_read.py``) and specificity over test lines of photos
answered ``ok``; invalid detection; retake rate of fit photos; read-by-eye
rate; confident errors (a wrong ``ok`` answer at confidence >= 0.8, over all
photos); Cohen's kappa of the answered result against the clinician's final
label (real) or the rendered truth (synthetic); calibration of the line-present
probability (expected calibration error over 10 bins, and a reliability
diagram); speed (ms per read, this machine). Counted figures are ``{"k", "n",
"rate"}``, the form :mod:`models.promotion` judges. Writes ``report.md`` with
the diagrams and ``evaluation.json`` (its ``comparison`` and ``decision`` are
what the registry's promotion checks).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from datasets.generate import generate
from datasets.kits import random_kit
from datasets.render import VISIBLE_OD
from models.band_model import BandModel, BandModelError
from models.promotion import decide
from pipeline.kit import Kit, KitError, load_kit
from pipeline.read import AMBIGUOUS_CONFIDENCE, read
from training.train import OD_BANDS

#: Evaluation kit designs come from this seed stream: not training's, not the benchmark's.
EVAL_KIT_SEED_BASE = 9_000_000
RESULTS = ("positive", "negative", "invalid")
CALIBRATION_BINS = 10


class DatasetError(ValueError):
    """An evaluation set on disk is missing a file or has a malformed record."""


@dataclass(frozen=True)
class Case:
    """One photo and what is known to be true about it."""

    case: str
    photo: Path
    kit: Kit
    product: str
    result: str | None  # positive/negative/invalid; None: no person could read it
    lines: Mapping[str, bool]  # truth per kit line, where known
    od: Mapping[str, float]  # OD of present lines, where known
    # Real cases only: the unit (split key), and the straightened window the server kept.
    unit: str = ""
    window: Path | None = None
    px_per_mm: float | None = None

    @property
    def fit(self) -> bool:
        return self.result is not None


@dataclass(frozen=True)
class Contender:
    """A model under evaluation: its runtime, and the file hash that names it."""

    model: BandModel
    sha256: str

    @classmethod
    def from_bytes(cls, data: bytes, version: str | None = None) -> Contender:
        return cls(BandModel.from_bytes(data, version), hashlib.sha256(data).hexdigest())


@dataclass
class Scored:
    """A model's readings of a set, tallied."""

    figures: dict[str, list[int]] = field(default_factory=dict)  # name -> [k, n]
    answered: list[tuple[str, str]] = field(default_factory=list)  # (truth, model result)
    probabilities: list[tuple[float, bool]] = field(default_factory=list)  # (p, present)
    ms: list[float] = field(default_factory=list)

    def add(self, name: str, hit: bool) -> None:
        k_n = self.figures.setdefault(name, [0, 0])
        k_n[0] += int(hit)
        k_n[1] += 1


# --- sets --------------------------------------------------------------------------------


def new_kit_designs(seed: int, n: int) -> list[tuple[dict[str, Any], np.ndarray]]:
    """``n`` random kit designs from the evaluation's own seed stream (``RND-`` codes)."""
    return [random_kit(np.random.default_rng([EVAL_KIT_SEED_BASE, seed, j])) for j in range(n)]


def render_synthetic(
    out: Path,
    n: int,
    seed: int,
    *,
    kits: int = 6,
    variation: str = "mild",
    size: tuple[int, int] | None = None,
) -> Path:
    """Render ``n`` labelled photos of ``kits`` new designs into ``out``; returns ``out``."""
    generate(
        out, new_kit_designs(seed, kits), n, seed, variation=variation, size=size, progress=False
    )
    return out


def _records(directory: Path) -> list[dict[str, Any]]:
    labels = directory / "labels.jsonl"
    if not labels.is_file():
        raise DatasetError(f"{labels}: no such file")
    records = []
    for number, text in enumerate(labels.read_text(encoding="utf-8").splitlines(), 1):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{labels}:{number}: not JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise DatasetError(f"{labels}:{number}: not a JSON object")
        records.append(record)
    return records


def _kit(directory: Path, relative: str, cache: dict[str, Kit]) -> Kit:
    if relative not in cache:
        try:
            cache[relative] = load_kit(directory / relative)
        except (KitError, OSError) as exc:
            raise DatasetError(f"{directory / relative}: {exc}") from None
    return cache[relative]


def load_synthetic(directory: Path) -> list[Case]:
    """The cases of a set written by :func:`datasets.generate.generate`."""
    kits: dict[str, Kit] = {}
    cases = []
    for record in _records(directory):
        kit = _kit(directory, record["kit"], kits)
        od = {name: float(v) for name, v in record["od"].items()}
        cases.append(
            Case(
                case=record["image"],
                photo=directory / record["image"],
                kit=kit,
                product=kit.product_code,
                result=record["result"] if record["fit"] else None,
                lines={name: v >= VISIBLE_OD for name, v in od.items()},
                od={name: v for name, v in od.items() if v >= VISIBLE_OD},
            )
        )
    return cases


def _real_lines(kit: Kit, label: Mapping[str, Any]) -> dict[str, bool]:
    given = label.get("lines")
    if isinstance(given, Mapping):
        return {str(k): bool(v) for k, v in given.items()}
    result = label["result"]
    tests = [line for line in kit.lines if line.role == "test"]
    controls = [line.name for line in kit.lines if line.role == "control"]
    if result == "invalid":
        return dict.fromkeys(controls, False)
    if len(tests) != 1 or result not in ("positive", "negative"):
        return {}
    reactive = tests[0].present_means == "reactive"
    present = (result == "positive") == reactive
    return {tests[0].name: present, **dict.fromkeys(controls, True)}


def _real_od(lines: Mapping[str, bool], label: Mapping[str, Any], reading: Any) -> dict[str, float]:
    """OD of each present line: the reference reader's, else what the stored reading measured."""
    stored = (reading or {}).get("lines") or {}
    given = label.get("od") or {}
    od: dict[str, float] = {}
    for name, present in lines.items():
        if present:
            value = given.get(name)
            measured = (stored.get(name) or {}).get("intensity")
            od[name] = float(value if value is not None else measured or 0.0)
    return od


def load_real(directory: Path) -> list[Case]:
    """Confirmed real cases in the ``vigil-confirmed-cases/1`` layout (dataset_format.md)."""
    kits: dict[str, Kit] = {}
    cases = []
    for record in _records(directory):
        try:
            label = record["final_label"]
            result = label["result"]
            kit = _kit(directory, record["kit"], kits)
            case, image, product = record["case"], record["image"], record["product_code"]
        except (KeyError, TypeError) as exc:
            raise DatasetError(f"case {record.get('case', '?')}: missing {exc}") from None
        if result not in (*RESULTS, "unreadable"):
            raise DatasetError(f"case {case}: unknown final result {result!r}")
        photo = directory / image
        if not photo.is_file():
            raise DatasetError(f"case {case}: {photo} missing")
        try:
            lines = _real_lines(kit, label)
            od = _real_od(lines, label, record.get("reading"))
        except (AttributeError, TypeError, ValueError) as exc:
            raise DatasetError(f"case {case}: malformed label or reading ({exc})") from None
        cases.append(
            Case(
                case=str(case),
                photo=photo,
                kit=kit,
                product=str(product),
                result=None if result == "unreadable" else result,
                lines=lines,
                od=od,
                unit=str(record.get("unit") or case),
                window=directory / record["window"] if record.get("window") else None,
                px_per_mm=float(record["px_per_mm"]) if record.get("px_per_mm") else None,
            )
        )
    return cases


# --- scoring -----------------------------------------------------------------------------


def od_band(od: float) -> str:
    """The OD band of a present line (``training.train.OD_BANDS``).

    A present line measured fainter than trace is the hardest kind: it counts as trace.

    >>> od_band(0.001), od_band(0.03), od_band(2.0)
    ('trace', 'faint', 'strong')
    """
    for name, _low, high in OD_BANDS:
        if od < high:
            return name
    return OD_BANDS[-1][0]


def score_case(scored: Scored, case: Case, reading: Mapping[str, Any]) -> None:
    """Add one reading of one case to the tallies."""
    status = reading["status"]
    ok = status == "ok"
    wrong = ok and case.fit and reading["result"] != case.result
    unfit_answer = ok and not case.fit
    scored.add("by_eye", status == "by_eye")
    scored.add(
        "confident_errors",
        (wrong or unfit_answer) and reading["confidence"] >= AMBIGUOUS_CONFIDENCE,
    )
    if not case.fit:
        scored.add("retake_unfit", status == "retake")
        return
    scored.add("retake_fit", status == "retake")
    if not ok:
        return
    scored.add("result_correct", not wrong)
    scored.answered.append((str(case.result), str(reading["result"])))
    for name, line in reading["lines"].items():
        if name in case.lines:
            scored.probabilities.append((float(line["p_present"]), case.lines[name]))
    if case.result == "invalid":
        scored.add("invalid_detected", reading["result"] == "invalid")
        return
    for line in case.kit.lines:
        if line.role != "test" or line.name not in case.lines:
            continue
        found = bool(reading["lines"][line.name]["present"])
        if case.lines[line.name]:
            scored.add(f"sensitivity_{od_band(case.od.get(line.name, 0.0))}", found)
        else:
            scored.add("specificity", not found)


def calibration(
    pairs: Sequence[tuple[float, bool]], bins: int = CALIBRATION_BINS
) -> dict[str, Any]:
    """Expected calibration error of line-present probabilities and the reliability bins.

    Examples
    --------
    >>> calibration([(0.9, True), (0.9, False), (0.1, False), (0.1, False)])["ece"]
    0.25
    """
    if not pairs:
        return {"ece": None, "bins": []}
    p = np.array([x for x, _ in pairs], float)
    y = np.array([t for _, t in pairs], float)
    index = np.minimum((p * bins).astype(int), bins - 1)
    ece, rows = 0.0, []
    for b in range(bins):
        sel = index == b
        if not sel.any():
            continue
        mean_p, frac = float(p[sel].mean()), float(y[sel].mean())
        ece += sel.sum() / p.size * abs(mean_p - frac)
        rows.append(
            {
                "low": b / bins,
                "mean_p": round(mean_p, 5),
                "present": round(frac, 5),
                "n": int(sel.sum()),
            }
        )
    return {"ece": round(float(ece), 5), "bins": rows}


def kappa(pairs: Sequence[tuple[str, str]]) -> float | None:
    """Cohen's kappa of answered results against the truth; None where undefined."""
    if len(pairs) < 2:
        return None
    from sklearn.metrics import cohen_kappa_score

    truth, said = zip(*pairs, strict=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one class only: kappa is undefined (nan)
        value = float(cohen_kappa_score(truth, said, labels=list(RESULTS)))
    return None if np.isnan(value) else round(value, 5)


def summarise(scored: Scored, n_photos: int) -> dict[str, Any]:
    """The metrics of one model on one set (JSON-ready)."""
    out: dict[str, Any] = {
        name: {"k": k, "n": n, "rate": round(k / n, 5) if n else None}
        for name, (k, n) in sorted(scored.figures.items())
    }
    ms = sorted(scored.ms)
    out["n_photos"] = n_photos
    out["kappa"] = kappa(scored.answered)
    out["calibration"] = calibration(scored.probabilities)
    out["ms_per_read"] = {
        "median": round(statistics.median(ms), 1) if ms else None,
        "mean": round(statistics.fmean(ms), 1) if ms else None,
        "p90": round(ms[int(0.9 * (len(ms) - 1))], 1) if ms else None,
    }
    return out


#: Readings kept between evaluations: (model sha256, photo path) -> (reading, ms).
ReadingCache = dict[tuple[str, str], tuple[dict[str, Any], float]]


def read_all(
    contender: Contender, cases: Sequence[Case], cache: ReadingCache | None = None
) -> list[tuple[dict[str, Any], float]]:
    """Read every case's photo: the reading and its wall time in ms.

    ``cache`` keeps readings between evaluations of several candidates against one
    champion on one set (the champion reads each photo once).
    """
    readings = []
    for case in cases:
        key = (contender.sha256, str(case.photo.resolve()))
        if cache is not None and key in cache:
            readings.append(cache[key])
            continue
        data = case.photo.read_bytes()
        started = time.perf_counter()
        reading = read(data, case.kit, band_model=contender.model, image=case.case).to_json()
        readings.append((reading, (time.perf_counter() - started) * 1000))
        if cache is not None:
            cache[key] = readings[-1]
    return readings


def evaluate_sets(
    contenders: Mapping[str, Contender],
    sets: Mapping[str, Sequence[Case]],
    *,
    unseen_products: Sequence[str] = (),
    by_product: Sequence[str] = ("real",),
    cache: ReadingCache | None = None,
) -> dict[str, dict[str, Any]]:
    """Metrics per set (and per product of the sets in ``by_product``) and per contender.

    Every contender reads every photo once; the slices reuse those readings.
    """
    out: dict[str, dict[str, Any]] = {}
    for set_name, cases in sets.items():
        slices: dict[str, list[int]] = {set_name: list(range(len(cases)))}
        if set_name in by_product:
            # One product's slice would repeat the whole set (and draw it twice).
            several = len({case.product for case in cases}) > 1
            for i, case in enumerate(cases):
                if several:
                    slices.setdefault(f"{set_name}/product/{case.product}", []).append(i)
                if case.product in unseen_products:
                    slices.setdefault(f"{set_name}/unseen", []).append(i)
        readings = {role: read_all(c, cases, cache) for role, c in contenders.items()}
        for slice_name, indices in slices.items():
            metrics = {}
            for role in contenders:
                scored = Scored()
                for i in indices:
                    reading, ms = readings[role][i]
                    scored.ms.append(ms)
                    score_case(scored, cases[i], reading)
                metrics[role] = summarise(scored, len(indices))
            products = sorted({cases[i].product for i in indices})
            out[slice_name] = {"n_photos": len(indices), "products": products, "metrics": metrics}
    return out


# --- report ------------------------------------------------------------------------------


def reliability_diagram(name: str, metrics: Mapping[str, Any], path: Path) -> None:
    """Draw each contender's reliability curve of one set to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=100)
    ax.plot([0, 1], [0, 1], color="0.7", linestyle="--", label="perfectly calibrated")
    for role, m in metrics.items():
        rows = m["calibration"]["bins"]
        if rows:
            ece = m["calibration"]["ece"]
            ax.plot(
                [r["mean_p"] for r in rows],
                [r["present"] for r in rows],
                marker="o",
                label=f"{role} (ECE {ece:.3f})",
            )
    ax.set_xlabel("predicted probability that a line is present")
    ax.set_ylabel("share of lines present")
    ax.set_title(f"Reliability: {name}", fontsize=10)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _cell(value: Any) -> str:
    if isinstance(value, Mapping) and "k" in value:
        rate = value["rate"]
        return "n/a" if rate is None else f"{100 * rate:.1f} % ({value['k']}/{value['n']})"
    return "n/a" if value is None else str(value)


ROWS = (
    *((f"sensitivity_{b}", f"sensitivity, {b} OD {lo:g}-{hi:g}") for b, lo, hi in OD_BANDS),
    ("specificity", "specificity, absent test lines"),
    ("invalid_detected", "invalid (no control) detected"),
    ("confident_errors", f"confident (>= {AMBIGUOUS_CONFIDENCE}) errors, all photos"),
    ("result_correct", "result correct (fit, answered)"),
    ("retake_fit", "fit photos answered retake"),
    ("retake_unfit", "unfit photos answered retake"),
    ("by_eye", "photos answered by_eye"),
    ("kappa", "Cohen's kappa vs truth / clinician"),
)


def set_table(report: Mapping[str, Any], name: str, figure_prefix: str = "") -> str:
    """One set's section: its measures, model by model, and its reliability diagram.

    ``figure_prefix`` is prepended to the diagram's file name (a report quoted from
    another folder).
    """
    roles = list(report["models"])
    head = " | ".join(f"{r} `{report['models'][r]['version']}`" for r in roles)
    data = report["sets"][name]
    m = data["metrics"]
    lines = [
        data.get("description", ""),
        f"{data['n_photos']} photos; products: {', '.join(data['products'])}.",
        "",
        f"| measure | {head} |",
        "|---|" + "---|" * len(roles),
    ]
    for key, label in ROWS:
        lines.append(f"| {label} | " + " | ".join(_cell(m[r].get(key)) for r in roles) + " |")
    lines.append(
        "| ECE (line probability) | "
        + " | ".join(_cell(m[r]["calibration"]["ece"]) for r in roles)
        + " |"
    )
    lines.append(
        "| ms per read (median / p90) | "
        + " | ".join(
            f"{m[r]['ms_per_read']['median']} / {m[r]['ms_per_read']['p90']}" for r in roles
        )
        + " |"
    )
    if data.get("figure"):
        lines += ["", f"![reliability {name}]({figure_prefix}{data['figure']})"]
    return "\n".join(lines)


def markdown(report: Mapping[str, Any]) -> str:
    """The report as Markdown (tables per set, the reliability diagrams, the decision)."""
    parts = [
        "# Band model evaluation",
        f"{report['created']}; `{report['command']}`. Readings through `pipeline.read`; "
        "sensitivity and specificity over photos answered `ok`.",
    ]
    parts += [f"## {name}\n{set_table(report, name)}" for name in report["sets"]]
    decision = report.get("decision")
    if decision is not None:
        refused = [v for v in decision["verdicts"] if not v["passed"]]
        parts.append(
            "## Promotion rule (`models.promotion`)\n\n"
            + decision["summary"]
            + (
                "\n\n" + "\n".join(f"- {v['set']}: {v['reason']}" for v in refused)
                if refused
                else ""
            )
        )
    return "\n\n".join(parts) + "\n"


def run(
    candidate: Contender,
    champion: Contender | None,
    out: Path,
    *,
    n: int = 120,
    seed: int = 20261129,
    kits: int = 6,
    variation: str = "mild",
    size: tuple[int, int] | None = None,
    real: Path | None = None,
    synthetic: Path | None = None,
    unseen_products: Sequence[str] = (),
    command: str = "python -m training.evaluate",
    cache: ReadingCache | None = None,
) -> dict[str, Any]:
    """Evaluate; write ``out/report.md``, ``out/evaluation.json`` and the diagrams.

    ``synthetic`` names a set already rendered by :func:`datasets.generate.generate`
    (one set for several candidates, with one ``cache`` of readings); otherwise
    ``n`` photos of ``kits`` new designs are rendered afresh.
    """
    out.mkdir(parents=True, exist_ok=True)
    contenders = {"candidate": candidate, **({"champion": champion} if champion else {})}
    descriptions = {}
    with tempfile.TemporaryDirectory(prefix="vigil-eval-") as tmp:
        sets: dict[str, list[Case]] = {}
        if synthetic is not None:
            sets["synthetic"] = load_synthetic(synthetic)
            descriptions["synthetic"] = f"Synthetic photos of `{synthetic}`."
        elif n > 0:
            sets["synthetic"] = load_synthetic(
                render_synthetic(Path(tmp), n, seed, kits=kits, variation=variation, size=size)
            )
            descriptions["synthetic"] = (
                f"Fresh synthetic photos of {kits} new kit designs (seed {seed}, variation "
                f"`{variation}`, 10 % unfit), never used in training."
            )
        if real is not None:
            sets["real"] = load_real(real)
            descriptions["real"] = f"Confirmed real cases from `{real}`, clinicians' final labels."
        if not sets:
            raise DatasetError("nothing to evaluate on: no synthetic photos and no real set")
        results = evaluate_sets(contenders, sets, unseen_products=unseen_products, cache=cache)
    for name, data in results.items():
        data["description"] = descriptions.get(name.split("/")[0], "")
        figure = f"reliability_{name.replace('/', '_')}.png"
        reliability_diagram(name, data["metrics"], out / figure)
        data["figure"] = figure
    comparison = (
        {
            name: {role: d["metrics"][role] for role in ("candidate", "champion")}
            for name, d in results.items()
        }
        if champion
        else None
    )
    report: dict[str, Any] = {
        "spec": "vigil-evaluation/1",
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": command,
        "models": {
            r: {"version": c.model.version, "sha256": c.sha256} for r, c in contenders.items()
        },
        "sets": results,
        "comparison": comparison,
        "decision": decide(comparison).to_json(),
    }
    (out / "evaluation.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    (out / "report.md").write_text(markdown(report), encoding="utf-8")
    return report


def load_contender(spec: str) -> Contender:
    """An ``.onnx`` path, or a version in ``models/registry.json``."""
    from models.registry import REGISTRY_PATH, entry, load_registry

    path = Path(spec)
    if path.suffix == ".onnx":
        try:
            return Contender.from_bytes(path.read_bytes())
        except (OSError, BandModelError) as exc:
            raise SystemExit(f"evaluate: {spec}: {exc}") from None
    item = entry(load_registry(), spec)
    if item is None:
        raise SystemExit(f"no model {spec!r}: give an .onnx file or a version in {REGISTRY_PATH}")
    return Contender.from_bytes((REGISTRY_PATH.parent / item["file"]).read_bytes(), spec)


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """Arguments of an evaluation (pass a sub-parser to add them to another command)."""
    p = parser or argparse.ArgumentParser(
        prog="python -m training.evaluate", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--candidate", required=True, help=".onnx file or registered version")
    p.add_argument("--champion", default=None, help=".onnx file or registered version")
    p.add_argument("--out", type=Path, required=True, help="folder for the report")
    p.add_argument("--n", type=int, default=120, help="synthetic photos (0: none)")
    p.add_argument("--seed", type=int, default=20261129)
    p.add_argument("--kits", type=int, default=6, help="new kit designs in the synthetic set")
    p.add_argument("--variation", default="mild", choices=("none", "mild", "realworld-wide"))
    p.add_argument("--size", default=None, help="fixed photo size WxH (default: drawn, 3-12 MP)")
    p.add_argument(
        "--real", type=Path, default=None, help="confirmed real cases (dataset_format.md)"
    )
    p.add_argument("--synthetic", type=Path, default=None, help="a set rendered before (reuse)")
    p.add_argument("--unseen-product", action="append", default=[], help="product not trained on")
    p.add_argument(
        "--promote",
        action="store_true",
        help="make the registered candidate current if the promotion rule accepts it",
    )
    return p


def promote(report: Mapping[str, Any], version: str, registry: Path | None = None) -> bool:
    """Make ``version`` the registry's current model if the report's decision accepts it.

    The decision is :func:`models.promotion.decide` over every set the report
    compared; a refused candidate leaves the registry as it was.

    Examples
    --------
    >>> promote({"decision": {"accepted": False}}, "band-classifier@1")
    False
    """
    from models.registry import REGISTRY_PATH, make_current

    if not report["decision"]["accepted"]:
        return False
    make_current(version, registry or REGISTRY_PATH)
    return True


def run_args(args: argparse.Namespace, candidate: Contender, champion: Contender | None) -> int:
    """Run an evaluation an argument namespace of :func:`build_parser` describes."""
    size = None
    if args.size:
        width, _, height = args.size.lower().partition("x")
        size = (int(width), int(height))
    try:
        report = run(
            candidate,
            champion,
            args.out,
            n=args.n,
            seed=args.seed,
            kits=args.kits,
            variation=args.variation,
            size=size,
            real=args.real,
            synthetic=args.synthetic,
            unseen_products=args.unseen_product,
            command=" ".join(["python -m training.evaluate", *sys.argv[1:]]),
        )
    except DatasetError as exc:
        print(f"evaluate: {exc}", file=sys.stderr)
        return 2
    print(report["decision"]["summary"])
    print(f"report: {args.out / 'report.md'}")
    if args.promote:
        if candidate.model.version != args.candidate:
            print("evaluate: only a registered version can be promoted", file=sys.stderr)
            return 2
        if promote(report, args.candidate):
            print(f"{args.candidate} is now the current model")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    champion = load_contender(args.champion) if args.champion else None
    return run_args(args, load_contender(args.candidate), champion)


if __name__ == "__main__":
    raise SystemExit(main())
