"""Reading the model registry."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ScalarSelect, func, select
from sqlalchemy.orm import Session

from api.model_registry.tables import AliasChange, ModelAlias, ModelVersion, ShadowReading
from api.pagination import ALL, Window
from api.selftests.tables import Proposal, Upload


def version_by_public_id(session: Session, public_id: str) -> ModelVersion | None:
    return session.scalar(select(ModelVersion).where(ModelVersion.public_id == public_id))


def version_by_number(session: Session, name: str, number: int) -> ModelVersion | None:
    return session.scalar(
        select(ModelVersion).where(ModelVersion.name == name, ModelVersion.number == number)
    )


def version_by_sha256(session: Session, sha256: str) -> ModelVersion | None:
    return session.scalar(select(ModelVersion).where(ModelVersion.sha256 == sha256))


def next_number(session: Session, name: str) -> int:
    latest = session.scalar(select(func.max(ModelVersion.number)).where(ModelVersion.name == name))
    return int(latest or 0) + 1


def versions(
    session: Session, name: str | None = None, window: Window = ALL
) -> Sequence[ModelVersion]:
    """Model versions in the order they were registered."""
    query = select(ModelVersion)
    if name:
        query = query.where(ModelVersion.name == name)
    columns = (ModelVersion.created_at, ModelVersion.public_id)
    return session.scalars(window.apply(query, *columns)).all()


def alias(session: Session, name: str, alias_name: str) -> ModelAlias | None:
    return session.scalar(
        select(ModelAlias).where(ModelAlias.name == name, ModelAlias.alias == alias_name)
    )


def alias_sha256(name: str, alias_name: str) -> ScalarSelect[str]:
    """The SHA-256 of the version an alias of model ``name`` names, as a scalar subquery (NULL
    without one): the reading task asks it within its one query for the upload."""
    return (
        select(ModelVersion.sha256)
        .join(ModelAlias, ModelAlias.version_id == ModelVersion.id)
        .where(ModelAlias.name == name, ModelAlias.alias == alias_name)
        .scalar_subquery()
    )


def versions_named(
    session: Session, name: str, alias_names: Sequence[str]
) -> dict[str, ModelVersion]:
    """The versions that the named aliases of model ``name`` point at, by alias name, in one
    query (the ONNX bytes stay deferred: loaded only for a file not yet in memory)."""
    rows = session.execute(
        select(ModelAlias.alias, ModelVersion)
        .join(ModelVersion, ModelVersion.id == ModelAlias.version_id)
        .where(ModelAlias.name == name, ModelAlias.alias.in_(list(alias_names)))
    )
    return dict(rows.all())


def aliases(session: Session) -> Sequence[ModelAlias]:
    return session.scalars(select(ModelAlias)).all()


def last_accepted_change_to(
    session: Session, name: str, alias_name: str, version_id: int, action: str
) -> AliasChange | None:
    """The newest accepted ``action`` that made ``version_id`` the alias."""
    return session.scalar(
        select(AliasChange)
        .where(
            AliasChange.name == name,
            AliasChange.alias == alias_name,
            AliasChange.version_id == version_id,
            AliasChange.action == action,
            AliasChange.accepted.is_(True),
        )
        .order_by(AliasChange.id.desc())
        .limit(1)
    )


def changes(session: Session, name: str) -> Sequence[AliasChange]:
    query = select(AliasChange).where(AliasChange.name == name)
    return session.scalars(query.order_by(AliasChange.id.desc())).all()


def shadow_of(session: Session, proposal_id: int, model_version: str) -> ShadowReading | None:
    return session.scalar(
        select(ShadowReading).where(
            ShadowReading.proposal_id == proposal_id,
            ShadowReading.model_version == model_version,
        )
    )


def shadow_readings(
    session: Session, *, disagreeing_only: bool, window: Window
) -> Sequence[ShadowReading]:
    query = select(ShadowReading)
    if disagreeing_only:
        query = query.where(ShadowReading.agrees.is_(False))
    return session.scalars(window.apply(query, ShadowReading.id, descending=True)).all()


def shadow_counts(session: Session) -> dict[str, dict[str, int]]:
    rows = session.execute(
        select(ShadowReading.model_version, ShadowReading.agrees, func.count())
        .group_by(ShadowReading.model_version, ShadowReading.agrees)
        .order_by(ShadowReading.model_version)
    ).all()
    out: dict[str, dict[str, int]] = {}
    for version, agrees, n in rows:
        entry = out.setdefault(version, {"readings": 0, "disagreements": 0})
        entry["readings"] += int(n)
        entry["disagreements"] += 0 if agrees else int(n)
    return out


def proposal_and_upload(session: Session, proposal_id: int) -> tuple[Proposal, Upload]:
    proposal = session.get(Proposal, proposal_id)
    assert proposal is not None  # a foreign key
    upload = session.get(Upload, proposal.upload_id)
    assert upload is not None
    return proposal, upload
