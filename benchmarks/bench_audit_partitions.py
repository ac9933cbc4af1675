"""The audit log before and after migration 0019 (partitioned by month) on PostgreSQL.

Run ``python -m benchmarks.bench_audit_partitions [--rows 1000000] [--months 12]
[--lookups 2000] [--appends 1000]``. A fresh database at 0018 gets ``--rows`` entries spread
evenly over the last ``--months`` months up to now (ids in time order, as the service writes
them; the hashes are filler, so the chain is not verified here). Then, on the plain table
and again after upgrading to 0019: the chain's tail query (``api.audit.chain.lock_and_tail``)
``--lookups`` times and its plan, and ``--appends`` entries through ``api.audit.service.record``,
each in a transaction of its own (advisory lock, tail, insert, commit). Prints a table and
writes ``benchmarks/results/audit_partitions.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

from alembic import command
from sqlalchemy import Engine, select, text

import api.db.tables  # noqa: F401  (the users table the log's foreign key names)
from api.audit.service import record
from api.audit.tables import AuditEntry
from api.db.migrate import alembic_config
from api.db.session import Database, make_engine
from benchmarks.bench_statistics import fresh_database
from benchmarks.bench_unit_codes import backend_cpu_seconds, cpu_seconds

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "audit_partitions.md"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/partition_bench_audit"
BEFORE = "0018_drop_photo_dhash_index"
TAIL = select(AuditEntry.entry_hash).order_by(AuditEntry.id.desc()).limit(1)


def load(engine: Engine, rows: int, months: int) -> float:
    """Insert ``rows`` entries over the last ``months`` months; seconds (VACUUM ANALYZE in)."""
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_log (at, actor_role, action, object_type, object_id, detail,"
                " prev_hash, entry_hash)"
                " SELECT now() - make_interval(days => :days) * (:rows - i) / :rows,"
                " 'system', 'bench', 'thing', i::text, '{}', md5(i::text) || md5(i::text),"
                " md5(i::text) || md5((-i)::text) FROM generate_series(1, :rows) AS i"
            ),
            {"rows": rows, "days": 30 * months},
        )
    vacuum(engine)
    return time.perf_counter() - started


def vacuum(engine: Engine) -> None:
    """VACUUM ANALYZE, then a checkpoint: the bulk writes' checkpoint (and the full-page
    writes after it) would otherwise fall on the appends measured next."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE audit_log")
        conn.exec_driver_sql("CHECKPOINT")


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def measure(engine: Engine, lookups: int, appends: int) -> dict[str, object]:
    """The tail query's plan and times, then appends through the service."""
    database = Database(engine)
    with database.session() as session:
        plan = "\n".join(
            session.scalars(
                text(
                    "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)"
                    " SELECT entry_hash FROM audit_log ORDER BY id DESC LIMIT 1"
                )
            )
        )
        walls = []
        cpu, backend = cpu_seconds(), backend_cpu_seconds(session) or 0.0
        for _ in range(lookups):
            started = time.perf_counter()
            session.scalar(TAIL)
            walls.append(time.perf_counter() - started)
        tail = (walls, cpu_seconds() - cpu, (backend_cpu_seconds(session) or 0.0) - backend)
        session.rollback()
    walls = []
    with database.session() as session:  # the pool's one connection: the same backend
        backend = backend_cpu_seconds(session) or 0.0
    cpu = cpu_seconds()
    for n in range(appends):
        started = time.perf_counter()
        with database.transaction() as session:
            record(session, None, "bench", "thing", n)
        walls.append(time.perf_counter() - started)
    with database.session() as session:
        backend_after = backend_cpu_seconds(session) or 0.0
    append = (walls, cpu_seconds() - cpu, backend_after - backend)
    return {"plan": plan, "tail": tail, "append": append}


def row(label: str, what: str, result: tuple[list[float], float, float]) -> str:
    walls, cpu, backend = result
    count = len(walls)
    return (
        f"| {label} | {what} | {count} | {percentile(walls, 50) * 1e3:.3f} |"
        f" {percentile(walls, 95) * 1e3:.3f} | {cpu / count * 1e3:.3f} |"
        f" {backend / count * 1e3:.3f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--appends", type=int, default=1000)
    args = parser.parse_args()

    url, drop = fresh_database(args.url)
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        command.upgrade(alembic_config(url), BEFORE)
        loaded = load(engine, args.rows, args.months)
        plain = measure(engine, args.lookups, args.appends)
        started = time.perf_counter()
        command.upgrade(alembic_config(url), "head")
        upgraded = time.perf_counter() - started
        vacuum(engine)
        partitioned = measure(engine, args.lookups, args.appends)
        with engine.connect() as conn:
            months = conn.scalar(
                text("SELECT count(*) FROM pg_inherits WHERE inhparent = 'audit_log'::regclass")
            )
            filled = conn.scalar(text("SELECT count(DISTINCT tableoid) FROM audit_log"))
    finally:
        engine.dispose()
        drop()

    command_line = "nice -n 10 python -m benchmarks.bench_audit_partitions " + (
        f"--rows {args.rows} --months {args.months} --lookups {args.lookups}"
        f" --appends {args.appends}"
    )
    header = [
        "| table | operation | n | wall ms p50 | wall ms p95 | CPU ms/op, this process"
        " | CPU ms/op, PostgreSQL backend |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    rows = [
        row("plain (0018)", "tail look-up", plain["tail"]),  # type: ignore[arg-type]
        row("plain (0018)", "append (record + commit)", plain["append"]),  # type: ignore[arg-type]
        row(f"{months} partitions (0019)", "tail look-up", partitioned["tail"]),  # type: ignore[arg-type]
        row(f"{months} partitions (0019)", "append (record + commit)", partitioned["append"]),  # type: ignore[arg-type]
    ]
    text_out = "\n".join(
        [
            "# The audit log partitioned by month (migration 0019)",
            "",
            f"`{command_line}` (PostgreSQL on 127.0.0.1; CPython {platform.python_version()},"
            f" {platform.machine()}; load average at the end {os.getloadavg()[0]:.1f} on"
            f" {os.cpu_count()} CPUs)",
            "",
            f"{args.rows:,} entries over the last {args.months} months loaded in {loaded:.1f} s;"
            f" upgrading to 0019 (copy into {months} monthly partitions, {filled} of them"
            f" holding rows, keys and indexes built after the copy) took {upgraded:.1f} s wall."
            " CPU is user + system time of this process and of the server process serving its"
            " connection (`/proc/<pid>/stat`); the wall clock is shared with other jobs.",
            "",
            *header,
            *rows,
            "",
            "The tail query's plan (its first run after the checkpoint, pages read in; the warm"
            " times are the table's) on the plain table:",
            "",
            "```",
            str(plain["plan"]),
            "```",
            "",
            "and on the partitioned table (one backward index scan per partition, merged; the"
            " LIMIT stops each after its first row):",
            "",
            "```",
            str(partitioned["plan"]),
            "```",
            "",
        ]
    )
    print(text_out)
    RESULTS.write_text(text_out, encoding="utf-8")


if __name__ == "__main__":
    main()
