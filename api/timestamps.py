"""Timestamps as the API writes them: RFC 3339 in UTC with ``Z`` (as pydantic does too)."""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339(moment: datetime) -> str:
    """``moment`` in UTC, e.g. ``2024-05-01T10:00:00.250000Z`` (a naive time is taken as UTC).

    >>> rfc3339(datetime(2024, 5, 1, 12, 0, tzinfo=UTC))
    '2024-05-01T12:00:00Z'
    """
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")
