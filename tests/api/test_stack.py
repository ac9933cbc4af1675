"""The production stack: PostgreSQL, Redis and real Celery worker processes.

Skipped, saying why, when PostgreSQL (127.0.0.1:5432, trust auth, user postgres)
or Redis (127.0.0.1:6379) cannot be reached. Each test uses a database of its own
(``vigil_stack_<worker>_<pid>``, dropped at the end), a leased Redis database and a
queue of its own, so parallel workers and concurrent runs never meet.
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from stack_services import (
    create_database,
    drop_database,
    forget_everything_but_the_lease,
    leased_redis_database,
    own_database_url,
    reachable,
)

from api.app import create_app
from api.config import Settings, new_secrets
from api.context import AppContext
from api.db import upgrade
from api.db.base import utcnow

pytestmark = pytest.mark.stack

# The server and the stem of the database name; the database itself is the test's own.
PG_URL = os.environ.get(
    "VIGIL_STACK_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/vigil_stack"
)
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


@pytest.fixture(scope="module")
def services() -> None:
    missing = [
        name
        for name, port in (("PostgreSQL", 5432), ("Redis", 6379))
        if not reachable("127.0.0.1", port)
    ]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not reachable on 127.0.0.1 (start them to run)")


def real_pipeline() -> bool:
    try:
        return importlib.util.find_spec("pipeline.read") is not None and bool(
            __import__("pipeline.read")
        )
    except ImportError:
        return False


@dataclass
class Stack:
    ctx: AppContext
    env: dict[str, str]  # the workers' environment
    redis_url: str


@pytest.fixture
def stack(services: None, tmp_path: Path) -> Iterator[Stack]:
    """Settings for PostgreSQL + Redis, the schema migrated, and the workers' environment."""
    database_url = own_database_url(PG_URL)
    create_database(database_url)
    try:
        with leased_redis_database() as redis_url:
            keys = new_secrets()
            queue = f"vigil-test-{os.getpid()}"
            settings = Settings(
                mode="test",
                data_dir=tmp_path,
                database_url=database_url,
                celery_broker_url=redis_url,
                celery_queue=queue,
                **keys,
            )
            upgrade(settings)
            ctx = AppContext.from_settings(settings)
            env = {
                **os.environ,
                "VIGIL_MODE": "test",
                "VIGIL_DATA_DIR": str(tmp_path),
                "DATABASE_URL": database_url,
                "CELERY_BROKER_URL": redis_url,
                "CELERY_QUEUE": queue,
                "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
            }
            try:
                yield Stack(ctx, env, redis_url)
            finally:
                ctx.database.bind.dispose()  # type: ignore[union-attr]
    finally:
        drop_database(database_url)


class Worker:
    """A ``celery worker`` subprocess with two processes, started and stopped on demand."""

    def __init__(self, env: dict[str, str], fake: str | None) -> None:
        self.env = env
        self.fake = fake
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = [sys.executable, str(HERE / "stack_worker.py")]
        if self.fake:
            args.append(f"--fake={self.fake}")
        args += ["--concurrency=2", "--pool=prefork", "--loglevel=INFO", "--without-gossip"]
        args += ["--without-mingle", "--without-heartbeat"]
        self.process = subprocess.Popen(
            args, env=self.env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )

    def stop(self) -> str:
        if self.process is None:
            return ""
        self.process.send_signal(signal.SIGTERM)
        try:
            out, _ = self.process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
        self.process = None
        return out.decode(errors="replace")


