"""The real-time feed: scope, server-sent events, resuming with Last-Event-ID."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

import api.accounts.service as accounts
from api.accounts.tables import Role
from api.app import create_app
from api.config import Settings, new_secrets
from api.context import AppContext
from api.db import session as db_session
from api.db import upgrade
from api.events import queries
from api.events.service import Cursor, publish, start_cursor
from api.public_ids import EVENT, TEST, decode, encode


def sse(text: str) -> list[dict[str, Any]]:
    """Parse a server-sent-events body into its events."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, Any] = {}
        for line in block.splitlines():
            if line.startswith(":") or ":" not in line:
                continue
            key, _, value = line.partition(":")
            fields[key] = value.strip()
        if "data" in fields:
            fields["data"] = json.loads(fields["data"])
            events.append(fields)
    return events


def test_started_tests_reach_their_region_and_the_offices_above(
    client: TestClient, world: Any, flow: Any
) -> None:
    test_a = flow.claim(code_index=0, where="a")
    test_b = flow.claim(world.patient_b, code_index=1, where="b")

    def seen(user: Any) -> list[int | None]:
        events = client.get("/api/events", headers=world.headers(user)).json()["items"]
        return [
            decode(TEST, e["payload"]["test_id"]) for e in events if e["kind"] == "test.started"
        ]

    assert seen(world.clinician_a) == [test_a.id]
    assert seen(world.clinician_b) == [test_b.id]
    assert seen(world.cdc_a) == [test_a.id]  # an office over A's district
    assert seen(world.cdc_b) == [test_b.id]
    assert seen(world.cdc_national) == [test_a.id, test_b.id]
    feed = client.get("/api/events", headers=world.headers(world.cdc_a)).json()["items"]
    payload = feed[0]["payload"]
    assert set(payload) == {"test_id", "region_code", "product_code", "lot_number", "claimed_at"}


def test_stream_sends_events_and_resumes_after_the_last_id(
    client: TestClient, world: Any, flow: Any
) -> None:
    first = flow.claim(code_index=0)
    second = flow.claim(code_index=1)
    headers = world.headers(world.clinician_a)
    with client.stream("GET", "/api/events/stream?after_id=0&limit=1", headers=headers) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = sse(r.read().decode())
    assert [e["event"] for e in events] == ["test.started"]
    assert events[0]["data"]["test_id"] == encode(TEST, first.id)
    resume = {**headers, "Last-Event-ID": events[0]["id"]}
    with client.stream("GET", "/api/events/stream?limit=1", headers=resume) as r:
        again = sse(r.read().decode())
    assert again[0]["data"]["test_id"] == encode(TEST, second.id)
    assert Cursor.parse(again[0]["id"]).last > Cursor.parse(events[0]["id"]).last  # type: ignore[union-attr]


