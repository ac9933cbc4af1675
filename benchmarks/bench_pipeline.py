"""Speed of ``pipeline.read`` per photo on one core, against a full decode of the same JPEG.

Run ``python -m benchmarks.bench_pipeline`` (``--n 3 --repeats 1 --profile-seconds 3`` is
a quick check).
It renders ``--n`` photos of the demo kit at 12, 8 and 2 megapixels, then, for each
size, reads them in a fresh worker process pinned to one thread (OpenMP, BLAS,
OpenCV and onnxruntime): every photo is decoded in full with ``cv2.imdecode`` and
read with ``pipeline.read``, side by side, ``--repeats`` times after one warm-up
round. It reports the median and 95th-percentile milliseconds per read (each photo's
median over the repeats), the median of the per-photo ratios read / full decode,
photos per second per core (1 / mean read time) and the worker's peak resident
memory; read times and ratios also in process CPU time, which a busy shared machine
blurs less than the wall clock. Last, it profiles a worker reading the 12-MP photos
with py-spy and saves the flame graph (SVG) next to the report,
``benchmarks/results/pipeline.md``.
"""

from __future__ import annotations

import os

# One core: the figures are per core, and BLAS/OpenCV threads would blur them.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import multiprocessing  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from dataclasses import dataclass, replace  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
KIT = ROOT / "datasets" / "kits" / "demo" / "kit.json"
SIZES = {"12 MP": (4000, 3000), "8 MP": (3264, 2448), "2 MP": (1632, 1224)}
TARGET_RATIO = 0.6
TARGET_RATE_8MP = 12.0


@dataclass(frozen=True)
class Timing:
    """One worker's figures for one photo size."""

    read_ms: list[float]  # per photo: median over the repeats, wall clock
    decode_ms: list[float]
    ratios: list[float]  # per photo: median over the repeats of read / decode
    cpu_read_ms: list[float]  # the same in process CPU time: less blurred by other load
    cpu_ratios: list[float]
    cpu_floor: dict[int, list[float]]  # per photo: a decode at 1/k size alone / full, CPU
    cpu_decode_ms: dict[str, list[float]]  # per photo: full decode by each decoder, CPU
    cpu_fast_ratios: list[float]  # per photo: read / the faster decoder's full decode, CPU
    statuses: list[str]
    rss_start_mb: float  # after imports and loading the model, before the first photo
    rss_peak_mb: float


