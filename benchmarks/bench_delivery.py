"""Webhook deliveries per second per worker, to a receiver on loopback.

Run ``python -m benchmarks.bench_delivery [--messages 2000] [--workers 1 2]
[--format vigil-json fhir] [--database-url postgresql+psycopg://...]``. Each run migrates a
fresh database (a SQLite file by default; with ``--database-url`` a PostgreSQL database
that it creates and drops), registers one endpoint, enqueues ``--messages`` releases of
50 patients through :func:`api.outbox.service.enqueue_release`, then runs ``--workers``
delivery workers (threads, each with its own sessions and HTTP client) until every
delivery is delivered or ``--time-limit`` passes. The receiver is a threaded
``http.server`` on 127.0.0.1 that answers 200 at once and counts distinct webhook-ids.
Prints a table and writes ``benchmarks/results/delivery.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from api.accounts.service import create_user
from api.accounts.tables import Role
from api.config import Settings, new_secrets
from api.context import AppContext
from api.db import upgrade
from api.db.session import make_engine
from api.interop.schemas import (
    AnalyteResult,
    ClinicianPart,
    InstitutionPart,
    PatientPart,
    ProductPart,
    ReleasedResult,
)
from api.organisations.tables import CdcOffice
from api.outbox import service
from api.outbox.dispatch import deliver_due
from api.outbox.schemas import EndpointCreate
from api.outbox.settings import OutboxSettings
from api.outbox.webhooks import WebhookTransport
from api.public_ids import CDC_OFFICE, encode

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "delivery.md"
PATIENTS = 50
START = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


class Counter:
    """What the receiver saw: requests and distinct message ids."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.ids: set[str] = set()


def start_receiver(counter: Counter) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver would offer

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            with counter.lock:
                counter.requests += 1
                counter.ids.add(self.headers["webhook-id"])
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def released(number: int, region: str) -> ReleasedResult:
    patient = f"pat-{number % PATIENTS}"
    at = START + timedelta(seconds=number)
    return ReleasedResult(
        message_id=f"bench-{number}",
        result_id=f"res-{number}",
        report_status="final",
        patient=PatientPart(
            id=patient, name="Bench Patient", birth_date=date(1990, 1, 1), region_code=region
        ),
        institution=InstitutionPart(id="inst-1", name="Bench Hospital", region_code=region),
        clinician=ClinicianPart(id="clin-1", name="Dr Bench"),
        product=ProductPart(
            product_code="DEMO",
            name="Demo antigen test",
            manufacturer="Maker",
            test_item_name="SARS-CoV-2 antigen",
            test_item_loinc="94558-4",
        ),
        unit_code=f"UNIT-{number}",
        lot_number="LOT-1",
        collected_at=at,
        analytes=(AnalyteResult(analyte="SARS-CoV-2 antigen", result="positive"),),
        result="positive",
        released_at=at,
        issued_at=at,
    )


@dataclass
class Row:
    database: str
    fmt: str
    workers: int
    messages: int
    enqueue_s: float
    deliver_s: float
    delivered: int
    duplicates: int

    @property
    def per_second(self) -> float:
        return self.delivered / self.deliver_s if self.deliver_s else 0.0


def make_context(url: str | None, data_dir: Path) -> AppContext:
    settings = Settings.model_validate(
        {"mode": "test", "data_dir": data_dir, "database_url": url, **new_secrets()}
    )
    upgrade(settings)
    return AppContext.from_settings(settings)


