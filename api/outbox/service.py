"""Use cases of the outbox: enqueue in the caller's transaction, manage endpoints, resend.

Nothing here sends anything: :mod:`api.outbox.dispatch` does, after the caller committed.
"""

from __future__ import annotations

import json
import secrets as random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.accounts.schemas import Caller
from api.audit.service import record
from api.context import AppContext
from api.db.base import utcnow
from api.errors import ConflictError, InvalidError, NotFoundError
from api.events.service import POSITIVE_REPORTED, publish
from api.interop.codes import CodeMapping
from api.interop.fhir import bundle_json
from api.interop.hl7 import build_oru_r01
from api.interop.schemas import Receiver, ReleasedResult, Sender
from api.interop.service import stored_mapping
from api.interop.signing import new_secret
from api.organisations.tables import CdcOffice, Institution
from api.outbox import queries
from api.outbox.schemas import (
    CONTENT_TYPES,
    DeliveryOut,
    EndpointCreate,
    EndpointOut,
    EndpointUpdate,
    SecretIssued,
)
from api.outbox.settings import OutboxSettings
from api.outbox.tables import OutboxDelivery, OutboxMessage, WebhookEndpoint, WebhookSecret
from api.pagination import ALL, Window
from api.public_ids import CDC_OFFICE, INSTITUTION, encode
from api.timestamps import rfc3339

WEBHOOK = "webhook"
SECRET_CONTEXT = "webhook_secrets.secret"
BODY_CONTEXT = "outbox_deliveries.body"
DESTINATION_CONTEXT = "outbox_deliveries.destination"
"""The cipher context of stored secrets (a ciphertext opens only for its column)."""

RELEASE_KINDS = {
    "final": "result.released",
    "corrected": "result.corrected",
    "entered-in-error": "result.withdrawn",
}


def new_message_id() -> str:
    """A fresh stable message id: 16 URL-safe characters, fitting MSH-10 and webhook-id."""
    return random.token_urlsafe(12)


@dataclass(frozen=True)
class NewDelivery:
    """One subscriber's copy of a message, as :func:`enqueue` stores it."""

    channel: str
    subscriber: str
    content_type: str
    body: str
    endpoint_id: int | None = None
    destination_enc: bytes | None = None


def enqueue(
    session: Session,
    ctx: AppContext,
    *,
    kind: str,
    aggregate_key: str,
    region_code: str,
    summary: dict[str, Any],
    deliveries: Sequence[NewDelivery],
    message_id: str | None = None,
    subject_key: str | None = None,
) -> OutboxMessage:
    """Add a message and its deliveries to the caller's transaction; the caller commits.

    Nothing is sent before that commit: the worker only sees committed rows, and a
    rolled-back transaction takes its messages with it.
    """
    message = OutboxMessage(
        message_id=message_id or new_message_id(),
        kind=kind,
        subject_key=subject_key,
        aggregate_key=aggregate_key,
        region_code=region_code,
        summary=summary,
    )
    session.add(message)
    session.flush()  # the deliveries need the message's row id
    now = utcnow()
    for new in deliveries:
        session.add(
            OutboxDelivery(
                message_id=message.id,
                channel=new.channel,
                subscriber=new.subscriber,
                endpoint_id=new.endpoint_id,
                aggregate_key=aggregate_key,
                destination_enc=new.destination_enc,
                content_type=new.content_type,
                body_enc=ctx.cipher.encrypt(new.body, BODY_CONTEXT),
                status="pending",
                next_attempt_at=now,
                created_at=now,
            )
        )
    return message


def sender(ctx: AppContext, config: OutboxSettings) -> Sender:
    """This installation as the sender of standard messages."""
    return Sender(
        application=config.sender_application,
        facility=config.sender_facility,
        facility_oid=config.sender_facility_oid,
        base_url=ctx.settings.public_base_url,  # validated by Sender
    )