def _peak_rss_mb() -> float:
    """This process's peak resident memory, MB.

    ``VmHWM`` where Linux has it: ``ru_maxrss`` survives ``exec``, so a spawned worker
    would report its parent's peak (the renderer's) instead of its own.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _read_all(folder: str, repeats: int) -> Timing:
    """Worker: time reading and fully decoding every JPEG of ``folder`` side by side."""
    import cv2

    from models.registry import current_band_model
    from pipeline.kit import load_kit
    from pipeline.read import read

    cv2.setNumThreads(1)
    kit = load_kit(KIT)
    model = current_band_model()
    rss_start = _peak_rss_mb()
    photos = [p.read_bytes() for p in sorted(Path(folder).glob("*.jpg"))]
    t = Timing([], [], [], [], [], {4: [], 8: []}, {}, [], [], rss_start, 0.0)
    decoders = _other_decoders()
    for data in photos:
        buf = np.frombuffer(data, np.uint8)
        wall: list[tuple[float, float]] = []  # (read, decode) ms
        cpu: list[tuple[float, float]] = []
        for round_ in range(repeats + 1):  # the first round warms caches, and is not counted
            started, cpu_started = time.perf_counter(), time.process_time()
            cv2.imdecode(buf, cv2.IMREAD_COLOR)
            decoded, cpu_decoded = time.perf_counter(), time.process_time()
            reading = read(data, kit, band_model=model)
            done, cpu_done = time.perf_counter(), time.process_time()
            if round_:
                wall.append(((done - decoded) * 1000, (decoded - started) * 1000))
                cpu.append(((cpu_done - cpu_decoded) * 1000, (cpu_decoded - cpu_started) * 1000))
        t.read_ms.append(statistics.median(r for r, _ in wall))
        t.decode_ms.append(statistics.median(d for _, d in wall))
        t.ratios.append(statistics.median(r / d for r, d in wall))
        t.cpu_read_ms.append(statistics.median(r for r, _ in cpu))
        t.cpu_ratios.append(statistics.median(r / max(d, 1e-6) for r, d in cpu))
        t.statuses.append(str(reading.status))
        full = statistics.median(d for _, d in cpu)
        for k, flag in ((4, cv2.IMREAD_REDUCED_COLOR_4), (8, cv2.IMREAD_REDUCED_COLOR_8)):
            # The floor under any read that decodes at 1/k size: the decode alone.
            reduced = _cpu_ms(cv2.imdecode, repeats, buf, flag | cv2.IMREAD_IGNORE_ORIENTATION)
            t.cpu_floor[k].append(reduced / full)
        # The honest denominator: the faster of the decoders at hand (OpenCV's timed above).
        fulls = {"cv2": full}
        for name, decode in decoders.items():
            decode(data)  # warm, as the side-by-side rounds are
            fulls[name] = _cpu_ms(decode, repeats, data)
        for name, ms in fulls.items():
            t.cpu_decode_ms.setdefault(name, []).append(ms)
        t.cpu_fast_ratios.append(t.cpu_read_ms[-1] / min(fulls.values()))
    return replace(t, rss_peak_mb=_peak_rss_mb())


def _cpu_ms(decode: Callable[..., object], repeats: int, *args: object) -> float:
    """Median process CPU ms of ``repeats`` calls of ``decode(*args)``."""
    times = []
    for _ in range(repeats):
        started = time.process_time()
        decode(*args)
        times.append((time.process_time() - started) * 1000)
    return statistics.median(times)


def _other_decoders() -> dict[str, Callable[[bytes], object]]:
    """Full-size BGR decoders to compare a read with besides OpenCV's: simplejpeg's where
    installed (libjpeg-turbo too, yet about half OpenCV's full-size time on these photos;
    at the reduced sizes the read uses, the same)."""
    try:
        import simplejpeg
    except ImportError:
        return {}
    return {"simplejpeg": lambda data: simplejpeg.decode_jpeg(data, colorspace="BGR")}


def _profile_worker(folder: str, seconds: float) -> None:
    """Worker run under py-spy: read the photos of ``folder`` in turn for ``seconds``.

    For a time rather than a count, so that the reads outweigh the imports in the flame
    graph however slow the machine is.
    """
    import cv2

    from models.registry import current_band_model
    from pipeline.kit import load_kit
    from pipeline.read import read

    cv2.setNumThreads(1)
    kit, model = load_kit(KIT), current_band_model()
    photos = [p.read_bytes() for p in sorted(Path(folder).glob("*.jpg"))]
    until = time.perf_counter() + seconds
    while time.perf_counter() < until:
        for data in photos:
            read(data, kit, band_model=model)


def _render(folder: Path, size: tuple[int, int], n: int, seed: int) -> None:
    from datasets.render import render_photo
    from pipeline.kit import load_kit

    kit = load_kit(KIT)
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        ods = {line.name: (0.3 if line.role == "control" else 0.05 * (i % 3)) for line in kit.lines}
        photo = render_photo(kit, rng, od=ods, code=f"SPEED{i:07d}", size=size)
        (folder / f"{i:03d}.jpg").write_bytes(photo.jpeg)


def _time_size(folder: Path, repeats: int) -> Timing:
    # A fresh process per size: its peak memory is that of a worker reading such photos.
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_read_all, str(folder), repeats).result()


def _flame_graph(folder: Path, out: Path, seconds: float) -> str:
    """Profile a worker with py-spy; returns what the report says about it."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        return "py-spy is not installed (`pip install -e .[dev]`): no flame graph."
    code = (
        "from benchmarks.bench_pipeline import _profile_worker; "
        f"_profile_worker({str(folder)!r}, {seconds})"
    )
    command = [py_spy, "record", "--format", "flamegraph", "--rate", "250", "--output", str(out)]
    command += ["--", sys.executable, "-c", code]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not out.exists():
        return f"py-spy failed ({done.returncode}): {done.stderr.strip()[-300:]}"
    return (
        f"`{out.name}` (py-spy, 250 samples/s): a worker reading the 12-MP photos in turn for "
        f"{seconds:g} s; the tower beside `_profile_worker`'s reads is its start (imports)."
    )


