"""Statistics query times at 10^4, 10^5 and 10^6 stored tests on PostgreSQL.

Run ``python -m benchmarks.bench_statistics [--sizes 10000 100000 1000000]
[--database-url postgresql+psycopg://postgres@127.0.0.1:5432/vigil_bench]``.

It migrates a fresh database, seeds the demo parties, then bulk-loads self-tests and
their proposals with ``COPY`` up to each size in turn (tests spread over 365 days and
the eight demo districts; 90 % released, 3 % corrected, 2 % withdrawn, 5 % in review;
12 % positive, 5 % invalid; 6 % had a photo retaken, 4 % were read by eye; scan to
release log-normal around 2 h; those in review wait in the clinicians' queue). The
load switches foreign-key triggers off (``session_replication_role = replica``) so it
needs no units rows, and uploads rows only for the tests in the queue. The daily
aggregates the statistics read are then recounted from the rows
(``api.statistics.queries.rebuild``, timed apart). After ``VACUUM ANALYZE`` it times
each query and the whole summary (what ``GET /api/statistics`` and the CDC page
compute) for the national scope and one province, over the last 30 days and the whole
year: the median of ``--repeat`` runs. Prints a table and writes
``benchmarks/results/statistics.md``.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "statistics.md"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/vigil_bench_statistics"
DISTRICTS = (
    "DL-N-01-01", "DL-N-01-02", "DL-N-02-01", "DL-N-02-02",
    "DL-S-01-01", "DL-S-01-02", "DL-S-02-01", "DL-S-02-02",
)  # fmt: skip
PROVINCE = "DL-N"
TODAY = date(2026, 11, 29)  # fixed, so runs on different days compare
FIRST_ID = 1_000_000_000  # far above the demo's ids: seeded rows never collide with them
NULL = "\\N"  # COPY's text format


@dataclass(frozen=True)
class Timing:
    tests: int
    scope: str
    period: str
    what: str
    median_ms: float
    worst_ms: float


def fresh_database(url: str) -> tuple[str, Callable[[], None]]:
    """A new database named after ``url``'s plus the process id, and its dropper."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    target = make_url(url)
    name = f"{target.database}_{os.getpid()}"
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return target.set(database=name).render_as_string(hide_password=False), drop


def make_context(url: str, data_dir: Path) -> Any:
    from api.config import Settings, new_secrets
    from api.context import AppContext
    from api.db import upgrade
    from vigil.demo import seed_demo

    settings = Settings.model_validate(
        {"mode": "test", "data_dir": data_dir, "database_url": url, **new_secrets()}
    )
    upgrade(settings)
    ctx = AppContext.from_settings(settings)
    seed_demo(ctx, photos=False)
    return ctx


def _rows(first: int, count: int, parents: dict[str, list[int]], seed: int) -> tuple[str, str, str]:
    """``count`` self-tests from id ``first``, their proposals, and the uploads of the
    proposals waiting in the queue (the queue shows their photos), as COPY text."""
    import numpy as np

    rng = np.random.default_rng(seed)
    start = datetime.combine(TODAY - timedelta(days=364), clock(), tzinfo=UTC)
    claimed_s = rng.uniform(0, 365 * 86400, count)
    release_s = np.clip(rng.lognormal(np.log(7200), 0.8, count), 60, 7 * 86400)
    status = rng.choice(
        ["released", "corrected", "withdrawn", "in_review"], count, p=[0.9, 0.03, 0.02, 0.05]
    )
    result = rng.choice(["negative", "positive", "invalid"], count, p=[0.83, 0.12, 0.05])
    region = rng.choice(DISTRICTS, count)
    product = rng.choice(parents["product"], count)
    batch = rng.choice(parents["batch"], count)
    patient = rng.choice(parents["patient"], count)
    retake = rng.random(count) < 0.06
    by_eye = rng.random(count) < 0.04
    tests, proposals, uploads = io.StringIO(), io.StringIO(), io.StringIO()
    proposal_id = first * 2
    for i in range(count):
        test_id = first + i
        scanned = start + timedelta(seconds=float(claimed_s[i]))
        decided = status[i] != "in_review"
        released = scanned + timedelta(seconds=float(release_s[i]))
        tests.write(
            f"{test_id}\t{test_id}\t{patient[i]}\t{product[i]}\t{batch[i]}\t{region[i]}\t0\t0\t"
            f"{scanned.isoformat()}\t{status[i]}\t{result[i] if decided else NULL}\t"
            f"{released.isoformat() if decided else NULL}\n"
        )
        kinds = ["retake"] if retake[i] else []
        kinds.append("by_eye" if by_eye[i] else "ok")
        for kind in kinds:
            proposal_id += 1
            # A test in review waits in the clinicians' queue for its first reading.
            stage = "1" if not decided and kind != "retake" else NULL
            proposals.write(
                f"{proposal_id}\t{proposal_id}\t{test_id}\t{kind}\t{result[i]}\t0.9\tbench@1\t"
                f"{{}}\t[]\t{scanned.isoformat()}\t{stage}\n"
            )
            if stage != NULL:
                at = (scanned + timedelta(minutes=20)).isoformat()
                photo = f"{'0' * 64}\timage/jpeg\t1"
                uploads.write(f"{proposal_id}\t{test_id}\t{photo}\t{at}\t{at}\t{at}\t1\t20\n")
    return tests.getvalue(), proposals.getvalue(), uploads.getvalue()


