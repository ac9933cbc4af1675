"""Publishing events to the real-time feed (a row per event; streams poll the table)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
from sqlalchemy.orm import Session
from starlette.requests import Request

from api.context import AppContext
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


async def stream(
    request: Request, ctx: AppContext, scope: Scope, after_id: int, limit: int | None
) -> AsyncIterator[dict[str, str]]:
    """Server-sent events in ``scope``: polls the table, so any process's events arrive.

    Each event carries its id, so a client reconnecting with ``Last-Event-ID`` resumes
    exactly where it stopped. Stops after ``limit`` events when given.
    """
    sent = 0
    last = after_id
    while not await request.is_disconnected():
        batch = await anyio.to_thread.run_sync(feed, ctx, scope, last)
        for event in batch:
            yield {
                "id": str(event.id),
                "event": event.kind,
                "data": json.dumps(
                    {**event.model_dump(mode="json", exclude={"payload"}), **event.payload}
                ),
            }
            last = event.id
            sent += 1
            if limit is not None and sent >= limit:
                return
        if not batch:
            await anyio.sleep(ctx.settings.event_poll_seconds)


def latest_id(ctx: AppContext) -> int:
    with ctx.database.session() as session:
        return queries.latest_id(session)
