"""SQL for the outbox: what is due, what is stuck, how each endpoint is doing."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from api.outbox.tables import OutboxDelivery, OutboxMessage, WebhookEndpoint, WebhookSecret


def due_deliveries(
    session: Session, channels: Iterable[str], now: datetime, limit: int
) -> Sequence[int]:
    """Ids of deliveries to send now, oldest first.

    A delivery waits while an earlier one of the same aggregate to the same subscriber is
    still pending (in flight or backing off): per patient, message n+1 never overtakes n.
    Deliveries to a disabled endpoint wait too.
    """
    earlier = aliased(OutboxDelivery)
    blocked = exists().where(
        earlier.subscriber == OutboxDelivery.subscriber,
        earlier.aggregate_key == OutboxDelivery.aggregate_key,
        earlier.status == "pending",
        earlier.id < OutboxDelivery.id,
    )
    query = (
        select(OutboxDelivery.id)
        .outerjoin(WebhookEndpoint, WebhookEndpoint.id == OutboxDelivery.endpoint_id)
        .where(
            OutboxDelivery.status == "pending",
            OutboxDelivery.next_attempt_at <= now,
            OutboxDelivery.channel.in_(list(channels)),
            or_(OutboxDelivery.claimed_until.is_(None), OutboxDelivery.claimed_until < now),
            or_(OutboxDelivery.endpoint_id.is_(None), WebhookEndpoint.enabled.is_(True)),
            ~blocked,
        )
        .order_by(OutboxDelivery.id)
        .limit(limit)
    )
    return session.scalars(query).all()


def endpoints_covering(session: Session, region_codes: Iterable[str]) -> Sequence[WebhookEndpoint]:
    """Endpoints whose scope is one of ``region_codes`` (a region and its ancestors)."""
    query = (
        select(WebhookEndpoint)
        .where(WebhookEndpoint.scope_region_code.in_(list(region_codes)))
        .order_by(WebhookEndpoint.id)
    )
    return session.scalars(query).all()


def endpoints_sent_about(session: Session, subject_key: str) -> Sequence[WebhookEndpoint]:
    """Endpoints that were given an earlier message about ``subject_key``."""
    query = (
        select(WebhookEndpoint)
        .where(
            WebhookEndpoint.id.in_(
                select(OutboxDelivery.endpoint_id)
                .join(OutboxMessage, OutboxMessage.id == OutboxDelivery.message_id)
                .where(OutboxMessage.subject_key == subject_key)
            )
        )
        .order_by(WebhookEndpoint.id)
    )
    return session.scalars(query).all()


def signing_secrets(session: Session, endpoint_id: int, now: datetime) -> Sequence[bytes]:
    """An endpoint's encrypted secrets still valid at ``now``, newest first."""
    query = (
        select(WebhookSecret.secret_enc)
        .where(
            WebhookSecret.endpoint_id == endpoint_id,
            or_(WebhookSecret.expires_at.is_(None), WebhookSecret.expires_at > now),
        )
        .order_by(WebhookSecret.id.desc())
    )
    return session.scalars(query).all()


def live_secrets(session: Session, endpoint_id: int, now: datetime) -> Sequence[WebhookSecret]:
    query = select(WebhookSecret).where(
        WebhookSecret.endpoint_id == endpoint_id,
        or_(WebhookSecret.expires_at.is_(None), WebhookSecret.expires_at > now),
    )
    return session.scalars(query).all()


def endpoint_counts(session: Session, endpoint_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Per endpoint: how many deliveries are pending and how many are dead, counted by SQL."""
    query = (
        select(OutboxDelivery.endpoint_id, OutboxDelivery.status, func.count())
        .where(
            OutboxDelivery.endpoint_id.in_(list(endpoint_ids)),
            OutboxDelivery.status.in_(["pending", "dead"]),
        )
        .group_by(OutboxDelivery.endpoint_id, OutboxDelivery.status)
    )
    counts: dict[int, dict[str, int]] = {i: {"pending": 0, "dead": 0} for i in endpoint_ids}
    for endpoint_id, status, count in session.execute(query):
        if endpoint_id is not None:
            counts[endpoint_id][status] = count
    return counts


def troubled_deliveries(
    session: Session,
    *,
    channels: Iterable[str] | None,
    dead_only: bool,
    after_id: int,
    limit: int,
    endpoint_id: str | None = None,
) -> Sequence[tuple[OutboxDelivery, OutboxMessage, WebhookEndpoint | None]]:
    """Dead deliveries, and (unless ``dead_only``) pending ones that have failed at least once;
    with ``endpoint_id`` (a public id), only that webhook endpoint's."""
    trouble = (
        OutboxDelivery.status == "dead"
        if dead_only
        else or_(
            OutboxDelivery.status == "dead",
            and_(OutboxDelivery.status == "pending", OutboxDelivery.last_error.is_not(None)),
        )
    )
    query = (
        select(OutboxDelivery, OutboxMessage, WebhookEndpoint)
        .join(OutboxMessage, OutboxMessage.id == OutboxDelivery.message_id)
        .outerjoin(WebhookEndpoint, WebhookEndpoint.id == OutboxDelivery.endpoint_id)
        .where(trouble, OutboxDelivery.id > after_id)
        .order_by(OutboxDelivery.id)
        .limit(limit)
    )
    if channels is not None:
        query = query.where(OutboxDelivery.channel.in_(list(channels)))
    if endpoint_id is not None:
        query = query.where(WebhookEndpoint.public_id == endpoint_id)
    return [(d, m, e) for d, m, e in session.execute(query)]


def pending_webhooks(session: Session) -> int:
    """Webhook deliveries not yet delivered nor dead-lettered (the backlog)."""
    query = select(func.count(OutboxDelivery.id)).where(
        OutboxDelivery.status == "pending", OutboxDelivery.endpoint_id.is_not(None)
    )
    return int(session.scalar(query) or 0)