def render(
    released: ReleasedResult,
    kind: str,
    endpoint: WebhookEndpoint,
    source: Sender,
    mapping: CodeMapping | None = None,
) -> str:
    """The body ``endpoint`` gets for ``released``, in its format."""
    receiver = Receiver(application=endpoint.name, facility=endpoint.name, endpoint=endpoint.url)
    if endpoint.format == "fhir":
        return bundle_json(released, source, receiver, mapping)
    if endpoint.format == "hl7":
        return build_oru_r01(released, source, receiver, mapping)
    return json.dumps(
        {"type": kind, "id": released.message_id, "data": released.model_dump(mode="json")},
        ensure_ascii=False,
        separators=(",", ":"),
    )


def release_summary(released: ReleasedResult) -> dict[str, Any]:
    """What the live feed may show of a release: no name, no ID, no contact."""
    return {
        "message_id": released.message_id,
        "result_id": released.result_id,
        "report_status": released.report_status,
        "result": released.result,
        "product_code": released.product.product_code,
        "lot_number": released.lot_number,
        "institution_id": released.institution.id,
        "released_at": rfc3339(released.released_at),
        "issued_at": rfc3339(released.issued_at),
    }


# The live feed's name for each kind of outbox message: a first positive keeps the name
# the feed always had for it (the CDC page listens for it).
FEED_KINDS = {
    "result.released": POSITIVE_REPORTED,
    "result.corrected": "result.corrected",
    "result.withdrawn": "result.withdrawn",
}


def goes_to_agencies(released: ReleasedResult) -> bool:
    """Agencies get every confirmed positive and every later version of any result."""
    return released.result == "positive" or released.report_status != "final"


def enqueue_release(
    session: Session,
    ctx: AppContext,
    released: ReleasedResult,
    region_code: str,
    *,
    config: OutboxSettings | None = None,
    mapping: CodeMapping | None = None,
    test_id: int | None = None,
) -> OutboxMessage | None:
    """Write one version of a released result to the outbox, and to the live event feed,
    in the caller's transaction.

    Every endpoint whose scope is ``region_code`` or one of its ancestors gets it, in its
    own format; a correction or withdrawal also goes to every endpoint that was sent an
    earlier version of the same result, even if its scope changed since. Returns ``None``
    (and writes nothing) for a first release that is not positive.

    Parameters
    ----------
    region_code
        The region the test was taken in (``SelfTest.region_code``).
    mapping
        The code mapping; the one operators maintain (stored) when ``None``.
    test_id
        The test's record id, for the feed's link to the case.
    """
    if not goes_to_agencies(released):
        return None
    mapping = stored_mapping(session) if mapping is None else mapping
    config = config or OutboxSettings()
    kind = RELEASE_KINDS[released.report_status]
    endpoints = {
        e.id: e for e in queries.endpoints_covering(session, ctx.regions.lineage(region_code))
    }
    if released.report_status != "final":
        endpoints.update(
            {e.id: e for e in queries.endpoints_sent_about(session, released.result_id)}
        )
    source = sender(ctx, config)
    deliveries = [
        NewDelivery(
            channel=WEBHOOK,
            subscriber=f"{WEBHOOK}:{endpoint.id}",
            endpoint_id=endpoint.id,
            content_type=CONTENT_TYPES[endpoint.format],
            body=render(released, kind, endpoint, source, mapping),
        )
        for endpoint in sorted(endpoints.values(), key=lambda e: e.id)
    ]
    message = enqueue(
        session,
        ctx,
        kind=kind,
        aggregate_key=released.patient.id,
        region_code=region_code,
        summary=release_summary(released),
        deliveries=deliveries,
        message_id=released.message_id,
        subject_key=released.result_id,
    )
    # The live feed gets this very message (its summary, its id), written with it: the
    # stream and the webhooks carry the same events, or (rolled back) neither does.
    feed = {**message.summary, "region_code": region_code}
    if test_id is not None:
        feed["test_id"] = test_id
    publish(session, FEED_KINDS[kind], region_code, feed)
    return message


def webhook_backlog(ctx: AppContext) -> Callable[[], float]:
    """The webhook backlog, read in its own short transaction (a metrics source)."""

    def backlog() -> float:
        with ctx.database.session() as session:
            return float(queries.pending_webhooks(session))

    return backlog


# Endpoints -----------------------------------------------------------------


