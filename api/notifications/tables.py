"""The links patients get: random tokens, stored hashed, that open one result."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base, utcnow


class ResultLink(Base):
    """One link sent to a patient. Everything that could identify them is a keyed hash."""

    __tablename__ = "result_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The result's public id (the same across corrections: the page shows the latest).
    result_id: Mapped[str] = mapped_column(String(64), index=True)
    kit_code_hash: Mapped[str] = mapped_column(String(64))
    # Keyed hashes of each accepted second factor (birth date, last ID digits).
    factor_hashes: Mapped[list[Any]] = mapped_column(JSON)
    expires_at: Mapped[datetime]
    failed_attempts: Mapped[int] = mapped_column(default=0)
    last_opened_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
