from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from sse_starlette import EventSourceResponse

from api.deps import CtxDep, EventViewer, ScopeDep
from api.events import service
from api.events.schemas import EventOut

router = APIRouter(prefix="/events", tags=["events"])


@router.get(
    "",
    response_model=list[EventOut],
    summary="Events in the caller's region(s) after an id (polling)",
)
def list_events(
    ctx: CtxDep,
    _user: EventViewer,
    scope: ScopeDep,
    after_id: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[EventOut]:
    return service.feed(ctx, scope, after_id, limit)


@router.get(
    "/stream",
    response_class=EventSourceResponse,
    summary="Real-time feed (server-sent events): tests started, positives reported",
)
def stream_events(
    request: Request,
    ctx: CtxDep,
    _user: EventViewer,
    scope: ScopeDep,
    after_id: Annotated[int | None, Query(ge=0)] = None,
    limit: Annotated[int | None, Query(ge=1, description="close after this many events")] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> EventSourceResponse:
    """Resumes after the ``Last-Event-ID`` header (or ``after_id``); starts with what is new
    when neither is given."""
    start = after_id
    if start is None and last_event_id and last_event_id.isdigit():
        start = int(last_event_id)
    if start is None:
        start = service.latest_id(ctx)
    return EventSourceResponse(
        service.stream(request, ctx, scope, start, limit), ping=15, send_timeout=30
    )
