"""Publishing events to the real-time feed (a row per event; streams poll the table)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import anyio
from sqlalchemy.orm import Session
from starlette.requests import Request

from api.context import AppContext
from api.db.base import utcnow
from api.events import queries
from api.events.schemas import EventOut
from api.events.tables import Event
from api.pagination import InvalidCursorError, open_cursor, seal
from api.scope import Scope

TEST_STARTED = "test.started"
POSITIVE_REPORTED = "report.positive"


def _flat(event: EventOut) -> dict[str, Any]:
    """An event as the stream sends it: its fields and its payload's, side by side."""
    shown = event.model_dump(mode="json")
    return {**shown, **shown.pop("payload")}


def publish(session: Session, kind: str, region_code: str, payload: dict[str, Any]) -> Event:
    """Add an event for ``region_code``; it is seen once the caller's transaction commits."""
    event = Event(kind=kind, region_code=region_code, payload=payload)
    session.add(event)
    return event


def feed(session: Session, scope: Scope, after_id: int, limit: int = 100) -> list[EventOut]:
    """Events in ``scope`` after ``after_id`` (read in the caller's session: a session of
    its own would wait, on SQLite, for the write lock the caller's transaction holds)."""
    rows = queries.events_after(session, scope.regions, after_id, limit)
    return [EventOut.model_validate(row) for row in rows]


def feed_start(
    session: Session, scope: Scope, limit: int = 20, kinds: Iterable[str] | None = None
) -> tuple[int, list[EventOut]]:
    """What a live page shows before its stream starts: the id its stream starts after,
    and the newest events in ``scope`` (of ``kinds`` when given), newest first.

    Read in the caller's session. The id is read first, so an event committed between
    the two reads is streamed (and shown twice at worst, which pages de-duplicate by
    id), never lost.
    """
    start = queries.latest_id(session)
    rows = queries.latest_events(session, scope.regions, limit, kinds)
    return start, [EventOut.model_validate(r) for r in rows]


# Ids are handed out when rows are inserted but become visible at commit, so on a
# busy PostgreSQL an event can appear after one with a higher id. The stream's cursor
# (the SSE ``id``, sent back as ``Last-Event-ID``) therefore names the last id examined
# and the lower ids that were not visible yet ("gaps"): a reconnecting client is sent a
# gap that has committed since, never skipped. A gap older than the window below is
# taken for a rolled-back transaction and dropped.
LATE_COMMIT_WINDOW = timedelta(seconds=10)
# A browser's EventSource cannot send headers: it connects with a token this short-lived.
STREAM_TOKEN_TTL = timedelta(seconds=60)
MAX_GAPS = 200
# What stream cursors are sealed for (the API's stream and the pages' share them).
_STREAM = "event-stream"


@dataclass(frozen=True)
class Cursor:
    """Where a stream stands: every id up to ``last`` was examined except ``gaps``."""

    last: int
    gaps: frozenset[int] = frozenset()

    def encode(self) -> str:
        """Sealed (``api.pagination``): event ids would tell how busy the service is."""
        return seal(_STREAM, (self.last, *sorted(self.gaps)))

    @classmethod
    def parse(cls, text: str | None) -> Cursor | None:
        """A cursor from ``Last-Event-ID`` (``None`` when it is not one of ours)."""
        try:
            values = open_cursor(_STREAM, text or "")
        except InvalidCursorError:
            return None
        if not values or not all(isinstance(v, int) for v in values):
            return None
        last, *gaps = values
        return cls(last, frozenset(sorted(g for g in gaps if g < last)[-MAX_GAPS:]))


@dataclass
class _Polled:
    events: list[EventOut]
    examined_up_to: int
    missing: set[int]
    settled_below: int


def _poll(ctx: AppContext, scope: Scope, cursor: Cursor, limit: int = 500) -> _Polled:
    with ctx.database.session() as session:
        visible = queries.ids_after(session, cursor.last, limit)
        top = visible[-1] if visible else cursor.last
        missing = set(range(cursor.last + 1, top + 1)) - set(visible)
        rows = queries.events_in(session, scope.regions, cursor.last, top, cursor.gaps)
        settled = queries.last_id_before(session, utcnow() - LATE_COMMIT_WINDOW)
        events = [EventOut.model_validate(row) for row in rows]
    return _Polled(events, top, missing, settled)


async def stream(
    request: Request, ctx: AppContext, scope: Scope, cursor: Cursor, limit: int | None
) -> AsyncIterator[dict[str, str]]:
    """Server-sent events in ``scope`` after ``cursor``: polls the table, so any process's
    events arrive. Each event's SSE id is the cursor after it, so a client reconnecting
    with ``Last-Event-ID`` resumes exactly there. Stops after ``limit`` events when given.
    """
    count = 0
    last, gaps = cursor.last, set(cursor.gaps)
    while not await request.is_disconnected():
        polled = await anyio.to_thread.run_sync(_poll, ctx, scope, Cursor(last, frozenset(gaps)))
        # Late arrivals first (they are below ``last``), then the new ones in id order.
        late = [e for e in polled.events if e.id in gaps]
        new = [e for e in polled.events if e.id not in gaps]
        for event in [*late, *new]:
            if event.id in gaps:
                gaps.discard(event.id)
            else:
                gaps |= {g for g in polled.missing if g < event.id}
                last = event.id
            yield {
                "id": Cursor(last, frozenset(sorted(gaps)[-MAX_GAPS:])).encode(),
                "event": event.kind,
                "data": json.dumps(_flat(event)),
            }
            count += 1
            if limit is not None and count >= limit:
                return
        last = max(last, polled.examined_up_to)
        gaps |= polled.missing
        gaps = {g for g in gaps if g > polled.settled_below}
        if not polled.events:
            await anyio.sleep(ctx.settings.event_poll_seconds)


def start_cursor(session: Session, last_event_id: str | None, after_id: int | None) -> Cursor:
    """Where a stream starts: ``Last-Event-ID`` (a reconnect), else ``after_id``, else now.

    "Now" is read in the request's own session: on a SQLite file a session of its own
    would wait for the request's write lock until the busy timeout."""
    resumed = Cursor.parse(last_event_id)
    if resumed is not None:
        return resumed
    return Cursor(after_id if after_id is not None else queries.latest_id(session))
