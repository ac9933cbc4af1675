"""Server settings, read from environment variables.

Secrets are never committed. In ``dev`` and ``demo`` mode missing keys are
generated once and kept in ``<data dir>/secrets.json`` so that restarts can
still decrypt stored personal data; in ``production`` mode the server refuses
to start without them.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

Mode = Literal["dev", "demo", "test", "production"]

_GENERATED = ("secret_key", "pii_keys", "lookup_key")


class SettingsError(RuntimeError):
    """The settings cannot be used as they are (e.g. production without keys)."""


class Settings(BaseSettings):
    """Everything the server, the workers and the CLI need to know.

    Each field reads the environment variable of the same name in upper case
    (``DATABASE_URL``, ``CELERY_BROKER_URL``, ``PHOTO_DIR``, ``SECRET_KEY``,
    ``PII_KEYS``, ``LOOKUP_KEY``, ...), except ``mode`` and ``data_dir`` which
    read ``VIGIL_MODE`` and ``VIGIL_DATA_DIR``.
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    mode: Mode = Field("dev", validation_alias=AliasChoices("VIGIL_MODE", "mode"))
    data_dir: Path = Field(Path("var"), validation_alias=AliasChoices("VIGIL_DATA_DIR", "data_dir"))
    database_url: str | None = None
    celery_broker_url: str | None = None
    celery_result_backend: str | None = None
    # Queue the readings go to; separate deployments (or test runs) on one broker differ here.
    celery_queue: str = "vigil"
    # Where log-in attempts are counted (issue 11): Redis shared by every API process; by
    # default the broker when it is Redis, else memory (the embedded default's one server).
    rate_limit_url: str | None = None
    photo_dir: Path | None = None
    document_dir: Path | None = None
    # file:///path or s3://bucket/prefix for photos and documents shared by every
    # process and machine; unset, PHOTO_DIR and DOCUMENT_DIR are used.
    storage_url: str | None = Field(
        None, validation_alias=AliasChoices("VIGIL_STORAGE_URL", "storage_url")
    )
    # An S3-compatible server other than AWS (MinIO, Ceph); credentials come from AWS_* variables.
    s3_endpoint_url: str | None = Field(
        None, validation_alias=AliasChoices("VIGIL_S3_ENDPOINT_URL", "s3_endpoint_url")
    )
    # A Celery worker machine serves /metrics on this port (its app-less exporter).
    worker_metrics_port: int | None = Field(None, gt=0, lt=65536)
    regions_file: Path | None = None
    # Signs nothing by itself today (tokens are random and stored hashed), but
    # keyed hashes of idempotency keys and future signed links use it.
    secret_key: str | None = None
    # Comma-separated base64 keys for personal data; the first encrypts, all decrypt.
    pii_keys: str | None = None
    # Base64 key for the keyed hash that finds a patient by national ID number.
    lookup_key: str | None = None
    token_ttl_minutes: int = Field(12 * 60, gt=0)
    max_upload_bytes: int = Field(12 * 1024 * 1024, gt=0)
    max_document_bytes: int = Field(20 * 1024 * 1024, gt=0)
    max_batch_quantity: int = Field(1_000_000, gt=0)
    public_base_url: str = "http://127.0.0.1:8000"
    # Uploads without a proposal for this long are queued again by the sweep (beat runs it
    # every third of this): a photo stranded by a crashed worker is read within a minute.
    sweep_after_seconds: int = Field(45, gt=0)
    # How often the event stream looks for new events.
    event_poll_seconds: float = Field(1.0, gt=0)
    # A second reader is never shown the first decision; with this on (the default) not the
    # model's answer either, so that the second reading is independent of both.
    blind_second_reader: bool = True
    # Whole months of audit log kept in the database before the current one: `vigil db
    # archive-audit` refuses to move out anything newer (README, "Archiving the audit log").
    audit_retention_months: int = Field(24, ge=1)

    # Derived locations ---------------------------------------------------

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'vigil.db').resolve()}"

    @property
    def resolved_photo_dir(self) -> Path:
        return self.photo_dir or self.data_dir / "photos"

    @property
    def resolved_document_dir(self) -> Path:
        return self.document_dir or self.data_dir / "documents"

    @property
    def resolved_regions_file(self) -> Path:
        if self.regions_file:
            return self.regions_file
        return Path(__file__).parent / "regions" / "demo_regions.geojson"

    @property
    def eager_tasks(self) -> bool:
        """Without a broker, tasks run in-process (the embedded default)."""
        return not self.celery_broker_url

    @property
    def resolved_rate_limit_url(self) -> str | None:
        """The rate-limit store: ``rate_limit_url``, else a Redis broker, else memory (None)."""
        if self.rate_limit_url:
            return self.rate_limit_url
        broker = self.celery_broker_url or ""
        return broker if broker.startswith(("redis://", "rediss://")) else None

    # Keys ----------------------------------------------------------------

    def pii_key_list(self) -> list[bytes]:
        keys = [k.strip() for k in (self.pii_keys or "").split(",") if k.strip()]
        return [_b64(k, "PII_KEYS") for k in keys]

    def lookup_key_bytes(self) -> bytes:
        return _b64(self.lookup_key or "", "LOOKUP_KEY")

    def with_keys(self) -> Settings:
        """These settings with every secret present.

        Raises
        ------
        SettingsError
            In production mode when a key is missing or the public URL is not https,
            or when a key is not base64.
        """
        if self.mode == "production" and not self.public_base_url.startswith("https://"):
            # Tokens, session cookies and patients' data travel over it.
            raise SettingsError("production mode needs an https:// PUBLIC_BASE_URL")
        missing = [name for name in _GENERATED if not getattr(self, name)]
        if not missing:
            self.pii_key_list()
            self.lookup_key_bytes()
            return self
        if self.mode == "production":
            names = ", ".join(name.upper() for name in missing)
            raise SettingsError(f"production mode needs these environment variables: {names}")
        stored = _load_or_create_secrets(self.data_dir)
        updated = self.model_copy(update={name: stored[name] for name in missing})
        updated.pii_key_list()
        updated.lookup_key_bytes()
        return updated


def _b64(value: str, name: str) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        raise SettingsError(f"{name} must be base64") from None
    if len(raw) < 16:
        raise SettingsError(f"{name} must decode to at least 16 bytes")
    return raw


def new_secrets() -> dict[str, str]:
    """Fresh random keys in the shape the settings expect."""
    return {
        "secret_key": secrets.token_urlsafe(32),
        "pii_keys": base64.b64encode(os.urandom(32)).decode(),
        "lookup_key": base64.b64encode(os.urandom(32)).decode(),
    }


def _load_or_create_secrets(data_dir: Path) -> dict[str, str]:
    path = data_dir / "secrets.json"
    if path.exists():
        stored: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
        if all(stored.get(name) for name in _GENERATED):
            return stored
    data_dir.mkdir(parents=True, exist_ok=True)
    stored = new_secrets()
    # Owner-only from the start: the file holds the keys to personal data.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(stored, fh)
    return stored
