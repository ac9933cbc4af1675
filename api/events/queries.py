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


def ids_after(session: Session, after_id: int, limit: int) -> list[int]:
    """The ids now visible after ``after_id``, in every region (to find ids not committed yet)."""
    query = select(Event.id).where(Event.id > after_id).order_by(Event.id).limit(limit)
    return list(session.scalars(query))


def events_in(
    session: Session, regions: Iterable[str] | None, low: int, high: int, extra: Iterable[int]
) -> Sequence[Event]:
    """Events in ``regions`` with ``low < id <= high`` or an id in ``extra``, by id."""
    wanted = Event.id.in_(list(extra)) | ((Event.id > low) & (Event.id <= high))
    query = select(Event).where(wanted).order_by(Event.id)
    if regions is not None:
        query = query.where(Event.region_code.in_(list(regions)))
    return session.scalars(query).all()


def last_id_before(session: Session, created_before: datetime) -> int:
    """The highest id of an event written before ``created_before`` (0 when none)."""
    query = select(func.max(Event.id)).where(Event.created_at < created_before)
    return int(session.scalar(query) or 0)