def _endpoint(session: Session, public_id: str) -> WebhookEndpoint:
    endpoint = session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.public_id == public_id)
    ).first()
    if endpoint is None:
        raise NotFoundError(f"no webhook endpoint '{public_id}'")
    return endpoint


def _endpoint_out(endpoint: WebhookEndpoint, counts: dict[str, int]) -> EndpointOut:
    return EndpointOut(
        id=endpoint.public_id,
        name=endpoint.name,
        url=endpoint.url,
        format=endpoint.format,
        scope_region_code=endpoint.scope_region_code,
        owner_kind=endpoint.owner_kind,
        owner_id=encode(
            CDC_OFFICE if endpoint.owner_kind == "cdc_office" else INSTITUTION, endpoint.owner_id
        ),
        enabled=endpoint.enabled,
        created_at=endpoint.created_at,
        last_success_at=endpoint.last_success_at,
        last_failure_at=endpoint.last_failure_at,
        last_error=endpoint.last_error,
        consecutive_failures=endpoint.consecutive_failures,
        backlog=counts["pending"],
        dead_letters=counts["dead"],
    )


def endpoint_health(session: Session, endpoints: Sequence[WebhookEndpoint]) -> list[EndpointOut]:
    counts = queries.endpoint_counts(session, [e.id for e in endpoints])
    return [_endpoint_out(e, counts[e.id]) for e in endpoints]


def list_endpoints(session: Session, window: Window = ALL) -> list[EndpointOut]:
    """Endpoints with their health: last success and failure, failures in a row, backlog."""
    query = window.apply(select(WebhookEndpoint), WebhookEndpoint.public_id)
    endpoints = session.scalars(query).all()
    return endpoint_health(session, endpoints)


def get_endpoint(session: Session, public_id: str) -> EndpointOut:
    return endpoint_health(session, [_endpoint(session, public_id)])[0]


def _owner(session: Session, data: EndpointCreate) -> tuple[str, int, str]:
    if data.cdc_office_id is not None:
        office = session.get(CdcOffice, data.cdc_office_id)
        if office is None:
            raise InvalidError(f"cdc_office_id: no CDC office {data.cdc_office_id}")
        return "cdc_office", office.id, office.region_code
    assert data.institution_id is not None
    institution = session.get(Institution, data.institution_id)
    if institution is None:
        raise InvalidError(f"institution_id: no institution {data.institution_id}")
    return "institution", institution.id, institution.region_code


def _add_secret(session: Session, ctx: AppContext, endpoint: WebhookEndpoint) -> str:
    secret = new_secret()
    session.add(
        WebhookSecret(
            endpoint_id=endpoint.id,
            secret_enc=ctx.cipher.encrypt(secret, SECRET_CONTEXT),
            created_at=utcnow(),
        )
    )
    return secret


def create_endpoint(
    session: Session, ctx: AppContext, actor: Caller, data: EndpointCreate
) -> SecretIssued:
    """Register an endpoint; its signing secret is returned here and never again."""
    owner_kind, owner_id, owner_region = _owner(session, data)
    scope = data.scope_region_code or owner_region
    if not ctx.regions.has(scope):
        raise InvalidError(f"scope_region_code: unknown region code '{scope}'")
    if not ctx.regions.is_within(scope, owner_region):
        raise InvalidError(
            f"scope_region_code: '{scope}' is outside the owner's region '{owner_region}'"
        )
    endpoint = WebhookEndpoint(
        public_id="whe_" + random.token_urlsafe(12),
        name=data.name,
        url=str(data.url),
        format=data.format,
        scope_region_code=scope,
        owner_kind=owner_kind,
        owner_id=owner_id,
        enabled=True,
        consecutive_failures=0,
        created_at=utcnow(),
    )
    session.add(endpoint)
    session.flush()
    secret = _add_secret(session, ctx, endpoint)
    record(
        session, actor, "webhook.create", "webhook_endpoint", endpoint.public_id, url=endpoint.url
    )
    session.flush()
    return SecretIssued(
        endpoint=get_endpoint(session, endpoint.public_id), secret=secret, previous_expires_at=None
    )