def wait_for(check: Callable[[], Any], timeout: float = 90.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def upload_photo(client: TestClient, world: Any, test_id: int, photo: bytes) -> dict[str, Any]:
    response = client.post(
        f"/api/tests/{test_id}/photos",
        headers={**world.headers(world.patient_a), "Idempotency-Key": f"stack-upload-{test_id}"},
        files={"photo": ("photo.jpg", photo, "image/jpeg")},
    )
    assert response.status_code == 202, response.text
    return response.json()


def proposal_of(client: TestClient, world: Any, upload_id: int) -> str | None:
    body = client.get(f"/api/uploads/{upload_id}", headers=world.headers(world.patient_a)).json()
    return body["proposal_status"]


def a_photo(world: Any, code: str) -> tuple[bytes, str | None]:
    """A synthetic photo of a positive unit, and the stand-in result when no pipeline is here."""
    if not real_pipeline():
        import cv2
        import numpy as np

        ok, jpeg = cv2.imencode(".jpg", np.full((120, 160, 3), 200, np.uint8))
        assert ok
        return jpeg.tobytes(), "positive"
    import numpy as np

    from datasets.render import render_photo
    from pipeline.kit import load_kit

    kit = load_kit(REPO / "datasets" / "kits" / "demo" / "kit.json")
    photo = render_photo(
        kit, np.random.default_rng(11), od={"T": 0.5, "C": 0.8}, code=code, size=(1600, 1200)
    )
    return photo.jpeg, None


def test_flow_on_postgres_redis_and_celery_workers(
    stack: Stack, world_builder: Callable[..., Any]
) -> None:
    ctx, env = stack.ctx, stack.env
    with ctx.database.session() as session:
        world = world_builder(ctx, session)
        photo, fake = a_photo(world, world.codes[0])
        worker = Worker(env, fake)
        worker.start()
        try:
            with TestClient(create_app(context=ctx)) as client:
                lat, lon = world.point_a
                test = client.post(
                    "/api/tests",
                    headers=world.headers(world.patient_a),
                    json={"code": world.codes[0], "latitude": lat, "longitude": lon},
                ).json()
                applied_at = (utcnow() - timedelta(minutes=20)).isoformat()  # read window open
                client.post(
                    f"/api/tests/{test['id']}/sample-applied",
                    headers=world.headers(world.patient_a),
                    json={"applied_at": applied_at},
                ).raise_for_status()
                upload = upload_photo(client, world, test["id"], photo)
                # Queued to Redis, not read in the request.
                assert upload["test_status"] == "reading"
                status = wait_for(
                    lambda: proposal_of(client, world, upload["id"]), what="the proposal"
                )
                assert status == "ok"
                clinician = world.headers(world.clinician_a)
                queue = client.get("/api/reviews/queue", headers=clinician).json()["items"]
                assert [q["test_id"] for q in queue] == [test["id"]]
                assert queue[0]["proposed_result"] == "positive"
                review = client.post(
                    f"/api/proposals/{queue[0]['proposal_id']}/review",
                    headers=clinician,
                    json={"decision": "confirm"},
                )
                assert review.status_code == 200, review.text
                mine = client.get(
                    f"/api/tests/{test['id']}", headers=world.headers(world.patient_a)
                ).json()
                assert mine["result"] == "positive"
                cdc = world.headers(world.cdc_national)
                cases = client.get("/api/cdc/positives", headers=cdc).json()["items"]
                assert [c["national_id"] for c in cases] == [world.national_id_a]
                with client.stream(
                    "GET", "/api/events/stream?after_id=0&limit=2", headers=cdc
                ) as r:
                    text = r.read().decode()
                assert "event: test.started" in text
                assert "event: report.positive" in text
                stats = client.get("/api/statistics", headers=cdc).json()
                assert stats["totals"]["positive"] == 1
        finally:
            log = worker.stop()
        assert "vigil.read_upload" in log


def test_lost_message_is_recovered_by_the_sweep(
    stack: Stack, world_builder: Callable[..., Any]
) -> None:
    """No worker runs while the photo is uploaded and its message is lost from the broker:
    the photo is safe in the database and the folder, and the sweep queues it again."""
    import redis

    ctx, env = stack.ctx, stack.env
    with ctx.database.session() as session:
        world = world_builder(ctx, session)
        photo, fake = a_photo(world, world.codes[1])
        with TestClient(create_app(context=ctx)) as client:
            lat, lon = world.point_a
            test = client.post(
                "/api/tests",
                headers=world.headers(world.patient_a),
                json={"code": world.codes[1], "latitude": lat, "longitude": lon},
            ).json()
            upload = upload_photo(client, world, test["id"], photo)
            # The message is gone (the lease on this Redis database stays).
            forget_everything_but_the_lease(redis.Redis.from_url(stack.redis_url))
            worker = Worker(env, fake)
            worker.start()
            try:
                time.sleep(3)
                assert proposal_of(client, world, upload["id"]) is None
                swept = client.post(
                    "/api/readings/sweep?older_than_seconds=0",
                    headers=world.headers(world.operator),
                ).json()
                assert swept == {"requeued": [upload["id"]]}
                status = wait_for(
                    lambda: proposal_of(client, world, upload["id"]), what="the swept proposal"
                )
                assert status == "ok"
            finally:
                worker.stop()


def test_a_task_takes_only_waiting_readings_that_can_run_now(stack: Stack) -> None:
    """``take_waiting`` on the real broker: from the queue's head, messages of the reading
    task without an ETA, up to the limit, stopping at any other message."""
    import redis

    from api import worker
    from api.readings.service import READ_UPLOAD

    worker.configure(stack.ctx.settings)
    for upload_id in (1, 2, 3):
        worker.app.send_task(READ_UPLOAD, args=[upload_id])
    worker.app.send_task("vigil.sweep")
    worker.app.send_task(READ_UPLOAD, args=[4])
    worker.app.send_task(READ_UPLOAD, args=[5], countdown=60)  # a retry's backoff
    queue = stack.ctx.settings.celery_queue
    client = redis.Redis.from_url(stack.redis_url)
    assert client.llen(queue) == 6
    assert worker.take_waiting(READ_UPLOAD, 2) == [1, 2]
    assert worker.take_waiting(READ_UPLOAD, 7) == [3]
    assert worker.take_waiting(READ_UPLOAD, 7) == []  # the sweep is next: left to Celery
    assert client.llen(queue) == 3
    client.rpop(queue)  # the sweep's message, as a worker would take it
    assert worker.take_waiting(READ_UPLOAD, 7) == [4]  # the one with an ETA stays
    assert client.llen(queue) == 1


def test_messages_on_redis_are_laid_out_as_take_waiting_reads_them(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The envelope kombu writes for a task sent as uploads send theirs has the fields that
    ``take_waiting``'s script (``headers.task``, ``headers.eta``) and its parser (``body``,
    ``properties.body_encoding``) read: a kombu release that lays messages out otherwise fails
    here. A worker process checks the same as it starts; where the check fails, it takes no
    waiting messages and says why."""
    import base64
    import json
    import logging

    import redis

    from api import worker
    from api.readings.service import READ_UPLOAD

    worker.configure(stack.ctx.settings)
    worker.app.send_task(READ_UPLOAD, args=[7])
    worker.app.send_task(READ_UPLOAD, args=[8], countdown=60)
    queue = stack.ctx.settings.celery_queue
    client = redis.Redis.from_url(stack.redis_url)
    # Consumed from the list's right end: the first sent is the last element.
    later, first = (json.loads(message) for message in client.lrange(queue, 0, -1))
    assert (first["headers"]["task"], first["headers"]["eta"]) == (READ_UPLOAD, None)
    assert later["headers"]["eta"] is not None
    body = first["body"]
    if first["properties"].get("body_encoding") == "base64":
        body = base64.b64decode(body)
    assert json.loads(body)[0] == [7]

    assert worker.take_waiting_problem() is None
    monkeypatch.setattr(worker, "_taking", True)
    worker.check_take_waiting()
    assert worker._taking
    assert client.llen(queue) == 2  # untouched: the check sends to a queue of its own
    assert not client.keys("*take-check*")  # and leaves nothing behind

    # A layout the script does not read (here: the script looking for another field).
    other = client.register_script(worker._TAKE_WAITING.replace("['task']", "['name']"))
    monkeypatch.setattr(worker, "_take_waiting_script", lambda _broker: other)
    with caplog.at_level(logging.WARNING, logger="api.worker"):
        worker.check_take_waiting()
    assert not worker._taking
    assert "read their own photo only" in caplog.text
    assert worker.take_waiting(READ_UPLOAD, 7) == []
    assert client.llen(queue) == 2
    assert not client.keys("*take-check*")


def test_photos_waiting_are_read_together_each_with_its_proposal(
    stack: Stack, world_builder: Callable[..., Any]
) -> None:
    """Uploads queued while no worker runs: the worker's tasks take the waiting photos with
    theirs (fewer tasks than photos), and every photo gets its own proposal and audit entry."""
    from sqlalchemy import func, select

    from api.audit.tables import AuditEntry

    ctx, env = stack.ctx, stack.env
    count = 8
    with ctx.database.session() as session:
        world = world_builder(ctx, session)
        photo, fake = a_photo(world, world.codes[0])
        with TestClient(create_app(context=ctx)) as client:
            lat, lon = world.point_a
            uploads = []
            for code in world.codes[:count]:
                test = client.post(
                    "/api/tests",
                    headers=world.headers(world.patient_a),
                    json={"code": code, "latitude": lat, "longitude": lon},
                ).json()
                uploads.append(upload_photo(client, world, test["id"], photo)["id"])
            worker = Worker(env, fake)
            worker.start()
            try:
                wait_for(
                    lambda: all(proposal_of(client, world, u) for u in uploads),
                    what="every proposal",
                )
            finally:
                log = worker.stop()
        entries = session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "proposal")
        )
        assert entries == count
    tasks = len(re.findall(r"Task vigil\.read_upload\[[^]]*\] succeeded", log))
    assert 0 < tasks < count, log
