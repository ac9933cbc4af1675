"""Sending what the outbox holds: claim due deliveries, send each, record how it went.

At least once: a delivery is claimed (leased) before it is sent and marked delivered
after, so a worker that dies in between leaves it to be sent again once the lease ends;
receivers de-duplicate by the message id. Per aggregate and subscriber, a delivery is
due only when every earlier one is delivered or dead (:func:`queries.due_deliveries`).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from api.context import AppContext
from api.db.base import utcnow
from api.outbox import queries
from api.outbox.service import BODY_CONTEXT, DESTINATION_CONTEXT, SECRET_CONTEXT, WEBHOOK
from api.outbox.settings import OutboxSettings
from api.outbox.tables import OutboxDelivery, OutboxMessage, WebhookEndpoint


@dataclass(frozen=True)
class Outgoing:
    """Everything a transport needs to send one delivery once."""

    delivery_id: int
    message_id: str
    channel: str
    destination: str
    content_type: str
    body: str
    secrets: tuple[str, ...] = ()
    subject: str | None = None
    """An e-mail's subject line (``None``: the result message's)."""


class DeliveryError(Exception):
    """A send did not go through. ``retryable=False`` dead-letters it at once."""

    def __init__(self, reason: str, *, retryable: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason[:500]
        self.retryable = retryable


class Transport(Protocol):
    """Sends one delivery, or raises :class:`DeliveryError`."""

    def send(self, outgoing: Outgoing) -> None: ...


def backoff_delay(attempt: int, config: OutboxSettings, rng: random.Random) -> timedelta:
    """The wait after failed attempt number ``attempt`` (1-based): exponential, full jitter.

    Examples
    --------
    >>> config = OutboxSettings(backoff_base_seconds=1, backoff_cap_seconds=10)
    >>> all(backoff_delay(n, config, random.Random(n)) <= timedelta(seconds=min(10, 2 ** (n - 1)))
    ...     for n in range(1, 12))
    True
    """
    ceiling = min(config.backoff_cap_seconds, config.backoff_base_seconds * 2 ** (attempt - 1))
    return timedelta(seconds=rng.uniform(0, ceiling))


@dataclass
class RunReport:
    """What one pass of the worker did."""

    delivered: int = 0
    retrying: int = 0
    dead: int = 0
    claimed: list[int] = field(default_factory=list)

    @property
    def attempted(self) -> int:
        return self.delivered + self.retrying + self.dead


def _claim(session: Session, ids: Sequence[int], now: datetime, lease: timedelta) -> list[int]:
    """Of ``ids``, those this worker now holds. A conditional update: of two workers
    claiming the same row, only one changes it."""
    if not ids:
        return []
    claimed = session.scalars(
        update(OutboxDelivery)
        .where(
            OutboxDelivery.id.in_(list(ids)),
            OutboxDelivery.status == "pending",
            or_(OutboxDelivery.claimed_until.is_(None), OutboxDelivery.claimed_until < now),
        )
        .values(
            claimed_until=now + lease,
            attempts=OutboxDelivery.attempts + 1,
            last_attempt_at=now,
        )
        .returning(OutboxDelivery.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(claimed)


def _outgoing(
    session: Session, ctx: AppContext, ids: Sequence[int], now: datetime
) -> list[Outgoing]:
    rows = session.execute(
        select(OutboxDelivery, OutboxMessage)
        .join(OutboxMessage, OutboxMessage.id == OutboxDelivery.message_id)
        .where(OutboxDelivery.id.in_(list(ids)))
        .order_by(OutboxDelivery.id)
        .execution_options(populate_existing=True)
    ).all()
    endpoints: dict[int, tuple[str, tuple[str, ...]]] = {}
    outgoing = []
    for delivery, message in rows:
        secrets: tuple[str, ...] = ()
        if delivery.channel == WEBHOOK:
            assert delivery.endpoint_id is not None
            if delivery.endpoint_id not in endpoints:
                endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
                assert endpoint is not None
                endpoints[endpoint.id] = (
                    endpoint.url,
                    tuple(
                        ctx.cipher.decrypt(blob, SECRET_CONTEXT)
                        for blob in queries.signing_secrets(session, endpoint.id, now)
                    ),
                )
            destination, secrets = endpoints[delivery.endpoint_id]
        else:
            assert delivery.destination_enc is not None
            destination = ctx.cipher.decrypt(delivery.destination_enc, DESTINATION_CONTEXT)
        outgoing.append(
            Outgoing(
                delivery_id=delivery.id,
                message_id=message.message_id,
                channel=delivery.channel,
                destination=destination,
                content_type=delivery.content_type,
                body=ctx.cipher.decrypt(delivery.body_enc, BODY_CONTEXT),
                secrets=secrets,
            )
        )
    return outgoing


def _record(
    ctx: AppContext,
    config: OutboxSettings,
    outcomes: Sequence[tuple[Outgoing, DeliveryError | None]],
    rng: random.Random,
) -> list[str]:
    """Write how each send went, and each endpoint's health, in one transaction."""
    now = utcnow()
    results = []
    with ctx.database.transaction() as session:
        ids = [item.delivery_id for item, _ in outcomes]
        deliveries = {
            d.id: d
            for d in session.scalars(
                select(OutboxDelivery)
                .where(OutboxDelivery.id.in_(ids))
                .execution_options(populate_existing=True)
            )
        }
        endpoint_ids = {d.endpoint_id for d in deliveries.values() if d.endpoint_id is not None}
        endpoints = {
            e.id: e
            for e in session.scalars(
                select(WebhookEndpoint)
                .where(WebhookEndpoint.id.in_(endpoint_ids))
                .execution_options(populate_existing=True)
            )
        }
        for item, failure in outcomes:
            delivery = deliveries[item.delivery_id]
            endpoint = endpoints.get(delivery.endpoint_id) if delivery.endpoint_id else None
            delivery.claimed_until = None
            if failure is None:
                delivery.status = "delivered"
                delivery.delivered_at = now
                delivery.last_error = None
                if endpoint is not None:
                    endpoint.last_success_at = now
                    endpoint.consecutive_failures = 0
                results.append("delivered")
                continue
            delivery.last_error = failure.reason
            if endpoint is not None:
                endpoint.last_failure_at = now
                endpoint.last_error = failure.reason
                endpoint.consecutive_failures += 1
            if not failure.retryable or delivery.attempts >= config.max_attempts:
                delivery.status = "dead"
                results.append("dead")
            else:
                delivery.next_attempt_at = now + backoff_delay(delivery.attempts, config, rng)
                results.append("retrying")
    return results


