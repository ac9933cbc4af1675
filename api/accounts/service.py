"""Accounts, passwords and bearer tokens.

Tokens are random and stored only as an HMAC keyed with ``SECRET_KEY``: they can
be revoked one by one, and a copy of the database alone opens no session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from api.accounts import queries
from api.accounts.schemas import Caller, Principal, SignedIn, UserOut
from api.accounts.tables import AccessToken, Role, User
from api.audit.service import record
from api.context import AppContext
from api.db.base import utcnow
from api.errors import ConflictError, InvalidError, NotFoundError, UnauthorizedError
from api.identity import hash_password, needs_rehash, verify_password
from api.pagination import ALL, Window
from api.security.passwords import WeakPasswordError, check_password

# Compared against when the account does not exist, so timing tells nothing.
_DUMMY_HASH: str | None = None


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
    return _DUMMY_HASH


def token_hash(ctx: AppContext, token: str) -> str:
    key = (ctx.settings.secret_key or "").encode()
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def principal(user: User) -> Principal:
    """The read model of ``user`` that pages are handed (never the row itself)."""
    return Principal.model_validate(user)


def issue_token(
    session: Session, ctx: AppContext, user: Caller, ttl: timedelta | None = None
) -> tuple[str, datetime]:
    """A bearer token for ``user``, valid ``ttl`` (default: the configured token lifetime)."""
    token = secrets.token_urlsafe(32)
    expires = utcnow() + (ttl or timedelta(minutes=ctx.settings.token_ttl_minutes))
    session.add(AccessToken(token_hash=token_hash(ctx, token), user_id=user.id, expires_at=expires))
    return token, expires


def user_for_token(session: Session, ctx: AppContext, token: str) -> User | None:
    return queries.user_for_token_hash(session, token_hash(ctx, token), utcnow())


def principal_for_token(session: Session, ctx: AppContext, token: str) -> Principal | None:
    """Who holds ``token`` (a live token of an active account), or ``None``."""
    user = user_for_token(session, ctx, token)
    return principal(user) if user is not None else None


def open_session(
    session: Session, ctx: AppContext, account: Caller, *, via: str | None = None
) -> SignedIn:
    """A bearer token for ``account``, logged in the audit as a log-in (``via`` a page)."""
    token, expires = issue_token(session, ctx, account)
    record(session, account, "log_in", "user", account.id, **({"via": via} if via else {}))
    return SignedIn(principal=Principal.model_validate(account), token=token, expires_at=expires)


def sign_in(
    session: Session, ctx: AppContext, username: str, password: str, *, via: str | None = None
) -> SignedIn:
    """Log in with user name and password (:func:`log_in`) and open a session: the API's
    token and the log-in page's cookie are the same thing."""
    return open_session(session, ctx, log_in(session, ctx, username, password), via=via)


def revoke_token(session: Session, ctx: AppContext, token: str) -> None:
    row = queries.token_by_hash(session, token_hash(ctx, token))
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()


def log_in(session: Session, ctx: AppContext, username: str, password: str) -> User:
    """:func:`authenticate`, throttled per account: a soft lock-out after a few failures.

    Raises
    ------
    RateLimitedError
        The account is locked out for a while; no password is checked.
    UnauthorizedError
        As :func:`authenticate`.
    """
    account = username.strip()
    ctx.throttle.account_attempt(account)
    try:
        user = authenticate(session, account, password)
    except UnauthorizedError:
        ctx.throttle.account_failed(account)
        raise
    ctx.throttle.account_succeeded(account)
    return user


def authenticate(session: Session, username: str, password: str) -> User:
    """The active account ``username`` if ``password`` is right.

    Raises
    ------
    UnauthorizedError
        With the same message whether the account or the password is wrong.
    """
    user = queries.user_by_username(session, username.strip())
    if user is None:
        verify_password(_dummy_hash(), password)
        raise UnauthorizedError("wrong user name or password")
    if not verify_password(user.password_hash, password) or not user.active:
        raise UnauthorizedError("wrong user name or password")
    if needs_rehash(user.password_hash):
        # Stronger hashing parameters since this password was set: upgrade it now.
        user.password_hash = hash_password(password)
    return user


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: Role,
    display_name: str,
    manufacturer_id: int | None = None,
    institution_id: int | None = None,
    cdc_office_id: int | None = None,
    active: bool = True,
) -> User:
    """Open an account linked to the kind of organisation its role needs.

    Whether that organisation exists is checked by ``organisations.service.open_staff_account``
    (and by the foreign keys): accounts know no organisations.
    """
    username = username.strip()
    if queries.user_by_username(session, username) is not None:
        raise ConflictError(f"the user name '{username}' is taken")
    try:
        check_password(password, context=[username, display_name])
    except WeakPasswordError as exc:
        raise InvalidError(f"password: {exc.reason}") from None
    if role == Role.clinician:
        if institution_id is None:
            raise InvalidError("institution_id: a clinician needs an existing medical institution")
    elif institution_id is not None:
        raise InvalidError("institution_id: only clinicians belong to a medical institution")
    if role == Role.cdc_officer:
        if cdc_office_id is None:
            raise InvalidError("cdc_office_id: a CDC officer needs an existing CDC office")
    elif cdc_office_id is not None:
        raise InvalidError("cdc_office_id: only CDC officers belong to a CDC office")
    if role == Role.manufacturer:
        if manufacturer_id is None:
            raise InvalidError("manufacturer_id: a manufacturer account needs its manufacturer")
    elif manufacturer_id is not None:
        raise InvalidError("manufacturer_id: only manufacturer accounts act for a manufacturer")
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role.value,
        display_name=display_name,
        manufacturer_id=manufacturer_id,
        institution_id=institution_id,
        cdc_office_id=cdc_office_id,
        active=active,
    )
    session.add(user)
    session.flush()
    return user


def list_accounts(
    session: Session, role: Role | None = None, window: Window = ALL
) -> list[UserOut]:
    rows = queries.users(session, role.value if role else None, window)
    return [UserOut.model_validate(u) for u in rows]


def get_account(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"no account with id {user_id}")
    return user
