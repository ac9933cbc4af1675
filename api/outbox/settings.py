"""How the delivery worker behaves, from ``OUTBOX_*`` environment variables."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class OutboxSettings(BaseSettings):
    """Retry policy, timeouts, the SMS gateway and SMTP server, the sender's name.

    Each field reads ``OUTBOX_<NAME>`` (e.g. ``OUTBOX_MAX_ATTEMPTS``). A channel whose
    settings are missing is not sent on: its messages wait in the outbox.
    """

    model_config = SettingsConfigDict(env_prefix="OUTBOX_", extra="ignore")

    max_attempts: int = Field(10, ge=1, le=100)
    # Full jitter: attempt n waits a uniform random time in [0, min(cap, base * 2**(n-1))].
    backoff_base_seconds: float = Field(5.0, gt=0)
    backoff_cap_seconds: float = Field(6 * 3600.0, gt=0)
    timeout_seconds: float = Field(10.0, gt=0)
    # A worker sends its claimed batch one after the other; a claim nobody finished
    # (the worker died) is taken again after this.
    lease_seconds: float = Field(300.0, gt=0)
    batch_size: int = Field(20, ge=1, le=1000)
    # How often the embedded loop looks for due deliveries.
    poll_seconds: float = Field(1.0, gt=0)
    # How long a replaced webhook secret keeps signing after a rotation.
    secret_grace_seconds: float = Field(24 * 3600.0, ge=0)
    # SMS: one generic JSON-over-HTTP gateway (see HttpSmsGateway for the request).
    sms_gateway_url: str | None = None
    sms_gateway_token: str | None = None
    # E-mail over SMTP.
    smtp_host: str | None = None
    smtp_port: int = Field(25, gt=0, lt=65536)
    smtp_from: str = "Vigil <no-reply@vigil.invalid>"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    sender_application: str = Field("Vigil", min_length=1, max_length=100)
    sender_facility: str = Field("Vigil", min_length=1, max_length=500)
    sender_facility_oid: str | None = None

    @model_validator(mode="after")
    def _lease_outlives_a_batch(self) -> OutboxSettings:
        # Otherwise a second worker could take a delivery the first is still going to send.
        if self.lease_seconds <= self.timeout_seconds * self.batch_size:
            raise ValueError("lease_seconds must exceed timeout_seconds * batch_size")
        return self
