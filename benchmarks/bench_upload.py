"""Upload to proposal: photos per second and latency with 1, 2 and 4 Celery workers.

Run ``python -m benchmarks.bench_upload [--workers 1 2 4] [--photos 30]
[--api-workers 2]``.

It starts the stack itself on loopback from the installed services: a fresh
PostgreSQL database with the demo parties, Redis as the broker, ``--api-workers``
uvicorn processes and ``celery -A api.worker worker --concurrency W`` with
``WORKER_METRICS_PORT`` (the workers' task and read times from their ``/metrics``).
For each W it claims ``2 × --photos`` tests, renders one 2048×1536 demo-kit photo per
test (outside the clock), then

1. *capacity*: uploads ``--photos`` photos at once from async ``httpx`` clients and
   times from the first upload to the last proposal;
2. *steady load*: uploads the next ``--photos`` at a fixed rate of 80 % of that
   capacity and reports upload-to-proposal latency p50/p95/p99;
3. *light load*: uploads ``--light`` more one at a time, each once the one before has its
   proposal, and reports their latency (median and the slowest): a photo arriving alone.

The breakdown per photo comes from timestamps recorded along the way: the client's
send and response times (HTTP: probe, storage, commit), the proposal's ``created_at``
(written back by the task), and the workers' task time per photo and pipeline read time
from ``vigil_task_duration_seconds`` and ``vigil_reading_duration_seconds`` (a task reads
the photos already waiting with its own: the photos per task are the readings over the
tasks); queue wait and task start are what is left between the response and the task's
end. The table is printed and written to ``benchmarks/results/upload.md``. The load generator,
API, workers, PostgreSQL and Redis share the machine.

Per worker, by CPU: the worker processes' CPU seconds per photo (``/proc``, main process
and pool children) against the read's (``vigil_reading_cpu_seconds``, the reading
process's CPU time around the pipeline's read). Their ratio is the share of a core's
time a worker spends reading: what W workers on W cores of their own reach of
W × (1 / read), whatever else shares this machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date
from pathlib import Path
from typing import Any

from benchmarks.bench_api_at_size import (
    PASSWORD,
    REDIS_URL,
    free_port,
    fresh_codes,
    photo_jpeg,
    stack_env,
    start_app,
)
from benchmarks.bench_statistics import fresh_database, make_context
from vigil.demo import REGION_A

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "upload.md"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/vigil_bench_upload"
READING_TASK = 'task="vigil.read_upload"'
# Part of the workers' CPU: Celery's main process (the broker's messages, acknowledgements
# and the pool's pipes), the rest is the pool's.
MAIN = "of which Celery's main process"


@dataclass
class Photo:
    test_id: str
    jpeg: bytes
    sent: float = 0.0  # wall clock (epoch seconds), to compare with database times
    answered: float = 0.0
    upload_id: str = ""
    proposed: float = 0.0


@dataclass(frozen=True)
class Run:
    workers: int
    capacity: float  # photos/s, burst
    rate: float  # photos/s offered in the steady phase
    latencies: list[float]  # upload sent -> proposal written, s (steady phase)
    http: list[float]
    light: list[float]  # upload sent -> proposal written, s, one photo at a time
    task_s: float  # task time per photo
    per_task: float  # photos read per task
    read_s: float
    read_cpu_s: float  # the pipeline's read, CPU seconds of the reading process per photo
    cpu: dict[str, float]  # CPU seconds per photo by part of the stack (both phases)

    @property
    def ratio(self) -> float:
        """Throughput over (workers x single-read rate), the issue's 80 % target."""
        return self.capacity * self.read_s / self.workers

    @property
    def cpu_ratio(self) -> float:
        """Read CPU over worker CPU per photo: the ratio on cores of the workers' own."""
        return self.read_cpu_s / self.cpu["workers"]


@dataclass(frozen=True)
class Stack:
    """The processes whose CPU time the run adds up (the machine's other work is not ours)."""

    api_pid: int
    worker_pid: int
    database: str

    def cpu(self, ctx: Any) -> dict[str, float]:
        """CPU seconds used so far: API processes, workers, this database's PostgreSQL
        backends, and this process (the load generator)."""
        from sqlalchemy import text

        with ctx.database.session() as session:
            backends = session.scalars(
                text("SELECT pid FROM pg_stat_activity WHERE datname = :d"), {"d": self.database}
            ).all()
        own = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "API": sum(map(_cpu_of, _family(self.api_pid))),
            "workers": sum(map(_cpu_of, _family(self.worker_pid))),
            MAIN: _cpu_of(self.worker_pid),
            "PostgreSQL": sum(map(_cpu_of, backends)),
            "load generator": own.ru_utime + own.ru_stime,
        }