def rotate_secret(
    session: Session,
    ctx: AppContext,
    actor: Caller,
    public_id: str,
    *,
    grace: timedelta | None = None,
    now: datetime | None = None,
) -> SecretIssued:
    """A new secret for the endpoint; the older ones keep signing for ``grace`` at most.

    Deliveries carry a signature by every unexpired secret, so a receiver that has not
    switched yet still verifies them. The default grace is ``OUTBOX_SECRET_GRACE_SECONDS``.
    """
    endpoint = _endpoint(session, public_id)
    now = now or utcnow()
    if grace is None:
        grace = timedelta(seconds=OutboxSettings().secret_grace_seconds)
    # Every older secret stops signing when the grace ends (or earlier, as it already would).
    expires = now + grace
    for older in queries.live_secrets(session, endpoint.id, now):
        if older.expires_at is None or older.expires_at > expires:
            older.expires_at = expires
    secret = _add_secret(session, ctx, endpoint)
    record(
        session,
        actor,
        "webhook.rotate_secret",
        "webhook_endpoint",
        public_id,
        previous_expires_at=expires.isoformat(),
    )
    session.flush()
    return SecretIssued(
        endpoint=get_endpoint(session, public_id), secret=secret, previous_expires_at=expires
    )


def update_endpoint(
    session: Session, actor: Caller, public_id: str, data: EndpointUpdate
) -> EndpointOut:
    """Pause (``enabled: false``) or resume an endpoint; paused, its deliveries wait."""
    endpoint = _endpoint(session, public_id)
    endpoint.enabled = data.enabled
    record(session, actor, "webhook.update", "webhook_endpoint", public_id, enabled=data.enabled)
    session.flush()
    return get_endpoint(session, public_id)


# Failures and resending --------------------------------------------------------


def _delivery_out(
    delivery: OutboxDelivery, message: OutboxMessage, endpoint: WebhookEndpoint | None
) -> DeliveryOut:
    return DeliveryOut(
        id=delivery.id,
        message_id=message.message_id,
        kind=message.kind,
        channel=delivery.channel,
        endpoint_id=endpoint.public_id if endpoint is not None else None,
        status=delivery.status,
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at,
        last_attempt_at=delivery.last_attempt_at,
        last_error=delivery.last_error,
        delivered_at=delivery.delivered_at,
        created_at=delivery.created_at,
    )


def failures(
    session: Session,
    *,
    channels: Sequence[str] | None = None,
    dead_only: bool = False,
    after_id: int = 0,
    limit: int = 100,
    endpoint_id: str | None = None,
) -> list[DeliveryOut]:
    """Dead-lettered deliveries, and (unless ``dead_only``) those still retrying after errors;
    with ``endpoint_id``, only that webhook endpoint's (the operator's page of one endpoint)."""
    rows = queries.troubled_deliveries(
        session,
        channels=channels,
        dead_only=dead_only,
        after_id=after_id,
        limit=limit,
        endpoint_id=endpoint_id,
    )
    return [_delivery_out(d, m, e) for d, m, e in rows]


def resend(
    session: Session, actor: Caller, delivery_id: int, *, now: datetime | None = None
) -> DeliveryOut:
    """Give a dead-lettered delivery a fresh set of attempts, starting now.

    The body and message id stay the same, so a receiver that did get it after all
    recognises the duplicate. It may now arrive after a later message about the same
    patient that was delivered meanwhile; the report's issued time orders them.
    """
    delivery = session.get(OutboxDelivery, delivery_id)
    if delivery is None:
        raise NotFoundError(f"no delivery {delivery_id}")
    if delivery.status != "dead":
        raise ConflictError(
            f"delivery {delivery_id} is {delivery.status}; only dead ones are resent"
        )
    delivery.status = "pending"
    delivery.attempts = 0
    delivery.next_attempt_at = now or utcnow()
    delivery.claimed_until = None
    record(session, actor, "outbox.resend", "outbox_delivery", delivery_id)
    session.flush()
    message = session.get(OutboxMessage, delivery.message_id)
    assert message is not None
    endpoint = session.get(WebhookEndpoint, delivery.endpoint_id) if delivery.endpoint_id else None
    return _delivery_out(delivery, message, endpoint)
