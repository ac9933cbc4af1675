"""SQL for the event feed."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.events.tables import Event


def events_after(
    session: Session, regions: Iterable[str] | None, after_id: int, limit: int = 100
) -> Sequence[Event]:
    query = select(Event).where(Event.id > after_id).order_by(Event.id).limit(limit)
    if regions is not None:
        query = query.where(Event.region_code.in_(list(regions)))
    return session.scalars(query).all()


def latest_id(session: Session) -> int:
    return int(session.scalar(select(func.max(Event.id))) or 0)


def events_since(
    session: Session, regions: Iterable[str] | None, created_after: datetime, limit: int = 100
) -> Sequence[Event]:
    query = select(Event).where(Event.created_at >= created_after).order_by(Event.id).limit(limit)
    if regions is not None:
        query = query.where(Event.region_code.in_(list(regions)))
    return session.scalars(query).all()


def latest_events(
    session: Session,
    regions: Iterable[str] | None,
    limit: int,
    kinds: Iterable[str] | None = None,
) -> Sequence[Event]:
    """The newest ``limit`` events in ``regions`` (all when ``None``), newest first."""
    query = select(Event).order_by(Event.id.desc()).limit(limit)
    if regions is not None:
        query = query.where(Event.region_code.in_(list(regions)))
    if kinds is not None:
        query = query.where(Event.kind.in_(list(kinds)))
    return session.scalars(query).all()
