"""Speed of unit-code generation and of the manufacturer's export files, and a batch at scale.

Run ``python -m benchmarks.bench_unit_codes``. It times drawing a batch of new
codes, validating typed codes, the CSV export, the QR ZIP (SVG and PNG) and the
A4 label-sheet PDF (each figure the best of ``--repeat`` runs on one process; the
machine may be shared). Then, on SQLite and on PostgreSQL, one batch of
``--codes`` (1,000,000) codes is written to the database
(:func:`~api.unit_codes.write_unit_codes`), streamed back to a CSV file and the
first ``--pdf-labels`` to the ZIP of label-sheet PDFs, each database in a fresh
process whose peak resident memory (``getrusage``) is reported after each step.
PostgreSQL runs in a database of its own (``vigil_bench_<pid>``), dropped at the
end. Prints the tables and writes ``benchmarks/results/unit_codes.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from api.unit_codes import (
    UnitLabel,
    codes_csv,
    codes_qr_zip,
    iter_codes_csv,
    iter_label_sheets_zip,
    label_sheet_pdf,
    new_codes,
    validate,
    write_unit_codes,
)

ROOT = Path(__file__).resolve().parent.parent
BASE_URL = "https://vigil.example.org"
POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def cpu_seconds() -> float:
    """CPU time of this process so far (user + system): on a shared machine the wall clock
    also counts other people's work."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def backend_cpu_seconds(session: Any) -> float | None:
    """CPU time of the PostgreSQL server process serving ``session`` (same machine), else None."""
    from sqlalchemy import text

    if session.get_bind().dialect.name != "postgresql":
        return None
    pid = session.scalar(text("SELECT pg_backend_pid()"))
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # utime and stime are fields 14 and 15 of stat(5); the split drops the first two.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def batch_at_scale(database_url: str, codes: int, pdf_labels: int, mode: str) -> dict[str, Any]:
    """One batch of ``codes`` into a fresh database, then out to CSV and label sheets.

    ``mode`` ``stream`` uses :func:`write_unit_codes`; ``list`` the way the
    batches service inserted codes before (all codes in one list, row dicts in
    chunks), for comparison.
    """
    from sqlalchemy import Table, insert

    from api.batches.service import labels
    from api.batches.tables import Batch, Unit
    from api.config import Settings, new_secrets
    from api.context import AppContext
    from api.db import upgrade
    from api.products.tables import Product
    from vigil.demo import seed_demo

    steps: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings.model_validate(
            {"mode": "test", "data_dir": scratch, "database_url": database_url, **new_secrets()}
        )
        upgrade(settings)
        ctx = AppContext.from_settings(settings)
        seed_demo(ctx, photos=False)
        table = Unit.__table__
        assert isinstance(table, Table)
        steps.append({"step": "ready (schema, demo parties)", "peak_rss_mb": peak_rss_mb()})

        cpu_mark = [cpu_seconds()]
        server_mark: list[float | None] = [None]

        def step(name: str, seconds: float, units: int, size: int | None = None) -> None:
            cpu_now = cpu_seconds()
            server_now = backend_cpu_seconds(session)
            server = server_mark[0]
            steps.append(
                {
                    "step": name,
                    "seconds": seconds,
                    "cpu_seconds": cpu_now - cpu_mark[0],
                    "server_cpu_seconds": (
                        server_now - server
                        if server is not None and server_now is not None
                        else None
                    ),
                    "units": units,
                    "bytes": size,
                    "peak_rss_mb": peak_rss_mb(),
                }
            )
            cpu_mark[0] = cpu_now
            server_mark[0] = server_now

        with ctx.database.session() as session:
            product = session.query(Product).first()
            assert product is not None
            server_mark[0] = backend_cpu_seconds(session)
            cpu_mark[0] = cpu_seconds()
            start = time.perf_counter()
            batch = Batch(
                product_id=product.id,
                lot_number="BENCH-SCALE",
                quantity=codes,
                expiry_date=date.today() + timedelta(days=365),
                created_by=1,
            )
            session.add(batch)
            session.flush()
            if mode == "stream":
                write_unit_codes(session, table, batch.id, codes)
            else:
                # The baseline: the service's former insert loop (all codes drawn, then
                # Core executemany in chunks of 10,000).
                drawn = new_codes(codes)
                for first in range(0, codes, 10_000):
                    rows = [
                        {"batch_id": batch.id, "serial": first + i + 1, "code": code}
                        for i, code in enumerate(drawn[first : first + 10_000])
                    ]
                    session.execute(insert(table), rows)
                del drawn
            session.commit()
            step(
                f"{mode}: draw codes and write to the database, commit",
                time.perf_counter() - start,
                codes,
            )
            if mode != "stream":
                return {"steps": steps}

            out = Path(scratch) / "codes.csv"
            start = time.perf_counter()
            with out.open("wb") as fh:
                for chunk in iter_codes_csv(labels(session, batch, product), BASE_URL):
                    fh.write(chunk)
            step(
                "read back, stream CSV (link payloads) to a file",
                time.perf_counter() - start,
                codes,
                out.stat().st_size,
            )
            out.unlink()

            out = Path(scratch) / "labels.zip"
            start = time.perf_counter()
            with out.open("wb") as fh:
                for chunk in iter_label_sheets_zip(
                    labels(session, batch, product, last=pdf_labels), base_url=BASE_URL
                ):
                    fh.write(chunk)
            step(
                "read back, stream label-sheet PDFs (ZIP) to a file",
                time.perf_counter() - start,
                pdf_labels,
                out.stat().st_size,
            )
    return {"steps": steps}


