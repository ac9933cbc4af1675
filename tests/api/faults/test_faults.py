"""Failing parts on the production stack: no photo lost, none read twice, recovery timed.

PostgreSQL (reached through a TCP proxy this module controls), a ``redis-server`` this
module starts on a free port as the broker, two Celery worker processes and beat. Three
faults, one after another:

- a worker killed (SIGKILL, whole process group) in the middle of a reading;
- the broker stopped and started again (its queued messages gone with it);
- the database cut off for a few seconds, while workers read and clients upload.

After each: every upload the API accepted (202) has exactly one proposal, and the time
from the end of the fault to the last proposal is recorded (written as JSON to
``VIGIL_FAULT_REPORT`` when set: ``benchmarks/security_report.py`` reads it). Sweeps
run every 5 s for uploads 2 s old here, so recovery takes seconds; in production they
run every 15 s for uploads 45 s old (``sweep_after_seconds``): within a minute.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from stack_services import create_database, drop_database, own_database_url, reachable

from api.app import create_app
from api.config import Settings, new_secrets
from api.context import AppContext
from api.db import upgrade
from api.db.session import make_engine
from api.public_ids import TEST, UPLOAD, decode, encode
from api.selftests.tables import Proposal

# One xdist worker runs them all: they share the stack (started once, in seconds).
pytestmark = [pytest.mark.stack, pytest.mark.xdist_group("faults")]

PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_URL = os.environ.get(
    "VIGIL_STACK_DATABASE_URL", f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/vigil_fault"
)
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
SWEEP_AFTER_SECONDS = 2
RECOVERY_LIMIT_SECONDS = 90.0
RESULTS: dict[str, dict[str, Any]] = {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DatabaseProxy:
    """A TCP proxy to PostgreSQL; ``cut()`` drops every connection and refuses new ones."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.down = False
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.down:
                client.close()
                continue
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets |= {client, server}
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            self._close(source, sink)

    def _close(self, *sockets: socket.socket) -> None:
        for s in sockets:
            with self._lock:
                self._sockets.discard(s)
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def cut(self) -> None:
        self.down = True
        with self._lock:
            live = list(self._sockets)
        self._close(*live)

    def restore(self) -> None:
        self.down = False

    def stop(self) -> None:
        self._listener.close()
        self.cut()


