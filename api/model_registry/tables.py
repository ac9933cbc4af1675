"""Model versions, their aliases (``champion``, ``challenger``) and every change of an alias."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base, utcnow


class ModelVersion(Base):
    """One trained model (``name@number``) with its ONNX file and how it was made."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("name", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    number: Mapped[int]
    # The file itself (tens of KiB): stored with its row, so a backup holds both.
    onnx: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size_bytes: Mapped[int]
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    training_data_hash: Mapped[str | None] = mapped_column(String(64))
    training_params: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# The aliases a model has: the version that reads live photos, and one read in its shadow.
CHAMPION, CHALLENGER = "champion", "challenger"
# The model that reads a strip's bands (the pipeline's ``band_model``).
BAND_MODEL = "band-classifier"


class ModelAlias(Base):
    """Which version an alias names now (one row per model name and alias)."""

    __tablename__ = "model_aliases"
    __table_args__ = (UniqueConstraint("name", "alias"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    alias: Mapped[str] = mapped_column(String(20))
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AliasChange(Base):
    """An attempt to move an alias (promotion, rollback, challenger), refused ones included."""

    __tablename__ = "model_alias_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    alias: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(20))  # promote, rollback, challenger
    accepted: Mapped[bool]
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    previous_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    reason: Mapped[str] = mapped_column(String(2000))
    # The promotion rule's verdicts (models.promotion.Decision.to_json), and the evaluation.
    decision: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    evaluation: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class ShadowReading(Base):
    """The challenger's reading of a live photo, beside the champion's proposal.

    Kept for the data scientists only: no clinician's queue, patient page or report
    reads this table, so a challenger can never change what anyone is told.
    """

    __tablename__ = "shadow_readings"
    __table_args__ = (UniqueConstraint("proposal_id", "model_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id"), index=True)
    model_version: Mapped[str] = mapped_column(String(200))
    champion_version: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(8))
    result: Mapped[str | None] = mapped_column(String(10))
    confidence: Mapped[float]
    reading: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Whether it says what the champion said (status and result): the disagreements list.
    agrees: Mapped[bool] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