def run(ctx: AppContext, fmt: str, workers: int, messages: int, limit_s: float) -> Row:
    """One run on ``ctx``: enqueue, then deliver with ``workers`` threads."""
    counter = Counter()
    server = start_receiver(counter)
    config = OutboxSettings(batch_size=50, timeout_seconds=10, lease_seconds=600)
    regions = ctx.regions
    top = next(c for c in regions.codes() if not regions.ancestors(c))
    leaf = next(c for c in regions.codes() if not regions.descendants(c))
    with ctx.database.transaction() as session:
        operator = create_user(
            session,
            username="bench",
            password="bench password 123",
            role=Role.operator,
            display_name="bench",
        )
        office = CdcOffice(name=f"Bench {fmt} {workers}", region_code=top)
        session.add(office)
        session.flush()
        issued = service.create_endpoint(
            session,
            ctx,
            operator,
            EndpointCreate(
                name=f"bench {fmt}",
                url=f"http://127.0.0.1:{server.server_address[1]}/hook",
                format=fmt,
                cdc_office_id=encode(CDC_OFFICE, office.id),
            ),
        )
    started = time.perf_counter()
    with ctx.database.transaction() as session:
        for number in range(messages):
            service.enqueue_release(session, ctx, released(number, leaf), leaf, config=config)
    enqueue_s = time.perf_counter() - started

    deadline = time.monotonic() + limit_s
    stop = threading.Event()

    def worker() -> None:
        with WebhookTransport(config) as transport:
            channels = {"webhook": transport}
            while not stop.is_set() and time.monotonic() < deadline:
                if not deliver_due(ctx, channels, config).claimed:
                    stop.wait(0.001)

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    while len(counter.ids) < messages and time.monotonic() < deadline:
        time.sleep(0.002)
    # Delivered means recorded as delivered, not only received: wait for the bookkeeping.
    with ctx.database.session() as session:
        while time.monotonic() < deadline:
            backlog = service.get_endpoint(session, issued.endpoint.id).backlog
            session.rollback()
            if not backlog:
                break
            time.sleep(0.002)
    deliver_s = time.perf_counter() - started
    stop.set()
    for thread in threads:
        thread.join()
    server.shutdown()
    server.server_close()
    name = ctx.database.dialect
    return Row(name, fmt, workers, messages, enqueue_s, deliver_s, len(counter.ids),
               counter.requests - len(counter.ids))  # fmt: skip


def postgres_database(url: str) -> tuple[str, Any]:
    """A fresh database named after ``url``'s plus the process id; and its dropper."""
    target = make_url(url)
    name = f"{target.database}_{os.getpid()}_{time.monotonic_ns()}"
    admin = make_engine(target.set(database="postgres").render_as_string(hide_password=False))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return target.set(database=name).render_as_string(hide_password=False), drop


def fresh_run(url: str | None, fmt: str, workers: int, messages: int, limit_s: float) -> Row:
    """:func:`run` on a database of its own, so no run sees another's rows."""
    drop = None
    if url:
        url, drop = postgres_database(url)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ctx = make_context(url, Path(tmp))
            try:
                return run(ctx, fmt, workers, messages, limit_s)
            finally:
                ctx.database.bind.dispose()  # type: ignore[union-attr]
    finally:
        if drop is not None:
            drop()


def table(rows: list[Row]) -> str:
    lines = [
        "| database | format | workers | messages | enqueue msg/s | delivered | duplicates "
        "| seconds | delivered/s | per worker/s |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r.database} | {r.fmt} | {r.workers} | {r.messages} "
            f"| {r.messages / r.enqueue_s:.0f} | {r.delivered} | {r.duplicates} "
            f"| {r.deliver_s:.2f} | {r.per_second:.0f} | {r.per_second / r.workers:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--format", nargs="+", default=["vigil-json", "fhir"])
    parser.add_argument("--time-limit", type=float, default=120.0, help="seconds per run")
    parser.add_argument("--database-url", help="PostgreSQL URL; a database is made and dropped")
    parser.add_argument("--append", action="store_true", help="add to the results file")
    args = parser.parse_args()
    rows: list[Row] = []
    for fmt in args.format:
        for workers in args.workers:
            rows.append(fresh_run(args.database_url, fmt, workers, args.messages, args.time_limit))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
    cpus = os.cpu_count()
    header = (
        f"Delivery benchmark on {platform.node()} ({cpus} CPUs), {date.today()}: "
        f"{args.messages} releases of {PATIENTS} patients per run, one endpoint, a loopback "
        "receiver answering 200 at once; workers are threads in one process. "
        "'delivered/s' counts deliveries recorded as delivered (signed, sent, bookkept). "
        f"Load average at the end: {os.getloadavg()[0]:.1f} (other work on the machine)."
    )
    command = " ".join(["python -m benchmarks.bench_delivery", *sys.argv[1:]])
    report = f"{header}\n\n{table(rows)}\n\nRun: `{command}`\n"
    print()
    print(table(rows))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    if args.append and RESULTS.exists():
        RESULTS.write_text(RESULTS.read_text() + "\n" + report, encoding="utf-8")
    else:
        RESULTS.write_text(report, encoding="utf-8")


if __name__ == "__main__":
    main()