def _cpu_of(pid: int) -> float:
    """User + system seconds of process ``pid`` (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime and stime are fields 14 and 15 of stat(5); the split drops the first two.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _family(root: int) -> list[int]:
    """``root`` and its descendants (uvicorn's and Celery's pool processes)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat[1])
    family, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in family} - family
        family |= more
        grew = bool(more)
    return sorted(family)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _metric_sums(text: str, name: str, label: str = "") -> tuple[float, float]:
    """(sum, count) of histogram ``name`` over all its label sets that have ``label`` (e.g.
    ``task="vigil.read_upload"``; empty: all) in a /metrics text."""
    total = count = 0.0
    for line in text.splitlines():
        if label not in line:
            continue
        if line.startswith(f"{name}_sum"):
            total += float(line.rsplit(" ", 1)[1])
        elif line.startswith(f"{name}_count"):
            count += float(line.rsplit(" ", 1)[1])
    return total, count


async def _upload(http: Any, headers: dict[str, str], photo: Photo) -> None:
    photo.sent = time.time()
    files = {"photo": ("photo.jpg", photo.jpeg, "image/jpeg")}
    response = await http.post(f"/api/tests/{photo.test_id}/photos", files=files, headers=headers)
    photo.answered = time.time()
    response.raise_for_status()
    photo.upload_id = response.json()["id"]


def _proposal_times(ctx: Any, photos: list[Photo]) -> bool:
    """Fills in when each photo's proposal was written; whether all are."""
    from sqlalchemy import select

    from api.public_ids import UPLOAD, decode
    from api.selftests.tables import Proposal

    ids = {decode(UPLOAD, p.upload_id): p for p in photos if not p.proposed}
    if ids:
        with ctx.database.session() as session:
            query = select(Proposal.upload_id, Proposal.created_at).where(
                Proposal.upload_id.in_(list(ids))
            )
            for upload_id, created in session.execute(query):
                ids[upload_id].proposed = created.astimezone(UTC).timestamp()
    return all(p.proposed for p in photos)


async def _wait_for_proposals(
    ctx: Any, photos: list[Photo], limit_s: float = 300, poll_s: float = 0.1
) -> None:
    deadline = time.monotonic() + limit_s
    while not _proposal_times(ctx, photos):
        if time.monotonic() > deadline:
            raise TimeoutError("proposals missing after the time limit")
        await asyncio.sleep(poll_s)


async def one_run(
    ctx: Any,
    base: str,
    photos: list[Photo],
    workers: int,
    port: int,
    stack: Stack,
    light_count: int,
) -> Run:
    import httpx

    warm, light = photos[:workers], photos[workers : workers + light_count]
    photos = photos[workers + light_count :]
    half = len(photos) // 2
    burst, steady = photos[:half], photos[half:]
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        token = await http.post(
            "/api/auth/token", data={"username": "patient1", "password": PASSWORD}
        )
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        # One photo per worker process first: each loads the pipeline before the clock.
        await asyncio.gather(*(_upload(http, headers, p) for p in warm))
        await _wait_for_proposals(ctx, warm)
        metrics_before = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
        cpu_before = stack.cpu(ctx)
        await asyncio.gather(*(_upload(http, headers, p) for p in burst))
        await _wait_for_proposals(ctx, burst)
        capacity = len(burst) / (max(p.proposed for p in burst) - min(p.sent for p in burst))
        rate = 0.8 * capacity
        started = time.monotonic()
        sending = []
        for i, photo in enumerate(steady):
            await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
            sending.append(asyncio.create_task(_upload(http, headers, photo)))
        await asyncio.gather(*sending)
        await _wait_for_proposals(ctx, steady)
        cpu_after = stack.cpu(ctx)
        metrics_after = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
        for photo in light:  # after the CPU and metrics: the columns are the two phases'
            await _upload(http, headers, photo)
            await _wait_for_proposals(ctx, [photo], poll_s=0.005)
    counted = len(burst) + len(steady)
    cpu = {part: (cpu_after[part] - cpu_before[part]) / counted for part in cpu_after}
    task = [
        a - b
        for a, b in zip(
            # The reading task's only: the outbox's deliveries run in the same workers.
            _metric_sums(metrics_after, "vigil_task_duration_seconds", READING_TASK),
            _metric_sums(metrics_before, "vigil_task_duration_seconds", READING_TASK),
            strict=True,
        )
    ]
    read, read_cpu = (
        [
            a - b
            for a, b in zip(
                _metric_sums(metrics_after, name), _metric_sums(metrics_before, name), strict=True
            )
        ]
        for name in ("vigil_reading_duration_seconds", "vigil_reading_cpu_seconds")
    )
    return Run(
        workers=workers,
        capacity=capacity,
        rate=rate,
        latencies=[p.proposed - p.sent for p in steady],
        http=[p.answered - p.sent for p in steady],
        light=[p.proposed - p.sent for p in light],
        task_s=task[0] / read[1] if read[1] else float("nan"),
        per_task=read[1] / task[1] if task[1] else float("nan"),
        read_s=read[0] / read[1] if read[1] else float("nan"),
        read_cpu_s=read_cpu[0] / read_cpu[1] if read_cpu[1] else float("nan"),
        cpu=cpu,
    )