def fresh_postgres() -> tuple[str, Callable[[], None]]:
    """A new, empty database ``vigil_bench_<pid>`` and a function that drops it."""
    from sqlalchemy import create_engine

    name = f"vigil_bench_{os.getpid()}"
    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}", drop


def run_at_scale(database: str, codes: int, pdf_labels: int, mode: str) -> dict[str, Any]:
    """:func:`batch_at_scale` in a fresh process, so each peak memory is its own."""
    with tempfile.TemporaryDirectory() as scratch:
        if database == "postgresql":
            url, drop = fresh_postgres()
        else:
            url, drop = f"sqlite:///{scratch}/bench.db", lambda: None
        try:
            child = subprocess.run(
                [sys.executable, "-m", "benchmarks.bench_unit_codes", "--child", url,
                 "--codes", str(codes), "--pdf-labels", str(pdf_labels), "--mode", mode],
                check=True, capture_output=True, text=True, cwd=ROOT,
            )  # fmt: skip
        finally:
            drop()
    result: dict[str, Any] = json.loads(child.stdout.splitlines()[-1])
    return result


def best_of(repeat: int, work: Callable[[], object]) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=100_000, help="codes drawn at once")
    parser.add_argument("--zip", type=int, default=10_000, help="units in the QR ZIP")
    parser.add_argument("--labels", type=int, default=1_000, help="labels in the PDF")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--codes", type=int, default=1_000_000, help="codes in the batch at scale")
    parser.add_argument("--pdf-labels", type=int, default=10_500, help="of those, on label sheets")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "unit_codes.md"))
    parser.add_argument("--child", help=argparse.SUPPRESS)  # database URL, in the child process
    parser.add_argument("--mode", default="stream", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(batch_at_scale(args.child, args.codes, args.pdf_labels, args.mode)))
        return

    rows_out = []

    def record(task: str, units: int, seconds: float, size: int | None = None) -> None:
        size_text = f"{size / 1e6:.2f} MB" if size is not None else ""
        rows_out.append(
            (task, f"{units:,}", f"{seconds:.3f}", f"{units / seconds:,.0f}", size_text)
        )
        print(f"{task:<44} {units:>8,} {seconds:8.3f} s {units / seconds:>12,.0f}/s {size_text}")

    seconds, codes = best_of(args.repeat, lambda: new_codes(args.batch))
    assert isinstance(codes, list)
    assert len(set(codes)) == args.batch
    record("new_codes (distinct, with check symbol)", args.batch, seconds)

    typed = [code.lower().replace("-", " ") for code in codes[:20_000]]
    seconds, _ = best_of(args.repeat, lambda: [validate(text) for text in typed])
    record("validate (typed, lower case, spaces)", len(typed), seconds)

    labels = [
        UnitLabel(f"SN{i:07d}", code, "L2026-11", date(2027, 11, 30), "DEMO-AG", "Demo Antigen")
        for i, code in enumerate(codes)
    ]
    for task, units, work in [
        ("codes_csv (with link payloads)", args.batch, lambda: codes_csv(labels, BASE_URL)),
        (
            "codes_qr_zip, SVG (link payloads)",
            args.zip,
            lambda: codes_qr_zip(labels[: args.zip], BASE_URL),
        ),
        (
            "codes_qr_zip, PNG (link payloads)",
            args.zip,
            lambda: codes_qr_zip(labels[: args.zip], BASE_URL, kind="png"),
        ),
        (
            "label_sheet_pdf (code-only QR)",
            args.labels,
            lambda: label_sheet_pdf(labels[: args.labels]),
        ),
        (
            "label_sheet_pdf (link QR)",
            args.labels,
            lambda: label_sheet_pdf(labels[: args.labels], base_url=BASE_URL),
        ),
    ]:
        seconds, data = best_of(args.repeat, work)
        assert isinstance(data, bytes)
        record(task, units, seconds, len(data))

    header = "| task | units | seconds | units/s | output |\n|---|---:|---:|---:|---:|\n"
    table = "".join(f"| {' | '.join(row)} |\n" for row in rows_out)

    scale_rows = []
    for database in args.databases.split(","):
        for mode in ("stream", "list"):
            if mode == "list" and database != "sqlite":
                continue  # the comparison once is enough
            for entry in run_at_scale(database, args.codes, args.pdf_labels, mode)["steps"]:
                seconds = entry.get("seconds")
                size = entry.get("bytes")
                cells = (
                    database,
                    entry["step"],
                    f"{entry['units']:,}" if seconds else "",
                    f"{seconds:.1f}" if seconds else "",
                    f"{entry['cpu_seconds']:.1f}" if seconds else "",
                    (
                        f"{entry['server_cpu_seconds']:.1f}"
                        if entry.get("server_cpu_seconds") is not None
                        else ""
                    ),
                    f"{entry['units'] / seconds:,.0f}" if seconds else "",
                    f"{size / 1e6:,.1f} MB" if size else "",
                    f"{entry['peak_rss_mb']:.0f}",
                )
                scale_rows.append(cells)
                print(" | ".join(cells))
    scale_header = (
        "| database | step | units | wall s | CPU s, this process | CPU s, PostgreSQL backend "
        "| units/s (wall) | output | peak RSS so far, MB |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    scale_table = "".join(f"| {' | '.join(row)} |\n" for row in scale_rows)
    machine = (
        f"{platform.python_implementation()} {platform.python_version()}, {platform.machine()}"
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        "# Unit codes: generation and export speed\n\n"
        f"`{' '.join(['python -m benchmarks.bench_unit_codes', *sys.argv[1:]])}`"
        f" (best of {args.repeat}; {machine}; load average at the end "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)\n\n"
        + header
        + table
        + f"\n## A batch of {args.codes:,} codes, streamed\n\n"
        "One process per database (fresh SQLite file; fresh PostgreSQL database on "
        "127.0.0.1). Peak RSS is the process's high-water mark (`getrusage`) after each "
        "step, interpreter and libraries included. `list` is the previous way the batches "
        "service inserted codes (one list of all codes, row dicts in chunks of 10,000), "
        "for comparison; the CSV and PDF steps read the batch back through "
        "`api.batches.service.labels`. The machine is shared, so wall time includes waiting "
        "for other jobs; CPU s is user + system time of the benchmark process and, on "
        "PostgreSQL, of the server process serving its connection (`/proc/<pid>/stat`); "
        "their sum is what a dedicated core would need.\n\n" + scale_header + scale_table
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
