"""The reading task in one process: where its time goes outside the pipeline's read.

Run ``python -m benchmarks.bench_reading_task [--photos 16]``.

On a fresh PostgreSQL database with the demo parties it claims ``--photos`` tests and
uploads one 2048×1536 demo-kit photo to each through the API in-process, keeping the
readings queued (``api.readings.service.enqueue`` replaced by a list), then runs
``api.readings.service.process_upload`` on each, the first as a warm-up (model and kit
loaded). For each task it times, in wall and in this process's CPU seconds, the whole
task, the pipeline's read (and within it the same-photo hash of the photo it decoded),
the explanation (window PNG stored), and counts the SQL statements with their wall time
(engine events around each cursor execution; the commit itself is not among them). CPU
seconds say more than wall time on a shared machine. Prints a table and writes
``benchmarks/results/reading_task.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from benchmarks.bench_api_at_size import PASSWORD, fresh_codes, photo_jpeg
from benchmarks.bench_statistics import fresh_database, make_context
from vigil.demo import REGION_A

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "reading_task.md"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/vigil_bench_task"


def timed(spent: dict[str, float], key: str, call: Callable[..., Any]) -> Callable[..., Any]:
    """``call``, adding the seconds each call takes to ``spent[key]`` and its CPU seconds
    (this process's) to ``spent[key + " cpu"]``."""

    def run(*args: Any, **kwargs: Any) -> Any:
        started, cpu = time.perf_counter(), time.process_time()
        try:
            return call(*args, **kwargs)
        finally:
            spent[key] += time.perf_counter() - started
            spent[key + " cpu"] += time.process_time() - cpu

    return run


def queue_uploads(ctx: Any, photos: int) -> list[int]:
    """Claim ``photos`` tests and upload a photo to each; the upload ids, not yet read."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.readings import service

    queued: list[int] = []
    service.enqueue = lambda _ctx, upload_id: queued.append(upload_id)  # type: ignore[assignment]
    point = ctx.regions.region(REGION_A).geometry.representative_point()
    with TestClient(create_app(context=ctx)) as http:
        token = http.post("/api/auth/token", data={"username": "patient1", "password": PASSWORD})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        for code in fresh_codes(ctx, photos):
            body = {"code": code, "latitude": point.y, "longitude": point.x}
            test = http.post("/api/tests", json=body, headers=headers)
            test.raise_for_status()
            files = {"photo": ("photo.jpg", photo_jpeg(code), "image/jpeg")}
            http.post(
                f"/api/tests/{test.json()['id']}/photos", files=files, headers=headers
            ).raise_for_status()
    return queued


def measure(ctx: Any, uploads: list[int]) -> tuple[int, dict[str, float]]:
    """Tasks timed (each upload after the first) and their parts' seconds, summed."""
    from sqlalchemy import event

    from api.readings import service
    from pipeline import read as pipeline_read

    parts = ("task", "read", "hash", "explanation")
    spent = dict.fromkeys((*parts, *(f"{p} cpu" for p in parts), "sql", "statements"), 0.0)
    service.process_upload(ctx, uploads[0])  # warm-up: model and kit loaded

    def before(conn: Any, *_: Any) -> None:
        conn.info["vigil_bench_started"] = time.perf_counter()

    def after(conn: Any, *_: Any) -> None:
        spent["sql"] += time.perf_counter() - conn.info["vigil_bench_started"]
        spent["statements"] += 1

    event.listen(ctx.database.bind, "before_cursor_execute", before)
    event.listen(ctx.database.bind, "after_cursor_execute", after)
    ctx.vision.read = timed(spent, "read", ctx.vision.read)
    pipeline_read.dhash = timed(spent, "hash", pipeline_read.dhash)
    service.keep_explanation = timed(spent, "explanation", service.keep_explanation)
    task = timed(spent, "task", service.process_upload)
    for upload_id in uploads[1:]:
        assert task(ctx, upload_id) == "proposed"
    return len(uploads) - 1, spent


def report(n: int, spent: dict[str, float]) -> str:
    ms = {key: 1000 * value / n for key, value in spent.items() if key != "statements"}

    def both(key: str) -> str:
        return f"{ms[key]:.1f} | {ms[key + ' cpu']:.1f}"

    outside = ms["task"] - ms["read"]
    outside_cpu = ms["task cpu"] - ms["read cpu"]
    rest = outside - ms["sql"] - ms["explanation"]
    rest_cpu = outside_cpu - ms["explanation cpu"]
    rows = [
        ("task", both("task")),
        ("pipeline read", both("read")),
        ("of which the same-photo hash (of the read's decode)", both("hash")),
        ("task outside the read", f"{outside:.1f} | {outside_cpu:.1f}"),
        (
            f"of which SQL statements ({spent['statements'] / n:.0f} a task)",
            f"{ms['sql']:.1f} | ",
        ),
        ("of which the explanation (window PNG stored)", both("explanation")),
        ("of which the rest (commit, ORM, JSON; CPU: SQL too)", f"{rest:.1f} | {rest_cpu:.1f}"),
    ]
    lines = [
        f"Reading task in one process on PostgreSQL, {date.today().isoformat()}, {n} "
        f"2048×1536 demo-kit photos after one warm-up; load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} CPUs at the end.",
        "",
        "| part | wall ms per task | CPU ms per task (this process) |",
        "| --- | ---: | ---: |",
        *(f"| {what} | {value} |" for what, value in rows),
        "",
        "Run: `python -m benchmarks.bench_reading_task " + " ".join(sys.argv[1:]) + "`",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=16, help="the first is a warm-up")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    url, drop = fresh_database(args.database_url)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ctx = make_context(url, Path(tmp))
            try:
                n, spent = measure(ctx, queue_uploads(ctx, args.photos))
            finally:
                ctx.database.bind.dispose()
    finally:
        drop()
    text = report(n, spent)
    print(text)
    if not args.no_write:
        RESULTS.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
