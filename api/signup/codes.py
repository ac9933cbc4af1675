"""What every public sign-up shares: confirm out of band, tell nobody who is registered.

A public sign-up (a patient's, a manufacturer's) answers the same whether its user name
(or national ID number, or business licence) is new or taken; what differs goes to the
phone or e-mail address given, out of band. A new account is opened inactive and a
one-time code (:mod:`api.security.otp`) is sent with it; the code, with the user name,
activates the account. An account never confirmed frees its names once its code expired.

The sign-ups themselves (``api.patients.signup``, ``api.signup.manufacturers``) decide
what is new and what to say; this module sends, issues and checks.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from api.accounts import queries
from api.accounts.tables import Role, User
from api.context import AppContext
from api.db.base import utcnow
from api.errors import InvalidError, UnavailableError
from api.outbox.notifier import NotifierUnavailableError, default_notifier
from api.security.otp import Channel, OneTimeCodeError, ResendTooSoonError

REFUSED = "code: wrong, expired or used up; check the message or sign up again"


def _subject(username: str) -> str:
    return f"sign-up:{username}"


def send(ctx: AppContext, channel: Channel, address: str, text: str) -> None:
    """Deliver ``text`` at once (one-time codes are useless by the time a retry comes).

    Raises
    ------
    UnavailableError
        No gateway for ``channel`` is configured, or it refused the message.
    """
    if ctx.notifier is None:
        ctx.notifier = default_notifier()
    try:
        ctx.notifier.send(channel, address, text)
    except NotifierUnavailableError:
        word = "text messages" if channel == "sms" else "e-mails"
        raise UnavailableError(f"{word} cannot be sent now; please try again later") from None


def issue_code(ctx: AppContext, username: str) -> str:
    """A fresh code for the sign-up of ``username``; the caller sends it.

    Raises
    ------
    UnavailableError
        A code for this user name was sent a moment ago.
    """
    try:
        return ctx.one_time_codes.issue(_subject(username))
    except ResendTooSoonError:
        raise UnavailableError("a code was sent a moment ago; please wait a minute") from None


def code_text(ctx: AppContext, code: str) -> str:
    """The message that carries a sign-up code."""
    minutes = ctx.one_time_codes.policy.ttl_s // 60
    return f"Your Vigil code is {code}. It confirms your account for {minutes} minutes."


def expired(ctx: AppContext, user: User) -> bool:
    """Whether ``user`` is a sign-up never confirmed whose code can no longer be used."""
    if user.active:
        return False
    return user.created_at <= utcnow() - timedelta(seconds=ctx.one_time_codes.policy.ttl_s)


def waiting_user(session: Session, ctx: AppContext, role: Role, username: str, code: str) -> User:
    """The unconfirmed ``role`` account ``username``, once ``code`` (sent at sign-up) is
    accepted; the caller activates it.

    Raises
    ------
    InvalidError
        No such sign-up waits, or the code is wrong, expired or used up: one message, so
        this step does not tell which user names wait for a code either.
    """
    user = queries.user_by_username(session, username.strip())
    # Checked before the code, so a confirmation sent to the wrong sign-up spends no try.
    if user is None or user.active or user.role != role:
        raise InvalidError(REFUSED)
    try:
        ctx.one_time_codes.verify(_subject(user.username), code)
    except OneTimeCodeError:
        raise InvalidError(REFUSED) from None
    return user