def deliver_due(
    ctx: AppContext,
    transports: Mapping[str, Transport],
    config: OutboxSettings | None = None,
    *,
    rng: random.Random | None = None,
) -> RunReport:
    """One pass: claim up to ``batch_size`` due deliveries on ``transports``' channels, send
    them one after the other, then record every outcome in one transaction.

    A worker that dies mid-pass leaves its claims to expire; what it had sent is sent
    again then, and receivers drop the copy by its message id.
    """
    config = config or OutboxSettings()
    rng = rng or random.Random()
    report = RunReport()
    now = utcnow()
    lease = timedelta(seconds=config.lease_seconds)
    with ctx.database.transaction() as session:
        candidates = queries.due_deliveries(session, transports.keys(), now, config.batch_size)
        report.claimed = _claim(session, candidates, now, lease)
        outgoing = _outgoing(session, ctx, report.claimed, now)
    outcomes: list[tuple[Outgoing, DeliveryError | None]] = []
    for item in outgoing:
        try:
            transports[item.channel].send(item)
        except DeliveryError as error:
            outcomes.append((item, error))
        else:
            outcomes.append((item, None))
    if outcomes:
        for outcome in _record(ctx, config, outcomes, rng):
            setattr(report, outcome, getattr(report, outcome) + 1)
    return report


def drain(
    ctx: AppContext,
    transports: Mapping[str, Transport],
    config: OutboxSettings | None = None,
    *,
    max_passes: int = 1000,
) -> RunReport:
    """Passes of :func:`deliver_due` until one finds nothing due (or ``max_passes``)."""
    total = RunReport()
    for _ in range(max_passes):
        report = deliver_due(ctx, transports, config)
        if not report.claimed:
            break
        total.delivered += report.delivered
        total.retrying += report.retrying
        total.dead += report.dead
        total.claimed += report.claimed
    return total
