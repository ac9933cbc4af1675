"""What services need besides a database session: settings, stores, regions, the cipher."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from api import public_ids
from api.config import Settings
from api.db.session import Database

# Registers the session listener that keeps the statistics' daily aggregates in the
# transaction of every change to a test: any process with a context has it.
from api.statistics import upkeep as _statistics_upkeep  # noqa: F401
from api.storage import BlobStore, store_for
from api.vision import Vision

if TYPE_CHECKING:
    from api.identity import PersonalDataCipher
    from api.regions.geo import RegionIndex
    from api.security.otp import Notifier, OneTimeCodes
    from api.security.ratelimit import Throttle


@dataclass
class AppContext:
    """Shared, long-lived objects; one per app (and one per worker process)."""

    settings: Settings
    database: Database
    _regions: RegionIndex | None = field(default=None, repr=False)
    # The one way into the pipeline; tests pass ``Vision(reader=fake)``.
    vision: Vision = field(default_factory=Vision, repr=False)
    # Sends one-time codes at once; by default the outbox's SMS and e-mail gateways
    # (``api.outbox.notifier.default_notifier``), set on first use.
    notifier: Notifier | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # Services, pages and workers all hold a context: keying the public ids here
        # means none can show an id before the key is known.
        if self.settings.secret_key:
            public_ids.configure(self.settings.secret_key)

    @cached_property
    def photos(self) -> BlobStore:
        return store_for(self.settings, "photos")

    @cached_property
    def documents(self) -> BlobStore:
        return store_for(self.settings, "documents")

    @property
    def regions(self) -> RegionIndex:
        if self._regions is None:
            from api.regions.geo import RegionIndex

            self._regions = RegionIndex.from_file(self.settings.resolved_regions_file)
        return self._regions

    @cached_property
    def throttle(self) -> Throttle:
        """Log-in attempts counted per address, account and kit code; one per app."""
        from api.security.ratelimit import Throttle

        return Throttle.from_url(
            self.settings.resolved_rate_limit_url,
            secret=(self.settings.secret_key or "").encode(),
            prefix=f"{self.settings.celery_queue}:throttle",
        )

    @cached_property
    def one_time_codes(self) -> OneTimeCodes:
        """Codes for the kit-code log-in after its first failures; kept where the throttle is."""
        from api.security.otp import OneTimeCodes

        return OneTimeCodes.from_url(
            self.settings.resolved_rate_limit_url,
            secret=(self.settings.secret_key or "").encode(),
            prefix=f"{self.settings.celery_queue}:otp",
        )

    @cached_property
    def cipher(self) -> PersonalDataCipher:
        from api.identity import PersonalDataCipher

        return PersonalDataCipher(
            self.settings.pii_key_list(), lookup_key=self.settings.lookup_key_bytes()
        )

    @classmethod
    def from_settings(cls, settings: Settings, *, keys: bool = True) -> AppContext:
        """A context for ``settings``; workers pass ``keys=False`` (they read no personal data)."""
        if keys:
            settings = settings.with_keys()
        return cls(settings=settings, database=Database.from_url(settings.resolved_database_url))
