from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from sse_starlette import EventSourceResponse

from api.accounts import service as accounts
from api.deps import CtxDep, EventViewer, ScopeDep, SessionDep, StreamViewer
from api.events import service
from api.events.schemas import EventOut, StreamTokenOut
from api.pagination import Page, PagerDep
from api.scope import scope_for

router = APIRouter(prefix="/events", tags=["events"])


@router.get(
    "",
    response_model=Page[EventOut],
    summary="Events in the caller's region(s), oldest first (polling: keep the last cursor)",
)
def list_events(
    session: SessionDep, _user: EventViewer, scope: ScopeDep, page: PagerDep
) -> Page[EventOut]:
    rows = service.feed(session, scope, page.after_value() or 0, page.limit + 1)
    return page.page(rows, lambda e: (e.id,), feed=True)


@router.get(
    "/stream",
    response_class=EventSourceResponse,
    summary="Real-time feed (server-sent events): tests started, positives reported",
)
def stream_events(
    request: Request,
    session: SessionDep,
    ctx: CtxDep,
    user: StreamViewer,
    after_id: Annotated[
        int | None,
        Query(ge=0, le=0, description="0: from the oldest event kept (else: what is new)"),
    ] = None,
    limit: Annotated[int | None, Query(ge=1, description="close after this many events")] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> EventSourceResponse:
    """Resumes after the ``Last-Event-ID`` header (or ``after_id``); starts with what is new
    when neither is given."""
    cursor = service.start_cursor(session, last_event_id, after_id)
    scope = scope_for(session, ctx, user)
    return EventSourceResponse(
        service.stream(request, ctx, scope, cursor, limit), ping=15, send_timeout=30
    )


@router.post(
    "/stream-token",
    response_model=StreamTokenOut,
    summary="A token for the event stream from a browser's EventSource (valid 60 s to connect)",
)
def stream_token(session: SessionDep, ctx: CtxDep, user: EventViewer) -> StreamTokenOut:
    token, expires = accounts.issue_token(session, ctx, user, service.STREAM_TOKEN_TTL)
    return StreamTokenOut(stream_token=token, expires_at=expires)
