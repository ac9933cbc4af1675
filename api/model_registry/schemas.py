"""What the model registry takes and gives."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from api.public_ids import ProposalId, ShadowId

VERSION_PATTERN = r"^[a-z][a-z0-9-]{0,99}@[1-9][0-9]{0,8}$"


class VersionRegister(BaseModel):
    """How a model was made; its file comes beside this."""

    version: str | None = Field(
        default=None,
        pattern=VERSION_PATTERN,
        description="name@number; default: the file's metadata, else the next free number",
    )
    metrics: dict[str, Any] = Field(default_factory=dict, description="held-out metrics")
    training_data_hash: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the training data"
    )
    training_params: dict[str, Any] = Field(default_factory=dict)


class ModelVersionOut(BaseModel):
    id: str = Field(description="opaque public id")
    version: str
    sha256: str
    size_bytes: int
    metrics: dict[str, Any]
    training_data_hash: str | None
    training_params: dict[str, Any]
    aliases: list[str]
    created_by: str
    created_at: datetime


class PromoteIn(BaseModel):
    reason: str = Field(min_length=3, max_length=2000, description="why, in words")
    evaluation: dict[str, Any] | None = Field(
        default=None,
        description="a training.evaluate report (evaluation.json) of this version against the "
        "current champion; needed whenever there is a champion",
    )


class ReasonIn(BaseModel):
    reason: str = Field(min_length=3, max_length=2000)


class AliasChangeOut(BaseModel):
    alias: str
    action: str
    accepted: bool
    version: str
    previous_version: str | None
    reason: str
    decision: dict[str, Any] | None
    by: str
    at: datetime


class ShadowOut(BaseModel):
    """A challenger's shadow reading beside the champion's proposal (never shown to patients)."""

    id: ShadowId
    proposal_id: ProposalId
    challenger: str
    champion: str
    champion_status: str
    champion_result: str | None
    champion_confidence: float
    challenger_status: str
    challenger_result: str | None
    challenger_confidence: float
    agrees: bool
    photo_sha256: str
    window_sha256: str | None
    at: datetime