def _p95(values: list[float]) -> float:
    return float(np.percentile(values, 95))


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
    fmt = "| " + " | ".join(f"{{:<{w}}}" for w in widths) + " |"
    lines = [fmt.format(*header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += [fmt.format(*map(str, row)) for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=12, help="photos per size")
    parser.add_argument("--repeats", type=int, default=3, help="timed reads per photo")
    parser.add_argument("--seed", type=int, default=20261129)
    parser.add_argument(
        "--profile-seconds", type=float, default=20.0, help="reading under py-spy; 0: none"
    )
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "pipeline.md"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    rows, timings = [], {}
    with tempfile.TemporaryDirectory(prefix="vigil-bench-pipeline-") as tmp:
        for i, (name, size) in enumerate(SIZES.items()):
            folder = Path(tmp) / name.replace(" ", "")
            _render(folder, size, args.n, args.seed + i)
            t = timings[name] = _time_size(folder, args.repeats)
            mean_read = statistics.fmean(t.read_ms)
            statuses = ", ".join(f"{s} {t.statuses.count(s)}" for s in sorted(set(t.statuses)))
            rows.append(
                [
                    f"{name} ({size[0]}x{size[1]})",
                    f"{statistics.median(t.read_ms):.1f}",
                    f"{_p95(t.read_ms):.1f}",
                    f"{statistics.median(t.decode_ms):.1f}",
                    f"{statistics.median(t.ratios):.2f}x",
                    f"{statistics.median(t.cpu_read_ms):.1f}",
                    f"{statistics.median(t.cpu_ratios):.2f}x",
                    "; ".join(f"{statistics.median(ms):.1f}" for ms in t.cpu_decode_ms.values()),
                    f"{statistics.median(t.cpu_fast_ratios):.2f}x",
                    f"{statistics.median(t.cpu_floor[4]):.2f}x; "
                    f"{statistics.median(t.cpu_floor[8]):.2f}x",
                    f"{1000 / mean_read:.1f}",
                    f"{t.rss_peak_mb:.0f} ({t.rss_start_mb:.0f})",
                    statuses,
                ]
            )
        flame = out.with_name("pipeline-flame.svg")
        profiled = (
            _flame_graph(Path(tmp) / "12MP", flame, args.profile_seconds)
            if args.profile_seconds > 0
            else "not profiled (--profile-seconds 0)."
        )

    twelve, eight = timings["12 MP"], timings["8 MP"]
    targets = [
        [
            "read / full decode, 12 MP (wall; CPU)",
            f"<= {TARGET_RATIO}x",
            f"{statistics.median(twelve.ratios):.2f}x; {statistics.median(twelve.cpu_ratios):.2f}x",
        ],
        [
            "read / fastest full decode (" + " or ".join(twelve.cpu_decode_ms) + "), 12 MP (CPU)",
            f"<= {TARGET_RATIO}x",
            f"{statistics.median(twelve.cpu_fast_ratios):.2f}x",
        ],
        [
            "floor: the 1/4; 1/8-size decode alone / full decode, 12 MP (CPU)",
            "-",
            f"{statistics.median(twelve.cpu_floor[4]):.2f}x; "
            f"{statistics.median(twelve.cpu_floor[8]):.2f}x",
        ],
        [
            "photos per second per core, 8 MP (wall; CPU)",
            f">= {TARGET_RATE_8MP:g}",
            f"{1000 / statistics.fmean(eight.read_ms):.1f}; "
            f"{1000 / statistics.fmean(eight.cpu_read_ms):.1f}",
        ],
    ]
    header = [
        "photo",
        "median ms",
        "p95 ms",
        "full decode ms",
        "read / decode",
        "CPU ms",
        "CPU read / decode",
        "CPU full decode ms (" + "; ".join(twelve.cpu_decode_ms) + ")",
        "CPU read / fastest full decode",
        "CPU 1/4; 1/8 decode / full",
        "photos/s/core",
        "peak RSS MB (start)",
        "answers",
    ]
    report = "\n\n".join(
        [
            "# pipeline.read speed benchmark",
            f"`python -m benchmarks.bench_pipeline --n {args.n} --repeats {args.repeats}`: "
            f"{args.n} rendered photos of the demo kit per size (seed {args.seed}), each read "
            f"and fully decoded (`cv2.imdecode`) side by side {args.repeats} times after a "
            "warm-up, in a fresh worker process per size, one thread. Median and p95 over the "
            "photos of each photo's median; read / decode is the median of per-photo ratios; "
            "CPU ms and CPU read / decode are the same in process CPU time, which other load on "
            "a shared machine blurs less than the wall clock; CPU full decode ms is the full "
            "decode by OpenCV and, where installed, by simplejpeg (also libjpeg-turbo, about "
            "twice as fast at full size), and read / fastest full decode divides the read by the "
            "faster one; 1/4; 1/8 decode / full is the "
            "median CPU time of decoding the same JPEG at 1/4 and 1/8 size alone "
            "(`IMREAD_REDUCED_COLOR_4`, `_8`) over its full decode, the floor under a read that "
            "decodes at that size; photos/s/core is 1 / mean read "
            "time (wall); peak RSS is the worker's maximum resident memory (in brackets: after "
            "imports and loading the model). "
            f"Python {platform.python_version()}, {platform.machine()}.",
            _table(rows, header),
            "## Targets (issue 13)\n\n" + _table(targets, ["measure", "target", "result"]),
            f"## Profile\n\nFlame graph: {profiled}",
        ]
    )
    print(report)
    out.write_text(report + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
