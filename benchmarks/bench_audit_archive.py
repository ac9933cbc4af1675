"""Archiving audit-log months (``vigil db archive-audit``) on PostgreSQL: time and memory.

Run ``python -m benchmarks.bench_audit_archive [--sizes 100000 1000000]``. A fresh database
at head gets one old month per size (30, 29, ... months back), each with that many chained
entries (real hashes, written by ``COPY``), then one entry this month. Each month is then
archived by the command itself, in a child process of its own (``--before`` the month
after it, to a folder): wall time, the child's CPU (user + system), its peak resident memory
(``ru_maxrss``), and the archive's size. The same command with nothing to archive gives the
memory floor (imports, parser, connection). Prints a table and writes
``benchmarks/results/audit_archive.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from alembic import command
from sqlalchemy import Engine, text

import api.db.tables  # noqa: F401  (the users table the log's foreign key names)
from api.audit.chain import GENESIS, Fields, link
from api.db.migrate import alembic_config
from api.db.partitions import add_months, next_month, partition_name
from api.db.session import make_engine
from benchmarks.bench_statistics import fresh_database

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "audit_archive.md"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/archive_bench_audit"
# The child: the command as an operator runs it, reporting its own peak memory at the end.
CHILD = (
    "import resource, sys; from vigil.cli import main; code = main(sys.argv[1:]);"
    " print('maxrss_kib', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(code)"
)
COLUMNS = (
    "id, at, actor_id, actor_role, action, object_type, object_id, detail, prev_hash, entry_hash"
)


def months_back(count: int) -> date:
    today = datetime.now(UTC).date()
    index = today.year * 12 + today.month - 1 - count
    return date(index // 12, index % 12 + 1, 1)


def load(engine: Engine, months: list[tuple[date, int]]) -> float:
    """Chained entries by ``COPY``: ``count`` spread over each month, then one now; seconds."""
    started = time.perf_counter()
    previous, next_id = GENESIS, 1
    now = datetime.now(UTC)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        with cursor.copy(f"COPY audit_log ({COLUMNS}) FROM STDIN") as copy:
            for first, count in [*months, (now.date(), 1)]:
                start = datetime(first.year, first.month, 1, tzinfo=UTC)
                end = datetime(*next_month(first).timetuple()[:3], tzinfo=UTC)
                step = (min(end, now) - start) / (count + 1)
                for n in range(count):
                    at = (
                        start + step * (n + 1)
                        if count > 1
                        else min(start + timedelta(hours=1), now)
                    )
                    detail = {"n": next_id, "unit": f"U{next_id:09d}", "reason": "bench"}
                    fields = Fields(at, None, "system", "bench", "upload", str(next_id), detail)
                    entry_hash = link(previous, fields)
                    copy.write_row(
                        (
                            next_id,
                            at,
                            None,
                            "system",
                            "bench",
                            "upload",
                            str(next_id),
                            json.dumps(detail),
                            previous,
                            entry_hash,
                        )
                    )
                    previous, next_id = entry_hash, next_id + 1
        cursor.execute("SELECT setval('audit_log_id_seq', %s)", (next_id,))
        raw.commit()
    finally:
        raw.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE audit_log")
        conn.exec_driver_sql("CHECKPOINT")
    return time.perf_counter() - started


def child(code: str, *argv: str) -> tuple[float, float, int, str]:
    """Run ``code`` in a child Python: wall s, CPU s, peak RSS KiB, its output."""
    before = os.times()
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, check=False, cwd=ROOT
    )
    wall = time.perf_counter() - started
    after = os.times()
    if done.returncode != 0:
        raise SystemExit(f"child failed ({done.returncode}): {done.stderr}")
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    rss = int(done.stdout.split("maxrss_kib")[-1].split()[0])
    return wall, cpu, rss, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    args = parser.parse_args()

    url, drop = fresh_database(args.url)
    engine = make_engine(url, pool_size=1, max_overflow=0)
    months = [(months_back(30 - i), size) for i, size in enumerate(args.sizes)]
    results = []
    try:
        command.upgrade(alembic_config(url), "head")
        with engine.begin() as conn:
            add_months(conn, months[0][0], months=len(months))
        loaded = load(engine, months)
        # The floor: the same command with nothing to do (imports, parser, connection).
        nothing = months_back(40).strftime("%Y-%m")
        _, _, floor, _ = child(
            CHILD,
            "db",
            "archive-audit",
            "--before",
            nothing,
            "--to",
            "/nonexistent",
            "--dry-run",
            "--database-url",
            url,
        )
        with tempfile.TemporaryDirectory(prefix="bench-archive-") as folder:
            for first, size in months:
                with engine.connect() as conn:
                    table_bytes = conn.scalar(
                        text(f"SELECT pg_total_relation_size('{partition_name(first)}')")
                    )
                cut = next_month(first).strftime("%Y-%m")
                wall, cpu, rss, _ = child(
                    CHILD,
                    "db",
                    "archive-audit",
                    "--before",
                    cut,
                    "--to",
                    folder,
                    "--database-url",
                    url,
                )
                archive = Path(folder) / f"{partition_name(first)}.jsonl.gz"
                results.append((first, size, table_bytes, archive.stat().st_size, wall, cpu, rss))
            verify_wall, _, _, verified = child(CHILD, "audit", "verify", "--database-url", url)
            if "intact" not in verified:
                raise SystemExit(f"the log does not verify after archiving: {verified}")
    finally:
        engine.dispose()
        drop()

    command_line = "nice -n 10 python -m benchmarks.bench_audit_archive --sizes " + " ".join(
        str(size) for size in args.sizes
    )
    rows = [
        f"| {first:%Y-%m} | {size:,} | {table / 2**20:.0f} | {archive / 2**20:.1f} |"
        f" {wall:.1f} | {cpu:.1f} | {size / wall:,.0f} | {rss / 1024:.0f} |"
        for first, size, table, archive, wall, cpu, rss in results
    ]
    text_out = "\n".join(
        [
            "# Archiving audit-log months (`vigil db archive-audit`)",
            "",
            f"`{command_line}` (PostgreSQL on 127.0.0.1; CPython {platform.python_version()},"
            f" {platform.machine()}; load average at the end {os.getloadavg()[0]:.1f} on"
            f" {os.cpu_count()} CPUs)",
            "",
            f"{sum(args.sizes):,} chained entries loaded by COPY in {loaded:.1f} s. Each month"
            " archived by the command in a child process of its own, to a local folder:"
            " export (server-side cursor, the chain checked, gzip JSON Lines), store, read back"
            " and check against the manifest, then the audit entry, DETACH and DROP in one"
            " transaction. CPU is the child's user + system time (PostgreSQL's not included);"
            " the same command with nothing to archive (`--dry-run`) peaks at"
            f" {floor / 1024:.0f} MiB."
            f" `vigil audit verify` over what remains afterwards: {verify_wall:.1f} s, intact.",
            "",
            "| month | entries | partition MiB | archive MiB | wall s | CPU s | entries/s (wall)"
            " | peak RSS MiB |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
            *rows,
            "",
        ]
    )
    print(text_out)
    RESULTS.write_text(text_out, encoding="utf-8")


if __name__ == "__main__":
    main()
