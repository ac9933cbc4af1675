"""The outbox (messages and their deliveries) and the webhook endpoints agencies register."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base, utcnow


class WebhookEndpoint(Base):
    """Where a CDC office or institution wants results for its scope, and in which format."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(2000))
    format: Mapped[str] = mapped_column(String(16))
    scope_region_code: Mapped[str] = mapped_column(String(32), index=True)
    # Plain ids: the owner is a CDC office or an institution, by ``owner_kind``.
    owner_kind: Mapped[str] = mapped_column(String(16))
    owner_id: Mapped[int]
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Health, updated by the worker after every attempt.
    last_success_at: Mapped[datetime | None]
    last_failure_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    consecutive_failures: Mapped[int] = mapped_column(default=0)


class WebhookSecret(Base):
    """One signing secret of an endpoint (encrypted); a replaced one lives until it expires."""

    __tablename__ = "webhook_secrets"

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id"), index=True)
    secret_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # ``None`` for the current secret; set when a rotation starts the old one's grace period.
    expires_at: Mapped[datetime | None]


class OutboxMessage(Base):
    """One event to tell the world about, written in the transaction that caused it."""

    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The stable id receivers de-duplicate by (webhook-id, MSH-10, Message-ID).
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    # What the message is about (a result's public id): a correction goes to every
    # endpoint that was sent an earlier message about it.
    subject_key: Mapped[str | None] = mapped_column(String(64), index=True)
    # Messages of one aggregate (a patient) reach each subscriber in ``id`` order.
    aggregate_key: Mapped[str] = mapped_column(String(64))
    region_code: Mapped[str] = mapped_column(String(32), index=True)
    # What the live feed may show: no personal data.
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxDelivery(Base):
    """One message to one subscriber: the exact body it gets, and how sending it went."""

    __tablename__ = "outbox_deliveries"
    __table_args__ = (
        # The worker's two questions: what is due, and is an earlier one still open.
        Index("ix_outbox_deliveries_due", "status", "next_attempt_at"),
        Index("ix_outbox_deliveries_order", "subscriber", "aggregate_key", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("outbox_messages.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    # "webhook:<endpoint id>", or the notification channel: the unit of ordering.
    subscriber: Mapped[str] = mapped_column(String(64))
    endpoint_id: Mapped[int | None] = mapped_column(ForeignKey("webhook_endpoints.id"))
    aggregate_key: Mapped[str] = mapped_column(String(64))
    # Webhook: the URL. SMS and e-mail: the patient's address, encrypted.
    destination_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    content_type: Mapped[str] = mapped_column(String(100))
    # Encrypted: a standard message names the patient and carries their ID number.
    body_enc: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A worker's claim: nobody else sends this delivery before then.
    claimed_until: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
