"""SQL for accounts and tokens."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.accounts.tables import AccessToken, User
from api.pagination import ALL, Window


def user_by_username(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def user_for_token_hash(session: Session, token_hash: str, now: datetime) -> User | None:
    return session.scalar(
        select(User)
        .join(AccessToken, AccessToken.user_id == User.id)
        .where(
            AccessToken.token_hash == token_hash,
            AccessToken.revoked_at.is_(None),
            AccessToken.expires_at > now,
            User.active.is_(True),
        )
    )


def token_by_hash(session: Session, token_hash: str) -> AccessToken | None:
    return session.scalar(select(AccessToken).where(AccessToken.token_hash == token_hash))


def users(session: Session, role: str | None = None, window: Window = ALL) -> Sequence[User]:
    query = window.apply(select(User), User.id)
    if role:
        query = query.where(User.role == role)
    return session.scalars(query).all()


def users_of_manufacturer(session: Session, manufacturer_id: int) -> Sequence[User]:
    return session.scalars(select(User).where(User.manufacturer_id == manufacturer_id)).all()