def _wait_for_port(port: int, limit_s: float = 180) -> None:
    """Until the worker's main process serves its metrics (it has started)."""
    deadline = time.monotonic() + limit_s
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def start_workers(env: dict[str, str], workers: int, port: int, metrics_dir: Path) -> Any:
    for stale in metrics_dir.glob("*"):
        stale.unlink()
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "celery", "-A", "api.worker", "worker"),
            *(f"--concurrency={workers}", "--loglevel=WARNING"),
            *("--without-gossip", "--without-mingle", "-Q", env["CELERY_QUEUE"]),
        ],
        env={
            **env,
            "WORKER_METRICS_PORT": str(port),
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        },
        cwd=ROOT,
    )


async def claim_tests(base: str, codes: list[str], point: tuple[float, float]) -> list[str]:
    import httpx

    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        token = await http.post(
            "/api/auth/token", data={"username": "patient1", "password": PASSWORD}
        )
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        ids = []
        for code in codes:
            body = {"code": code, "latitude": point[0], "longitude": point[1]}
            response = await http.post("/api/tests", json=body, headers=headers)
            response.raise_for_status()
            ids.append(response.json()["id"])
    return ids


def report(runs: list[Run], photos: int, api_workers: int) -> str:
    cores = os.cpu_count() or 1
    lines = [
        f"Upload to proposal on {platform.node()} ({cores} CPUs, shared with other "
        f"work), {date.today().isoformat()}: PostgreSQL + Redis, {api_workers} uvicorn API "
        f"processes, W Celery worker processes, load generator alongside, all on loopback; "
        f"2048×1536 demo-kit JPEGs. Capacity: {photos} photos uploaded at once, first upload "
        f"to last proposal. Latency: the next {photos} at 80 % of that capacity.",
        "",
        "| W | capacity photos/s | per worker | offered /s | p50 s | p95 s | p99 s | "
        "HTTP upload p50 s | task s per photo | photos per task | read mean s | "
        "queue wait + start ≈ s | capacity / (W / read) | worker CPU s/photo | "
        "read CPU s/photo | read CPU / worker CPU | alone: p50 s | alone: max s |",
        "| ---: |" + " ---: |" * 17,
    ]
    for r in runs:
        wait = quantile(r.latencies, 0.5) - quantile(r.http, 0.5) - r.task_s
        lines.append(
            f"| {r.workers} | {r.capacity:.2f} | {r.capacity / r.workers:.2f} | {r.rate:.2f} | "
            f"{quantile(r.latencies, 0.5):.2f} | {quantile(r.latencies, 0.95):.2f} | "
            f"{quantile(r.latencies, 0.99):.2f} | {quantile(r.http, 0.5):.3f} | "
            f"{r.task_s:.3f} | {r.per_task:.2f} | {r.read_s:.3f} | {max(0.0, wait):.3f} | "
            f"{r.ratio:.0%} | {r.cpu['workers']:.4f} | {r.read_cpu_s:.4f} | "
            f"{r.cpu_ratio:.0%} | {quantile(r.light, 0.5):.3f} | {max(r.light, default=0):.3f} |"
        )
    parts = list(runs[0].cpu) if runs else []
    lines += [
        "",
        "CPU seconds per photo (both phases), by process (Celery's main process is a part "
        "of the workers'); the last column is what "
        f"{cores} cores could carry if nothing else ran on them (cores / total):",
        "",
        "| W | " + " | ".join(parts) + " | total | the machine's ceiling, photos/s |",
        "| ---: |" + " ---: |" * (len(parts) + 2),
    ]
    for r in runs:
        total = sum(r.cpu.values()) - r.cpu[MAIN]
        cells = " | ".join(f"{r.cpu[part]:.3f}" for part in parts)
        lines.append(f"| {r.workers} | {cells} | {total:.3f} | {cores / total:.1f} |")
    lines += [
        "",
        "HTTP upload: the client's request to its response (probe, photo stored, rows "
        "committed, task queued). Task: the worker's run of one reading (fetch the photo, "
        "read, write the proposal back), per photo: a task reads the photos already waiting "
        "with its own; read: the pipeline's part of it. Queue wait + start: "
        "the median latency less the median HTTP time and the task time per photo. "
        "Capacity / (W / read): the measured capacity over W workers each reading at "
        "1 / (the mean read time of the same run); the issue's target is 80 %. "
        "Worker CPU: the worker processes' CPU seconds per photo (main process and pool "
        "children, both phases); read CPU: the pipeline's read, the reading process's CPU "
        "seconds per photo (vigil_reading_cpu_seconds); their ratio is the capacity over "
        "W / read that W workers on W cores of their own reach (the API, PostgreSQL and the "
        "load generator elsewhere), the issue's ratio per worker. Alone: upload to proposal "
        f"of {len(runs[0].light) if runs else 0} photos sent one at a time, each once the one "
        "before has its proposal (not in the CPU columns).",
        "",
        "Run: `python -m benchmarks.bench_upload " + " ".join(sys.argv[1:]) + "`",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--photos", type=int, default=120, help="per phase and worker count")
    parser.add_argument("--api-workers", type=int, default=2)
    parser.add_argument("--light", type=int, default=20, help="photos sent one at a time")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    import redis
    from sqlalchemy.engine import make_url

    redis.Redis.from_url(REDIS_URL).flushdb()
    url, drop = fresh_database(args.database_url)
    runs: list[Run] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ctx = make_context(url, Path(tmp))
            # + one warm-up per process
            per_run = 2 * args.photos + max(args.workers) + args.light
            codes = fresh_codes(ctx, per_run * len(args.workers))
            inside = ctx.regions.region(REGION_A).geometry.representative_point()
            env = stack_env(ctx, url, Path(tmp))
            server, base = start_app(env, args.api_workers)
            metrics_dir = Path(tmp) / "metrics"
            metrics_dir.mkdir()
            try:
                for n, workers in enumerate(args.workers):
                    batch = codes[
                        n * per_run : n * per_run + 2 * args.photos + workers + args.light
                    ]
                    tests = asyncio.run(claim_tests(base, batch, (inside.y, inside.x)))
                    photos = [Photo(t, photo_jpeg(c)) for t, c in zip(tests, batch, strict=True)]
                    port = free_port()
                    worker = start_workers(env, workers, port, metrics_dir)
                    try:
                        _wait_for_port(port)
                        stack = Stack(server.pid, worker.pid, make_url(url).database or "")
                        runs.append(
                            asyncio.run(
                                one_run(ctx, base, photos, workers, port, stack, args.light)
                            )
                        )
                        print(report(runs[-1:], args.photos, args.api_workers), flush=True)
                    finally:
                        worker.send_signal(signal.SIGTERM)
                        worker.wait(timeout=60)
            finally:
                server.send_signal(signal.SIGTERM)
                server.wait(timeout=30)
                ctx.database.bind.dispose()
    finally:
        drop()
        redis.Redis.from_url(REDIS_URL).flushdb()
    text = report(runs, args.photos, args.api_workers)
    print(text)
    if not args.no_write:
        RESULTS.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
