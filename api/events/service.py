"""Publishing events to the real-time feed (a row per event; streams poll the table)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from datetime import datetime, timedelta
from typing import Any

import anyio
from sqlalchemy.orm import Session
from starlette.requests import Request

from api.context import AppContext
from api.db.base import utcnow
from api.events import queries
from api.events.schemas import EventOut
from api.events.tables import Event
from api.scope import Scope

TEST_STARTED = "test.started"
POSITIVE_REPORTED = "report.positive"


def publish(session: Session, kind: str, region_code: str, payload: dict[str, Any]) -> Event:
    """Add an event for ``region_code``; it is seen once the caller's transaction commits."""
    event = Event(kind=kind, region_code=region_code, payload=payload)
    session.add(event)
    return event


def feed(ctx: AppContext, scope: Scope, after_id: int, limit: int = 100) -> list[EventOut]:
    """Events in ``scope`` after ``after_id``, read in a session of their own."""
    with ctx.database.session() as session:
        rows = queries.events_after(session, scope.regions, after_id, limit)
        return [EventOut.model_validate(row) for row in rows]


def recent(
    ctx: AppContext, scope: Scope, limit: int = 20, kinds: Iterable[str] | None = None
) -> list[EventOut]:
    """The newest events in ``scope`` (of ``kinds`` when given), newest first: what a live
    page shows before its stream starts."""
    with ctx.database.session() as session:
        rows = queries.latest_events(session, scope.regions, limit, kinds)
        return [EventOut.model_validate(r) for r in rows]


# Ids are handed out when rows are inserted but become visible at commit, so on a
# busy PostgreSQL an event can appear after one with a higher id. The stream
# therefore also re-reads the last few seconds and sends what it has not sent.
LATE_COMMIT_WINDOW = timedelta(seconds=10)


def _poll(
    ctx: AppContext, scope: Scope, after_id: int, sent: set[int], limit: int = 100
) -> list[EventOut]:
    with ctx.database.session() as session:
        rows = {e.id: e for e in queries.events_after(session, scope.regions, after_id, limit)}
        since = utcnow() - LATE_COMMIT_WINDOW
        for late in queries.events_since(session, scope.regions, since, limit):
            if late.id not in sent:
                rows.setdefault(late.id, late)
        return [EventOut.model_validate(rows[i]) for i in sorted(rows) if i not in sent]


def _recent_up_to(ctx: AppContext, scope: Scope, after_id: int) -> dict[int, datetime]:
    with ctx.database.session() as session:
        since = utcnow() - LATE_COMMIT_WINDOW
        recent = queries.events_since(session, scope.regions, since, limit=10_000)
        return {e.id: e.created_at for e in recent if e.id <= after_id}


async def stream(
    request: Request, ctx: AppContext, scope: Scope, after_id: int, limit: int | None
) -> AsyncIterator[dict[str, str]]:
    """Server-sent events in ``scope``: polls the table, so any process's events arrive.

    Each event carries its id, so a client reconnecting with ``Last-Event-ID`` resumes
    exactly where it stopped. Stops after ``limit`` events when given.
    """
    count = 0
    last = after_id
    # Ids sent (or, at the start, already behind the client) within the late-commit window.
    sent = await anyio.to_thread.run_sync(_recent_up_to, ctx, scope, after_id)
    while not await request.is_disconnected():
        batch = await anyio.to_thread.run_sync(_poll, ctx, scope, last, set(sent))
        for event in batch:
            yield {
                "id": str(event.id),
                "event": event.kind,
                "data": json.dumps(
                    {**event.model_dump(mode="json", exclude={"payload"}), **event.payload}
                ),
            }
            last = max(last, event.id)
            sent[event.id] = event.created_at
            count += 1
            if limit is not None and count >= limit:
                return
        horizon = utcnow() - 2 * LATE_COMMIT_WINDOW
        for event_id in [i for i, at in sent.items() if at < horizon]:
            del sent[event_id]
        if not batch:
            await anyio.sleep(ctx.settings.event_poll_seconds)


def latest_id(ctx: AppContext) -> int:
    with ctx.database.session() as session:
        return queries.latest_id(session)