def test_the_polling_feed_reads_in_the_requests_own_transaction(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """On a SQLite file every transaction takes the write lock at BEGIN: had the feed read
    in a session of its own, it would wait for the request's transaction (that looked up
    the caller and the scope) until the busy timeout, and answer 503."""
    monkeypatch.setattr(db_session, "SQLITE_BUSY_TIMEOUT_SECONDS", 1)
    settings = Settings(mode="test", data_dir=tmp_path, **new_secrets())
    upgrade(settings)
    ctx = AppContext.from_settings(settings)
    with ctx.database.transaction() as session:
        operator = accounts.create_user(
            session,
            username="watcher",
            password="correct horse battery",
            role=Role.operator,
            display_name="Watcher",
        )
        token, _ = accounts.issue_token(session, ctx, operator)
        publish(session, "test.started", "DL-N-01-01", {"test_id": 7})
    with TestClient(create_app(context=ctx)) as client:
        answer = client.get("/api/events", headers={"Authorization": f"Bearer {token}"})
    ctx.database.bind.dispose()  # type: ignore[union-attr]
    assert answer.status_code == 200, answer.text
    assert [e["payload"]["test_id"] for e in answer.json()["items"]] == [encode(TEST, 7)]


def test_a_new_stream_starts_at_now_in_the_requests_own_transaction(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """Where a stream without ``Last-Event-ID`` starts is read in the request's session: in
    a session of its own it waited on a SQLite file for the write lock the request's
    transaction holds, and the stream answered 503."""
    monkeypatch.setattr(db_session, "SQLITE_BUSY_TIMEOUT_SECONDS", 1)
    settings = Settings(mode="test", data_dir=tmp_path, **new_secrets())
    upgrade(settings)
    ctx = AppContext.from_settings(settings)
    with ctx.database.transaction() as session:
        publish(session, "test.started", "DL-N-01-01", {"test_id": 7})  # holds the write lock
        session.flush()
        assert start_cursor(session, None, None) == Cursor(queries.latest_id(session))
    ctx.database.bind.dispose()  # type: ignore[union-attr]


def test_stream_picks_up_events_written_while_it_waits(tmp_path: Path) -> None:
    """Events come from the table, so one committed by another process is delivered.

    Runs on a database file of its own: the shared test connection cannot be
    used from two threads at once.
    """
    settings = Settings(mode="test", data_dir=tmp_path, event_poll_seconds=0.02, **new_secrets())
    upgrade(settings)
    ctx = AppContext.from_settings(settings)
    with ctx.database.transaction() as session:
        operator = accounts.create_user(
            session,
            username="watcher",
            password="correct horse battery",
            role=Role.operator,
            display_name="Watcher",
        )
        token, _ = accounts.issue_token(session, ctx, operator)
    body: list[str] = []
    with TestClient(create_app(context=ctx)) as client:

        def listen() -> None:
            url = "/api/events/stream?after_id=0&limit=1"  # the table is empty so far
            headers = {"Authorization": f"Bearer {token}"}
            with client.stream("GET", url, headers=headers) as r:
                body.append(r.read().decode())

        listener = threading.Thread(target=listen)
        listener.start()
        time.sleep(0.3)  # the stream is (most likely) waiting already
        with ctx.database.transaction() as session:  # "another process"
            publish(session, "test.started", "DL-N-01-01", {"test_id": 42})
        listener.join(timeout=10)
        assert not listener.is_alive()
    ctx.database.bind.dispose()  # type: ignore[union-attr]
    events = sse(body[0])
    assert events[0]["data"]["test_id"] == encode(TEST, 42)
    assert events[0]["event"] == "test.started"


def test_positive_report_event(client: TestClient, world: Any, flow: Any) -> None:
    test = flow.released("positive", code_index=0)
    negative = flow.released("negative", code_index=1)
    events = client.get("/api/events", headers=world.headers(world.cdc_national)).json()["items"]
    reports = [e for e in events if e["kind"] == "report.positive"]
    assert [e["payload"]["test_id"] for e in reports] == [encode(TEST, test.id)]
    assert encode(TEST, negative.id) not in [e["payload"]["test_id"] for e in reports]
    assert client.get("/api/events", headers=world.headers(world.cdc_b)).json()["items"] == []


def test_an_event_committed_late_with_a_lower_id_is_still_sent(tmp_path: Path) -> None:
    """On PostgreSQL an id can become visible after a higher one. The stream's cursor
    keeps the ids it has not seen yet, so such an event is sent, to a client that stays
    connected and to one that reconnects with ``Last-Event-ID`` (explicit ids simulate it)."""
    import anyio

    from api.events.service import stream
    from api.events.tables import Event
    from api.scope import Scope

    settings = Settings.model_validate(
        {"mode": "test", "data_dir": tmp_path, "event_poll_seconds": 0.01, **new_secrets()}
    )
    upgrade(settings)
    ctx = AppContext.from_settings(settings)
    with ctx.database.transaction() as session:
        session.add(Event(id=5, kind="test.started", region_code="DL", payload={"n": 5}))

    class Connected:
        async def is_disconnected(self) -> bool:
            return False

    async def collect(cursor: Cursor, limit: int, late: int | None) -> list[dict[str, str]]:
        got = []
        async for event in stream(Connected(), ctx, Scope(None), cursor, limit):  # type: ignore[arg-type]
            got.append(event)
            if late is not None and len(got) == 1:  # the transaction with this id commits now
                with ctx.database.transaction() as session:
                    session.add(Event(id=late, kind="test.started", region_code="DL", payload={}))
        return got

    connected = anyio.run(collect, Cursor(0), 2, 3)
    assert [json.loads(e["data"])["id"] for e in connected] == [encode(EVENT, 5), encode(EVENT, 3)]
    assert [Cursor.parse(e["id"]) for e in connected] == [
        Cursor(5, frozenset({1, 2, 3, 4})),
        Cursor(5, frozenset({1, 2, 4})),
    ]
    # Sealed: bare event ids would tell how busy the service is, and are not taken back.
    assert Cursor.parse("5:1,2,3,4") is None

    # A client that dropped right after event 5 never got 3; event 2 commits meanwhile.
    with ctx.database.transaction() as session:
        session.add(Event(id=2, kind="test.started", region_code="DL", payload={}))
    with ctx.database.session() as session:
        resumed_at = start_cursor(session, connected[0]["id"], None)
        assert start_cursor(session, "not-a-cursor", 7) == Cursor(7)
    resumed = anyio.run(collect, resumed_at, 2, None)
    assert [json.loads(e["data"])["id"] for e in resumed] == [encode(EVENT, 2), encode(EVENT, 3)]
    ctx.database.bind.dispose()  # type: ignore[union-attr]


def test_a_browser_event_source_connects_with_a_short_lived_stream_token(
    client: TestClient, world: Any, flow: Any
) -> None:
    flow.claim(code_index=0)
    issued = client.post("/api/events/stream-token", headers=world.headers(world.clinician_a))
    assert issued.status_code == 200
    token = issued.json()["stream_token"]
    lifetime = datetime.fromisoformat(issued.json()["expires_at"]) - datetime.now(UTC)
    assert timedelta(seconds=50) < lifetime <= timedelta(seconds=60)
    url = f"/api/events/stream?after_id=0&limit=1&stream_token={token}"
    with client.stream("GET", url) as r:  # no Authorization header, as from EventSource
        assert r.status_code == 200
        events = sse(r.read().decode())
    assert [e["event"] for e in events] == ["test.started"]
    refused = client.get("/api/events/stream?after_id=0&limit=1&stream_token=made-up")
    assert refused.status_code == 401
    patient = client.post("/api/events/stream-token", headers=world.headers(world.patient_a))
    assert patient.status_code == 403
