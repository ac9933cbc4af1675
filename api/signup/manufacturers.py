"""A manufacturer's public sign-up, which tells no one whether a name or licence is registered.

User names are one namespace with the patients', so a sign-up that refused a taken name
would list who is a suspected patient; a refused licence number would list who applied.
``POST /api/manufacturers`` (and the sign-up page) therefore answer the same 202 whether
the business licence number or the user name is new or taken, after the same work (the
documents checked, a password hash, one e-mail). What differs goes by e-mail
(:mod:`api.signup.codes`, the patients' mechanism):

- new details: the application is opened ``unconfirmed`` (hidden from operators), its
  account inactive, and a 6-digit code goes to the contact address; the code with the user
  name (``POST /api/manufacturers/confirm``) opens the account and sends the application
  to review;
- a registered licence number: the contact address registered with it is told someone
  tried, and nothing is opened;
- a taken user name (licence new): the address given is told to choose another name.

An application never confirmed is deleted, freeing its licence and user name, once its
code has expired.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from api.accounts import queries as account_queries
from api.accounts import service as accounts
from api.accounts.tables import Role, User
from api.context import AppContext
from api.errors import InvalidError
from api.organisations import queries, service
from api.organisations.schemas import ManufacturerSignUp
from api.organisations.tables import Manufacturer
from api.security.passwords import WeakPasswordError, check_password
from api.signup import codes as confirming

ACCEPTED = (
    "Thank you. An e-mail is on its way to the contact address you gave: if it holds a "
    "code, send it with your user name to confirm your application within 10 minutes; "
    "otherwise it says what to do next."
)
LICENCE_TRIED = (
    "Someone tried to sign up a manufacturer on Vigil with your business licence number. "
    "If it was you, your company already has an account: log in. If not, nothing was "
    "opened; you need do nothing."
)
NAME_TAKEN = (
    "Vigil could not open your manufacturer account: the user name you chose is taken. "
    "Please sign up again with another user name."
)


def _unless_expired(session: Session, ctx: AppContext, user: User | None) -> User | None:
    """``user``, unless it belongs to an application never confirmed whose code expired
    (then the application is deleted)."""
    if user is None or user.role != Role.manufacturer or not confirming.expired(ctx, user):
        return user
    manufacturer = session.get(Manufacturer, user.manufacturer_id)
    if manufacturer is None or manufacturer.status != service.UNCONFIRMED:
        return user
    service.withdraw_unconfirmed(session, manufacturer)
    return None


def _licence_holder(session: Session, ctx: AppContext, licence_no: str) -> Manufacturer | None:
    holder = queries.manufacturer_by_licence(session, licence_no)
    if holder is None or holder.status != service.UNCONFIRMED:
        return holder
    users = account_queries.users_of_manufacturer(session, holder.id)
    if any(_unless_expired(session, ctx, user) is not None for user in users):
        return holder
    if users:
        return None  # withdrawn with its account
    service.withdraw_unconfirmed(session, holder)  # an account deleted another way
    return None


def apply(
    session: Session,
    ctx: AppContext,
    body: ManufacturerSignUp,
    documents: Sequence[tuple[str, str, bytes]] = (),
) -> None:
    """Sign up with the ``documents`` (``(kind, filename, data)``) sent along, answering
    alike whether the licence number or user name is taken.

    Raises
    ------
    InvalidError
        The details or a document are invalid (never because of who is registered).
    UnavailableError
        No e-mail can be sent (no SMTP server, or it refused).
    """
    try:
        check_password(body.password, context=[body.username, body.name])
    except WeakPasswordError as exc:
        raise InvalidError(f"password: {exc.reason}") from None
    # Checked for everyone: a document refused only for new details would tell them apart.
    checked = [service.check_document(kind, name, data) for kind, name, data in documents]
    holder = _licence_holder(session, ctx, body.business_licence_no)
    taken = _unless_expired(
        session, ctx, account_queries.user_by_username(session, body.username.strip())
    )
    if holder is not None or taken is not None:
        # The same slow hash as opening an account: the time taken tells nothing either.
        accounts.hash_password(body.password)
        if holder is not None:
            confirming.send(ctx, "email", holder.contact_email, LICENCE_TRIED)
        else:
            confirming.send(ctx, "email", body.contact_email, NAME_TAKEN)
        return
    manufacturer, user = service.sign_up(session, body, confirmed=False)
    for document in checked:
        service.store_document(session, ctx, manufacturer.id, document)
    code = confirming.issue_code(ctx, user.username)
    confirming.send(ctx, "email", body.contact_email, confirming.code_text(ctx, code))


def confirm(
    session: Session, ctx: AppContext, username: str, code: str
) -> tuple[Manufacturer, User]:
    """Open the application of ``username`` with the code e-mailed to its contact address;
    the manufacturer and its account (the sign-up page logs it in at once).

    Raises
    ------
    InvalidError
        No such application waits, or the code is wrong, expired or used up (one message).
    """
    user = confirming.waiting_user(session, ctx, Role.manufacturer, username, code)
    return service.confirm_application(session, user), user
