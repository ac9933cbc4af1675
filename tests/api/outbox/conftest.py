"""Real receivers on loopback for the delivery tests: HTTP webhooks, an SMS gateway, SMTP.

Each HTTP receiver is a ``ThreadingHTTPServer`` bound to 127.0.0.1 on a free port; its
misbehaviour (fail the first N requests, answer slowly, be down) is set per test. The
SMTP server is ``aiosmtpd``'s, in its own thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from smtp_loopback import SmtpInbox, smtp_inbox

from api.context import AppContext
from api.interop.schemas import (
    AnalyteResult,
    ClinicianPart,
    InstitutionPart,
    PatientPart,
    ProductPart,
    ReleasedResult,
)
from api.outbox.dispatch import RunReport, Transport, deliver_due
from api.outbox.settings import OutboxSettings


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class LoopbackReceiver:
    """An HTTP server on 127.0.0.1 that records every request, then misbehaves as told."""

    fail_first: int = 0
    slow_first: int = 0
    slow_seconds: float = 0.0
    port: int = 0
    received: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> LoopbackReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver._lock:
                    receiver.received.append(
                        Received({k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    number = len(receiver.received)
                if number <= receiver.slow_first:
                    time.sleep(receiver.slow_seconds)
                status = 503 if number <= receiver.fail_first else 200
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def unique(self, key: str = "webhook-id") -> list[Received]:
        """The first copy of each message, by the ``key`` header, in arrival order."""
        seen: dict[str, Received] = {}
        with self._lock:
            for item in self.received:
                seen.setdefault(item.headers[key], item)
        return list(seen.values())


@pytest.fixture
def receiver() -> Iterator[Callable[..., LoopbackReceiver]]:
    started: list[LoopbackReceiver] = []

    def make(**behaviour: Any) -> LoopbackReceiver:
        item = LoopbackReceiver(**behaviour).start()
        started.append(item)
        return item

    yield make
    for item in started:
        item.stop()


@pytest.fixture
def smtp_server() -> Iterator[tuple[SmtpInbox, int]]:
    with smtp_inbox() as server:
        yield server


@pytest.fixture
def fast_retries() -> OutboxSettings:
    """Millisecond backoff, a client timeout short enough for a slow receiver to exceed."""
    return OutboxSettings(
        max_attempts=6,
        backoff_base_seconds=0.005,
        backoff_cap_seconds=0.05,
        timeout_seconds=0.5,
        lease_seconds=15,
        batch_size=20,
    )


def _deliver_until(
    ctx: AppContext,
    transports: dict[str, Transport],
    config: OutboxSettings,
    done: Callable[[], bool],
    *,
    within: float = 30.0,
) -> RunReport:
    """Run worker passes until ``done()``; fail after ``within`` seconds."""
    total = RunReport()
    deadline = time.monotonic() + within
    while not done():
        assert time.monotonic() < deadline, f"not done after {within} s: {total}"
        report = deliver_due(ctx, transports, config)
        total.delivered += report.delivered
        total.retrying += report.retrying
        total.dead += report.dead
        if not report.claimed:
            time.sleep(0.005)  # backing off: the next attempt is milliseconds away
    return total


@pytest.fixture
def deliver_until() -> Callable[..., RunReport]:
    """``deliver_until(ctx, transports, config, done)``: worker passes until ``done()``."""
    return _deliver_until


COLLECTED = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)


def _released_result(
    patient_id: str,
    number: int,
    *,
    result: str = "positive",
    report_status: str = "final",
    result_id: str | None = None,
    region_code: str = "R",
) -> ReleasedResult:
    """The ``number``-th message about a patient (message ids are unique per pair)."""
    issued = COLLECTED + timedelta(minutes=40 + number)
    return ReleasedResult(
        message_id=f"m-{patient_id}-{number}",
        result_id=result_id or f"res-{patient_id}-{number}",
        report_status=report_status,
        patient=PatientPart(
            id=patient_id,
            name=f"Name of {patient_id}",
            birth_date=date(1990, 3, 7),
            national_id="110101199003071234",
            phone="+8613800138000",
            region_code=region_code,
        ),
        institution=InstitutionPart(id="inst-1", name="Hospital A", region_code=region_code),
        clinician=ClinicianPart(id="clin-1", name="Dr A"),
        product=ProductPart(
            product_code="DEMO",
            name="Demo antigen test",
            manufacturer="Maker",
            test_item_name="SARS-CoV-2 antigen",
            test_item_loinc="94558-4",
        ),
        unit_code="UNIT-1",
        lot_number="LOT-A1",
        collected_at=COLLECTED,
        analytes=(AnalyteResult(analyte="SARS-CoV-2 antigen", result=result),),
        result=result,
        released_at=COLLECTED + timedelta(minutes=40),
        issued_at=issued,
        reason=None if report_status == "final" else "second reader disagreed",
    )


@pytest.fixture
def released_result() -> Callable[..., ReleasedResult]:
    """``released_result(patient_id, number, **changes)``: one version of one result."""
    return _released_result