class Process:
    """A child process in a process group of its own, its output in a file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.args, self.env, self.log = args, env, log
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.args, env=self.env, cwd=REPO, stdout=out, stderr=out, start_new_session=True
            )

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def kill(self) -> None:
        """SIGKILL the whole group: the worker and its pool, as a machine crash would."""
        if self.popen is not None:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()
            self.popen = None

    def stop(self) -> None:
        if self.popen is None:
            return
        os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()
        self.popen = None


@dataclass
class Stack:
    ctx: AppContext
    proxy: DatabaseProxy
    redis: Process
    redis_port: int
    workers: list[Process]
    markers: Path
    observer: Any  # an engine straight to PostgreSQL, to watch while the proxy is cut
    world: Any = None
    client: TestClient | None = None
    accepted: list[int] = field(default_factory=list)


def wait_for(check: Callable[[], Any], what: str, timeout: float = RECOVERY_LIMIT_SECONDS) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not reachable(PG_HOST, PG_PORT):
        pytest.skip("PostgreSQL not reachable on 127.0.0.1:5432")
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        pytest.skip("no redis-server binary to start a broker of the test's own")
    tmp = tmp_path_factory.mktemp("faults")
    direct_url = own_database_url(PG_URL)
    create_database(direct_url)
    proxy = DatabaseProxy((PG_HOST, PG_PORT))
    proxied_url = direct_url.replace(f"{PG_HOST}:{PG_PORT}", f"127.0.0.1:{proxy.port}")
    redis_port = free_port()
    redis = Process(
        [
            redis_server,
            "--port",
            str(redis_port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        dict(os.environ),
        tmp / "redis.log",
    )
    redis.start()
    wait_for(lambda: reachable("127.0.0.1", redis_port), "redis-server", 10)
    broker = f"redis://127.0.0.1:{redis_port}/0"
    markers = tmp / "markers"
    markers.mkdir()
    settings = Settings(
        mode="test",
        data_dir=tmp,
        database_url=proxied_url,
        celery_broker_url=broker,
        celery_queue="vigil-faults",
        sweep_after_seconds=SWEEP_AFTER_SECONDS,
        **new_secrets(),
    )
    env = {
        **os.environ,
        "VIGIL_MODE": "test",
        "VIGIL_DATA_DIR": str(tmp),
        "DATABASE_URL": proxied_url,
        "CELERY_BROKER_URL": broker,
        "CELERY_QUEUE": "vigil-faults",
        "SWEEP_AFTER_SECONDS": str(SWEEP_AFTER_SECONDS),
        "SECRET_KEY": settings.secret_key or "",
        "PII_KEYS": settings.pii_keys or "",
        "LOOKUP_KEY": settings.lookup_key or "",
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    worker_args = ["--concurrency=1", "--pool=prefork", "--loglevel=INFO", "--without-gossip"]
    worker_args += ["--without-mingle", "--without-heartbeat"]
    workers = [
        Process(
            [
                sys.executable,
                str(HERE / "fault_worker.py"),
                str(markers),
                *worker_args,
                f"--hostname=fault{n}@%h",
            ],
            env,
            tmp / f"worker{n}.log",
        )
        for n in range(2)
    ]
    beat = Process(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "api.worker",
            "beat",
            "--loglevel=INFO",
            "-s",
            str(tmp / "beat-schedule"),
        ],
        env,
        tmp / "beat.log",
    )
    for process in (*workers, beat):
        process.start()  # they take seconds to boot: meanwhile the schema is made
    upgrade(settings)
    ctx = AppContext.from_settings(settings)
    observer = make_engine(direct_url)
    stack = Stack(ctx, proxy, redis, redis_port, workers, markers, observer)
    try:
        yield stack
    finally:
        for process in (*workers, beat):
            process.kill()  # nothing of theirs to keep; a warm shutdown takes seconds
        redis.stop()
        if stack.world is not None:
            stack.world.session.close()
        proxy.stop()
        ctx.database.bind.dispose()  # type: ignore[union-attr]
        observer.dispose()
        drop_database(direct_url)
        report = os.environ.get("VIGIL_FAULT_REPORT")
        if report:
            Path(report).write_text(json.dumps(RESULTS, indent=2) + "\n")


@pytest.fixture
def client(stack: Stack, world_builder: Callable[..., Any]) -> Iterator[TestClient]:
    """The API on the stack, and one world (built once: later tests reuse its codes)."""
    if stack.world is None:
        session = stack.ctx.database.session()  # the world's, for the module: tokens, cached
        stack.world = world_builder(stack.ctx, session)
        session.commit()
    with TestClient(create_app(context=stack.ctx)) as client:
        stack.client = client
        yield client


CODES = iter(range(20))


def upload(stack: Stack, client: TestClient) -> Any:
    """Claim a fresh unit and upload its photo; the response."""
    world = stack.world
    patient = world.headers(world.patient_a)
    code = world.codes[next(CODES)]
    lat, lon = world.point_a
    claimed = client.post(
        "/api/tests", headers=patient, json={"code": code, "latitude": lat, "longitude": lon}
    )
    assert claimed.status_code == 201, claimed.text
    response = client.post(
        f"/api/tests/{claimed.json()['id']}/photos",
        headers={**patient, "Idempotency-Key": f"fault-{code}"},
        files={"photo": ("photo.png", png_photo(), "image/png")},
    )
    if response.status_code == 202:
        stack.accepted.append(uploaded(response))
    return response


def png_photo() -> bytes:
    import cv2
    import numpy as np

    ok, png = cv2.imencode(".png", np.full((64, 96, 3), 200, np.uint8))
    assert ok
    return png.tobytes()


def uploaded(response: Any) -> int:
    """The stored upload an accepted photo's answer names (by its public id)."""
    number = decode(UPLOAD, response.json()["id"])
    assert number is not None, response.text
    return number


