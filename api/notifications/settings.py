"""Patient result links, from ``NOTIFY_*`` environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class NotificationSettings(BaseSettings):
    """The links patients get: where they point, how long they live, how many wrong tries.

    Each field reads ``NOTIFY_<NAME>`` (e.g. ``NOTIFY_LINK_TTL_HOURS``); the SMS gateway
    and the SMTP server are the outbox's (``OUTBOX_SMS_GATEWAY_URL``, ``OUTBOX_SMTP_HOST``).
    """

    model_config = SettingsConfigDict(env_prefix="NOTIFY_", extra="ignore")

    # Where the link points: ``<public_base_url><link_path><token>``.
    link_path: str = "/r/"
    link_ttl_hours: float = Field(30 * 24.0, gt=0)
    # Wrong kit code or second factor this many times and the link stops opening.
    link_max_failures: int = Field(5, ge=1)
