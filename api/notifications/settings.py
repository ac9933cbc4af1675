"""How patients are told, from ``NOTIFY_*`` environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class NotificationSettings(BaseSettings):
    """The SMS gateway, the SMTP server and the links' lifetime.

    Each field reads ``NOTIFY_<NAME>`` (e.g. ``NOTIFY_SMS_GATEWAY_URL``). A channel whose
    settings are missing is not sent on: its messages wait in the outbox.
    """

    model_config = SettingsConfigDict(env_prefix="NOTIFY_", extra="ignore")

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
    timeout_seconds: float = Field(10.0, gt=0)
    # Where the link points: ``<public_base_url><link_path><token>``.
    link_path: str = "/r/"
    link_ttl_hours: float = Field(30 * 24.0, gt=0)
    # Wrong kit code or second factor this many times and the link stops opening.
    link_max_failures: int = Field(5, ge=1)
