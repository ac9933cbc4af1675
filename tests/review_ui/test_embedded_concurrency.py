"""The embedded default (SQLite file, in-process readings) under many parallel clients.

Patients upload photos through the pages and the API, clinicians read the queue and
decide on the review pages (held decisions, settled later by whichever request reads
first), CDC officers watch the positives, all at once against one uvicorn server. On
SQLite every one of those requests reads and then writes; none may fail (issue 11, 9:
a deferred BEGIN that read, then wrote, failed with "database is locked").
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from review_ui_helpers import (
    DEMO_PASSWORD,
    REGION_NORTH,
    PageClient,
    fake_reading,
    new_patient,
    serving,
    start_test,
    tiny_png,
)

from api.config import Settings
from api.context import AppContext
from api.db import upgrade
from api.public_ids import TEST, encode
from api.security.ratelimit import DEFAULT_POLICY, Throttle
from review_ui.app import create_app
from vigil.demo import seed_demo

PATIENTS = 12  # half upload through the pages, half through the API
CLINICIANS = ("clinician-north", "clinician-north-2")
GRACE_SECONDS = 1.0  # held decisions settle inside GET requests while others write
DEADLINE_SECONDS = 90.0


@dataclass
class Traffic:
    """Every response the clients got, from every thread."""

    responses: list[tuple[str, str, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, response: httpx.Response) -> None:
        with self.lock:
            self.responses.append(
                (response.request.method, response.request.url.path, response.status_code)
            )

    def failures(self) -> list[tuple[str, str, int]]:
        with self.lock:
            return [r for r in self.responses if r[2] >= 500]


@dataclass
class Embedded:
    base_url: str
    ctx: AppContext
    tests: list[tuple[str, int]]  # (patient user name, test id)
    traffic: Traffic

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            timeout=60,
            event_hooks={"response": [self.traffic.record]},
        )

    def token(self, client: httpx.Client, username: str) -> dict[str, str]:
        response = client.post(
            "/api/auth/token", data={"username": username, "password": DEMO_PASSWORD}
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def embedded(tmp_path: Path, keys: dict[str, Any]) -> Iterator[Embedded]:
    """``vigil serve`` as shipped: SQLite file, readings in-process; demo parties, and
    twelve patients with a test started in the north (the pipeline proposes positives:
    this test is about the database, the vision has its own tests)."""
    settings = Settings(
        mode="test", data_dir=tmp_path, celery_broker_url=None, event_poll_seconds=0.2, **keys
    )
    upgrade(settings)
    ctx = AppContext.from_settings(settings)
    seed_demo(ctx, photos=False)
    tests = []
    with ctx.database.session() as session:
        for _ in range(PATIENTS):
            user, _national_id = new_patient(session, ctx)
            tests.append((user.username, start_test(session, ctx, user, REGION_NORTH).id))
    ctx.vision.reader = lambda _photo, _kit: fake_reading("positive")
    # Every client here comes from 127.0.0.1; in the field they are many addresses. The
    # per-address log-in limit has its own tests, and would refuse this crowd by design.
    ctx.throttle = Throttle.from_url(
        None,
        secret=b"embedded-concurrency",
        policy=replace(DEFAULT_POLICY, address_attempts=10 * PATIENTS),
    )
    app = create_app(context=ctx, review_grace_seconds=GRACE_SECONDS)
    try:
        with serving(app, name="embedded-server") as base_url:
            yield Embedded(base_url, ctx, tests, Traffic())
    finally:
        ctx.database.bind.dispose()  # type: ignore[union-attr]


def test_many_parallel_clients_get_no_server_error(
    embedded: Embedded, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    deadline = time.monotonic() + DEADLINE_SECONDS
    released: set[int] = set()
    released_lock = threading.Lock()
    stop = threading.Event()  # everyone's result is out, or a client failed

    def running() -> bool:
        return not stop.is_set() and time.monotonic() < deadline

    def patient(index: int) -> None:
        username, test_id = embedded.tests[index]
        with embedded.client() as client:
            token = embedded.token(client, username)
            if index % 2:
                pages = PageClient(client)  # type: ignore[arg-type]
                pages.log_in(username)
                assert pages.get(f"/patient/tests/{encode(TEST, test_id)}").status_code == 200
                sent = pages.post(
                    f"/patient/tests/{encode(TEST, test_id)}/photo",
                    {"upload_key": f"concurrency-{test_id}"},
                    files={"photo": ("test.png", tiny_png(), "image/png")},
                )
                assert sent.status_code == 303, sent.text
            else:
                sent = client.post(
                    f"/api/tests/{encode(TEST, test_id)}/photos",
                    headers=token,
                    files={"photo": ("test.png", tiny_png(), "image/png")},
                )
                assert sent.status_code == 202, sent.text
            # Watch the result arrive, as the patient's page does.
            while running():
                if index % 2:
                    client.get(f"/patient/tests/{encode(TEST, test_id)}")
                mine = client.get(f"/api/tests/{encode(TEST, test_id)}", headers=token)
                if mine.status_code == 200 and mine.json()["result"] == "positive":
                    with released_lock:
                        released.add(test_id)
                        if len(released) == len(embedded.tests):
                            stop.set()
                    return
                time.sleep(0.05)

    def clinician(username: str) -> None:
        rng = random.Random(username)
        with embedded.client() as client:
            token = embedded.token(client, username)
            pages = PageClient(client)  # type: ignore[arg-type]
            pages.log_in(username)
            while running():
                pages.get("/review")
                queue = client.get("/api/reviews/queue", headers=token)
                items = queue.json()["items"] if queue.status_code == 200 else []
                if not items:
                    time.sleep(0.05)
                    continue
                proposal_id = rng.choice(items[:3])["proposal_id"]
                pages.get(f"/review/items/{proposal_id}")
                # Both clinicians may pick the same item: the later one is told it moved on.
                pages.post(f"/review/items/{proposal_id}/decision", {"choice": "confirm"})

    def cdc_officer(username: str) -> None:
        with embedded.client() as client:
            token = embedded.token(client, username)
            pages = PageClient(client)  # type: ignore[arg-type]
            pages.log_in(username)
            while running():
                client.get("/api/cdc/positives", headers=token)
                client.get("/api/statistics", headers=token)
                pages.get("/cdc")
                time.sleep(0.05)

    actors: list[Callable[[], None]] = [
        *(lambda i=i: patient(i) for i in range(len(embedded.tests))),
        *(lambda u=u: clinician(u) for u in CLINICIANS),
        lambda: cdc_officer("cdc-north"),
        lambda: cdc_officer("cdc-national"),
    ]

    def act(actor: Callable[[], None]) -> None:
        try:
            actor()
        except BaseException:
            stop.set()  # no point in the others going on to the deadline
            raise

    with ThreadPoolExecutor(max_workers=len(actors)) as pool:
        futures = [pool.submit(act, actor) for actor in actors]
    assert embedded.traffic.failures() == []
    for future in futures:
        future.result()  # a client's own assertion (an upload refused, a log-in failed)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
    # The work went through: every photo was read, decided on and released to its patient.
    assert released == {test_id for _username, test_id in embedded.tests}
    assert len(embedded.traffic.responses) > 10 * len(actors)
