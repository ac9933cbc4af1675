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

from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from api.context import AppContext
from api.db.base import utcnow
from api.outbox import queries
from api.outbox.service import SECRET_CONTEXT, WEBHOOK
from api.outbox.settings import OutboxSettings
from api.outbox.tables import OutboxDelivery, OutboxMessage, WebhookEndpoint

DESTINATION_CONTEXT = "outbox_deliveries.destination"
"""The cipher context of a notification's address."""


@dataclass(frozen=True)
class Outgoing:
    """Everything a transport needs to send one delivery once."""

    delivery_id: int
    message_id: str
    kind: str
    channel: str
    destination: str
    content_type: str
    body: str
    attempt: int
    secrets: tuple[str, ...] = ()


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


def _claim(session: Session, delivery_id: int, now: datetime, lease: timedelta) -> bool:
    # A conditional update: of two workers claiming the same row, one changes it.
    result = session.execute(
        update(OutboxDelivery)
        .where(
            OutboxDelivery.id == delivery_id,
            OutboxDelivery.status == "pending",
            or_(OutboxDelivery.claimed_until.is_(None), OutboxDelivery.claimed_until < now),
        )
        .values(
            claimed_until=now + lease,
            attempts=OutboxDelivery.attempts + 1,
            last_attempt_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def _outgoing(session: Session, ctx: AppContext, delivery_id: int, now: datetime) -> Outgoing:
    delivery = session.get(OutboxDelivery, delivery_id, populate_existing=True)
    assert delivery is not None
    message = session.get(OutboxMessage, delivery.message_id)
    assert message is not None
    secrets: tuple[str, ...] = ()
    if delivery.channel == WEBHOOK:
        endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
        assert endpoint is not None
        destination = endpoint.url
        secrets = tuple(
            ctx.cipher.decrypt(blob, SECRET_CONTEXT)
            for blob in queries.signing_secrets(session, endpoint.id, now)
        )
    else:
        assert delivery.destination_enc is not None
        destination = ctx.cipher.decrypt(delivery.destination_enc, DESTINATION_CONTEXT)
    return Outgoing(
        delivery_id=delivery.id,
        message_id=message.message_id,
        kind=message.kind,
        channel=delivery.channel,
        destination=destination,
        content_type=delivery.content_type,
        body=delivery.body,
        attempt=delivery.attempts,
        secrets=secrets,
    )


def _record(
    ctx: AppContext,
    config: OutboxSettings,
    outgoing: Outgoing,
    failure: DeliveryError | None,
    rng: random.Random,
) -> str:
    now = utcnow()
    with ctx.database.transaction() as session:
        delivery = session.get(OutboxDelivery, outgoing.delivery_id, populate_existing=True)
        assert delivery is not None
        endpoint = (
            session.get(WebhookEndpoint, delivery.endpoint_id, populate_existing=True)
            if delivery.endpoint_id is not None
            else None
        )
        delivery.claimed_until = None
        if failure is None:
            delivery.status = "delivered"
            delivery.delivered_at = now
            delivery.last_error = None
            if endpoint is not None:
                endpoint.last_success_at = now
                endpoint.consecutive_failures = 0
            return "delivered"
        delivery.last_error = failure.reason
        if endpoint is not None:
            endpoint.last_failure_at = now
            endpoint.last_error = failure.reason
            endpoint.consecutive_failures += 1
        if not failure.retryable or delivery.attempts >= config.max_attempts:
            delivery.status = "dead"
            return "dead"
        delivery.next_attempt_at = now + backoff_delay(delivery.attempts, config, rng)
        return "retrying"


def deliver_due(
    ctx: AppContext,
    transports: Mapping[str, Transport],
    config: OutboxSettings | None = None,
    *,
    rng: random.Random | None = None,
) -> RunReport:
    """One pass: claim up to ``batch_size`` due deliveries on ``transports``' channels and
    send them one after the other, recording each outcome in its own transaction."""
    config = config or OutboxSettings()
    rng = rng or random.Random()
    report = RunReport()
    now = utcnow()
    lease = timedelta(seconds=config.lease_seconds)
    with ctx.database.transaction() as session:
        candidates: Sequence[int] = queries.due_deliveries(
            session, transports.keys(), now, config.batch_size
        )
        claimed = [i for i in candidates if _claim(session, i, now, lease)]
        outgoing = [_outgoing(session, ctx, i, now) for i in claimed]
    report.claimed = claimed
    for item in outgoing:
        failure: DeliveryError | None = None
        try:
            transports[item.channel].send(item)
        except DeliveryError as error:
            failure = error
        outcome = _record(ctx, config, item, failure, rng)
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
