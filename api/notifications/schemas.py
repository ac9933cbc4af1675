"""What the notification services take and return."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

Channel = Literal["sms", "email"]


@dataclass(frozen=True)
class Recipient:
    """The channel the patient chose and their address on it (phone number or e-mail)."""

    channel: Channel
    address: str


@dataclass(frozen=True)
class LinkFactors:
    """What opens a result link besides the token: the kit code and one second factor."""

    kit_code: str
    birth_date: date | None = None
    national_id: str | None = None


@dataclass(frozen=True)
class LinkCheck:
    """The outcome of trying to open a link: the result's id, or why not.

    ``refusal`` is ``"unknown"`` (no such link, or expired), ``"mismatch"`` (wrong kit code
    or second factor) or ``"locked"`` (too many wrong tries).
    """

    result_id: str | None
    refusal: Literal["unknown", "mismatch", "locked"] | None = None

    @property
    def ok(self) -> bool:
        return self.result_id is not None
