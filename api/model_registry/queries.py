"""Reading the model registry."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.model_registry.tables import AliasChange, ModelAlias, ModelVersion


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


def versions(session: Session, name: str | None = None, limit: int = 200) -> Sequence[ModelVersion]:
    query = select(ModelVersion).order_by(ModelVersion.name, ModelVersion.number.desc())
    if name:
        query = query.where(ModelVersion.name == name)
    return session.scalars(query.limit(limit)).all()


def alias(session: Session, name: str, alias_name: str) -> ModelAlias | None:
    return session.scalar(
        select(ModelAlias).where(ModelAlias.name == name, ModelAlias.alias == alias_name)
    )


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


def changes(session: Session, name: str, limit: int = 200) -> Sequence[AliasChange]:
    return session.scalars(
        select(AliasChange)
        .where(AliasChange.name == name)
        .order_by(AliasChange.id.desc())
        .limit(limit)
    ).all()
