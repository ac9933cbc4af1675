"""Admission and pool exhaustion: a burst waits its turn, an overload is a 503, never a 500."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import httpx
from fastapi.testclient import TestClient

from api.admission import ADMITTED, AdmissionLimit
from api.app import create_app
from api.context import AppContext
from api.db.session import POOL_CONNECTIONS, Database, make_engine
from api.vision import Vision


class _Counting:
    """An ASGI app that notes how many requests are inside it at once."""

    def __init__(self) -> None:
        self.inside = 0
        self.most = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.inside += 1
        self.most = max(self.most, self.inside)
        await anyio.sleep(0.02)
        self.inside -= 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def _burst(app: Any, path: str, n: int) -> list[int]:
    statuses: list[int] = []

    async def one(client: httpx.AsyncClient) -> None:
        statuses.append((await client.get(path)).status_code)

    async def run() -> None:
        transport = httpx.ASGITransport(app=app)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://t") as client,
            anyio.create_task_group() as tg,
        ):
            for _ in range(n):
                tg.start_soon(one, client)

    anyio.run(run)
    return statuses


def test_a_burst_waits_for_its_turn_and_is_answered() -> None:
    inner = _Counting()
    assert _burst(AdmissionLimit(inner, limit=3), "/api/tests", 12) == [200] * 12
    assert inner.most == 3


def test_event_streams_are_not_counted() -> None:
    inner = _Counting()
    _burst(AdmissionLimit(inner, limit=3), "/api/events/stream", 12)
    assert inner.most > 3


def test_fewer_requests_admitted_than_connections() -> None:
    assert 0 < ADMITTED < POOL_CONNECTIONS


def test_every_connection_in_use_answers_503_with_retry_after(
    tmp_path: Path, settings: Any, region_index: Any, fake_reader: Any
) -> None:
    """A real pool whose only connection is held: the request waits, then is told to retry."""
    engine = make_engine(settings.database_url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    ctx = AppContext(
        settings=settings,
        database=Database(engine),
        _regions=region_index,
        vision=Vision(reader=fake_reader),
    )
    with engine.connect():
        busy = TestClient(create_app(context=ctx)).post(
            "/api/auth/token", data={"username": "someone", "password": "x" * 12}
        )
    engine.dispose()
    assert busy.status_code == 503, busy.text
    assert busy.headers["content-type"] == "application/problem+json"
    assert busy.json()["code"] == "busy"
    assert int(busy.headers["Retry-After"]) > 0