def load(ctx: Any, first: int, count: int) -> float:
    """COPY ``count`` tests (and proposals) from id ``first``; seconds taken (with VACUUM).
    The daily aggregates are left behind: :func:`aggregate` recounts them."""
    from sqlalchemy import select

    from api.batches.tables import Batch
    from api.patients.tables import Patient
    from api.products.tables import Product

    with ctx.database.session() as session:
        parents = {
            "product": list(session.scalars(select(Product.id))),
            "batch": list(session.scalars(select(Batch.id))),
            "patient": list(session.scalars(select(Patient.id))),
        }
    started = time.perf_counter()
    tests, proposals, uploads = _rows(first, count, parents, seed=first)
    raw = ctx.database.bind.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("SET session_replication_role = replica")
        columns = (
            "id, unit_id, patient_id, product_id, batch_id, region_code, latitude, longitude, "
            "claimed_at, status, result, released_at"
        )
        with cursor.copy(f"COPY self_tests ({columns}) FROM STDIN") as copy:
            copy.write(tests)
        columns = (
            "id, upload_id, self_test_id, status, result, confidence, model_version, reading, "
            "issues, created_at, review_stage"
        )
        with cursor.copy(f"COPY proposals ({columns}) FROM STDIN") as copy:
            copy.write(proposals)
        columns = (
            "id, self_test_id, photo_sha256, content_type, size_bytes, taken_at, uploaded_at, "
            "queued_at, attempts, minutes_after_claim"
        )
        with cursor.copy(f"COPY uploads ({columns}) FROM STDIN") as copy:
            copy.write(uploads)
        cursor.execute("SET session_replication_role = origin")
        raw.commit()
        raw.driver_connection.autocommit = True  # VACUUM runs outside a transaction
        # Fresh visibility map and statistics: what a database with autovacuum has.
        cursor.execute("VACUUM ANALYZE self_tests")
        cursor.execute("VACUUM ANALYZE proposals")
        cursor.execute("VACUUM ANALYZE uploads")
    finally:
        raw.close()
    return time.perf_counter() - started


def aggregate(ctx: Any) -> float:
    """Recounts the daily aggregates from the rows COPY bypassed; seconds taken."""
    from api.statistics.queries import rebuild

    started = time.perf_counter()
    with ctx.database.session() as session:
        rebuild(session)
        session.commit()
    raw = ctx.database.bind.raw_connection()
    try:
        raw.driver_connection.autocommit = True
        cursor = raw.cursor()
        cursor.execute("VACUUM ANALYZE statistics_daily")
        cursor.execute("VACUUM ANALYZE statistics_turnaround")
    finally:
        raw.close()
    return time.perf_counter() - started


def _calls(ctx: Any, scope: Any, since: date, selection: Any) -> dict[str, Callable[[Any], object]]:
    from api.statistics import queries, service

    return {
        "by day": lambda s: queries.by_day(s, selection),
        "by region": lambda s: queries.by_region(s, selection),
        "by product": lambda s: queries.by_product(s, selection),
        "by lot": lambda s: queries.by_lot(s, selection),
        "scan to release (median, p90)": lambda s: queries.seconds_to_release(
            s, selection, (0.5, 0.9)
        ),
        "retake and by-eye shares": lambda s: queries.flagged(s, selection),
        "whole summary (API / page)": lambda s: service.summary(s, ctx, scope, since, TODAY),
    }