def proposals(stack: Stack, upload_ids: list[int]) -> int:
    with stack.observer.connect() as conn:
        query = select(func.count()).where(Proposal.upload_id.in_(upload_ids))
        return int(conn.scalar(query) or 0)


def settle(stack: Stack, scenario: str, upload_ids: list[int], since: float) -> None:
    """Wait until every accepted upload has its proposal; check and record the outcome."""
    wait_for(lambda: proposals(stack, upload_ids) >= len(upload_ids), f"{scenario}: proposals")
    recovered = time.monotonic() - since
    made = proposals(stack, upload_ids)
    with stack.observer.connect() as conn:
        per_upload = conn.execute(
            select(Proposal.upload_id, func.count())
            .where(Proposal.upload_id.in_(upload_ids))
            .group_by(Proposal.upload_id)
        ).all()
    assert made == len(upload_ids), (made, upload_ids)
    assert all(count == 1 for _id, count in per_upload), per_upload
    RESULTS[scenario] = {
        "uploads_accepted": len(upload_ids),
        "proposals_made": made,
        "read_twice": sum(count - 1 for _id, count in per_upload),
        "recovery_seconds": round(recovered, 1),
    }


def test_a_worker_killed_in_the_middle_of_a_reading(stack: Stack, client: TestClient) -> None:
    ids = []
    for _ in range(3):
        response = upload(stack, client)
        assert response.status_code == 202, response.text
        ids.append(uploaded(response))
    marker = wait_for(lambda: sorted(stack.markers.iterdir()), "a reading to start", 60)[0]
    reading_pid = int(marker.name.split("-")[0])
    victim = next(w for w in stack.workers if w.pid == reading_pid)
    victim.kill()
    killed_at = time.monotonic()
    victim.start()  # back to two workers; the photo it held comes back through the sweep
    settle(stack, "worker killed mid-read", ids, killed_at)


def test_the_broker_stopped_and_started_again(stack: Stack, client: TestClient) -> None:
    stack.redis.stop()
    stopped_at = time.monotonic()
    ready = client.get("/api/health/ready")
    assert ready.status_code == 503, ready.text
    assert int(ready.headers["Retry-After"]) > 0
    ids = []
    for _ in range(2):
        response = upload(stack, client)  # kept; queued by the sweep once the broker is back
        assert response.status_code == 202, response.text
        ids.append(uploaded(response))
    stack.redis.start()
    wait_for(lambda: reachable("127.0.0.1", stack.redis_port), "redis-server", 10)
    back_at = time.monotonic()
    settle(stack, "broker stopped", ids, back_at)
    RESULTS["broker stopped"]["outage_seconds"] = round(back_at - stopped_at, 1)
    assert client.get("/api/health/ready").status_code == 200


def test_the_database_cut_off_for_a_while(stack: Stack, client: TestClient) -> None:
    ids = []
    readings_before = len(list(stack.markers.iterdir()))
    for _ in range(2):
        response = upload(stack, client)
        assert response.status_code == 202, response.text
        ids.append(uploaded(response))
    started = lambda: len(list(stack.markers.iterdir())) > readings_before  # noqa: E731
    wait_for(started, "a reading to start", 60)
    stack.proxy.cut()  # while a worker reads: its proposal cannot be written yet
    cut_at = time.monotonic()
    try:
        ready = client.get("/api/health/ready")
        assert ready.status_code == 503, ready.text
        refused = upload_while_down(stack, client)
        assert refused.status_code == 503, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert int(refused.headers["Retry-After"]) > 0
        time.sleep(2)
    finally:
        stack.proxy.restore()
    back_at = time.monotonic()
    settle(stack, "database cut off", ids, back_at)
    RESULTS["database cut off"]["outage_seconds"] = round(back_at - cut_at, 1)
    assert client.get("/api/health/ready").status_code == 200


def upload_while_down(stack: Stack, client: TestClient) -> Any:
    """A photo sent while the database is unreachable: refused with 503, nothing kept."""
    world = stack.world
    return client.post(
        f"/api/tests/{encode(TEST, 1)}/photos",
        headers={**world.headers(world.patient_a), "Idempotency-Key": "fault-down"},
        files={"photo": ("photo.png", png_photo(), "image/png")},
    )