def measure(ctx: Any, tests: int, repeat: int) -> tuple[list[Timing], str]:
    """Each query and the whole summary, per scope and period; and the day query's plan."""
    from sqlalchemy import text

    from api.scope import Scope, region_and_below
    from api.statistics import queries
    from api.statistics.queries import Selection

    scopes = {
        "national": Scope(None),
        f"province {PROVINCE}": Scope(region_and_below(ctx, PROVINCE)),
    }
    periods = {"30 days": 30, "365 days": 365}
    out: list[Timing] = []
    plan = ""
    for scope_name, scope in scopes.items():
        for period_name, days in periods.items():
            since = TODAY - timedelta(days=days - 1)
            selection = Selection(since, TODAY + timedelta(days=1), scope.regions)
            calls = _calls(ctx, scope, since, selection)
            with ctx.database.session() as session:
                for what, call in calls.items():
                    call(session)  # warm the cache: the page is read again and again
                    times = []
                    for _ in range(repeat):
                        begun = time.perf_counter()
                        call(session)
                        times.append(1000 * (time.perf_counter() - begun))
                    out.append(
                        Timing(
                            tests,
                            scope_name,
                            period_name,
                            what,
                            statistics.median(times),
                            max(times),
                        )
                    )
                if scope.regions is None and days == 30:
                    query = queries.by_day_query(selection).compile(
                        session.get_bind(), compile_kwargs={"literal_binds": True}
                    )
                    plan = "\n".join(session.execute(text(f"EXPLAIN {query}")).scalars())
    return out, plan


def report(
    timings: list[Timing],
    loads: dict[int, float],
    rebuilds: dict[int, float],
    plans: dict[int, str],
) -> str:
    cpus = os.cpu_count()
    lines = [
        f"Statistics benchmark on {platform.node()} ({cpus} CPUs), {date.today().isoformat()}: "
        "PostgreSQL, tests over 365 days in 8 districts; median and worst of the timed runs "
        "after one warm-up, in one session.",
        "",
        "| tests | load s (COPY + VACUUM) | aggregates recounted s |",
        "| ---: | ---: | ---: |",
        *[f"| {n:,} | {s:.1f} | {rebuilds[n]:.1f} |" for n, s in loads.items()],
        "",
        "| tests | scope | period | query | median ms | worst ms |",
        "| ---: | --- | --- | --- | ---: | ---: |",
        *[
            f"| {t.tests:,} | {t.scope} | {t.period} | {t.what} | {t.median_ms:.1f} | "
            f"{t.worst_ms:.1f} |"
            for t in timings
        ],
        "",
    ]
    for n, plan in plans.items():
        lines += [
            f"Plan of the by-day query, national, 30 days, {n:,} tests:",
            "",
            "```",
            plan,
            "```",
            "",
        ]
    lines.append("Run: `python -m benchmarks.bench_statistics`")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    url, drop = fresh_database(args.database_url)
    timings: list[Timing] = []
    loads: dict[int, float] = {}
    rebuilds: dict[int, float] = {}
    plans: dict[int, str] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ctx = make_context(url, Path(tmp))
            try:
                stored = 0
                for size in sorted(args.sizes):
                    loads[size] = load(ctx, FIRST_ID + stored, size - stored)
                    stored = size
                    rebuilds[size] = aggregate(ctx)
                    print(
                        f"{size:,} tests loaded in {loads[size]:.1f} s, "
                        f"aggregates recounted in {rebuilds[size]:.1f} s",
                        flush=True,
                    )
                    found, plans[size] = measure(ctx, size, args.repeat)
                    timings += found
                    for t in found:
                        print(
                            f"{t.tests:>9,} {t.scope:<16} {t.period:<9} {t.what:<32} "
                            f"{t.median_ms:9.1f} ms (worst {t.worst_ms:.1f})",
                            flush=True,
                        )
            finally:
                ctx.database.bind.dispose()
    finally:
        drop()
    text = report(timings, loads, rebuilds, plans)
    if not args.no_write:
        RESULTS.write_text(text, encoding="utf-8")
        print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
