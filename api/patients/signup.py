"""A patient's sign-up over the API, which tells no one whether an ID number is registered.

Being registered says someone is, or was, a suspected patient, so ``POST /api/patients``
answers the same 202 whether the national ID number or the user name is new or taken,
after the same work (a password hash, one text message). What differs goes out of band:

- new details: the account is opened inactive and a 6-digit code is texted to the phone
  given; ``POST /api/patients/confirm`` with the user name and that code activates it;
- a registered ID number: the phone registered with it is told that someone tried
  (the real owner learns it, the caller does not), and nothing is opened;
- a taken user name (ID number new): the phone given is told to choose another name.

Only whoever holds the phone given learns anything, one text per try, throttled like
every text. An account that is never confirmed frees its ID number and user name once
its code has expired.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from api.accounts import queries as account_queries
from api.accounts import service as accounts
from api.accounts.tables import Role, User
from api.audit.service import record
from api.context import AppContext
from api.errors import InvalidError
from api.patients import queries
from api.patients.schemas import PatientRegister
from api.patients.service import id_hash, register, validated_contact, validated_details
from api.patients.tables import Patient
from api.security.passwords import WeakPasswordError, check_password
from api.signup import codes as confirming

ACCEPTED = (
    "Thank you. A text message is on its way to the phone number you gave: if it holds a "
    "code, send it with your user name to confirm your account within 10 minutes; "
    "otherwise it says what to do next."
)
ID_TRIED = (
    "Someone tried to register with your national ID number on Vigil. If it was you, "
    "you already have an account: log in. If not, nothing was opened; you need do nothing."
)
NAME_TAKEN = (
    "Vigil could not open your account: the user name you chose is taken. "
    "Please register again with another user name."
)


def _drop_if_expired(session: Session, ctx: AppContext, user: User | None) -> User | None:
    """``user``, unless it is a sign-up never confirmed whose code has expired (then deleted)."""
    if user is None or user.role != Role.patient or not confirming.expired(ctx, user):
        return user
    patient = queries.patient_by_user(session, user.id)
    if patient is not None:
        session.delete(patient)
        session.flush()  # before its user: no relationship tells the flush the order
    session.delete(user)
    session.flush()
    return None


def sign_up(session: Session, ctx: AppContext, body: PatientRegister) -> None:
    """Step 5: register, answering alike whether the ID number or user name is taken.

    Raises
    ------
    InvalidError
        The details themselves are invalid (never because of who is registered).
    UnavailableError
        No text message can be sent (no SMS gateway, or it refused).
    """
    _name, national_id, phone = validated_details(body)
    validated_contact(body.channel, body.email)
    try:
        check_password(body.password, context=[body.username])
    except WeakPasswordError as exc:
        raise InvalidError(f"password: {exc.reason}") from None
    hashed = id_hash(ctx, national_id)
    owner = queries.patient_by_id_hash(session, hashed)
    if owner is not None:
        owner_user = _drop_if_expired(session, ctx, session.get(User, owner.user_id))
        owner = owner if owner_user is not None else None
    taken = _drop_if_expired(session, ctx, account_queries.user_by_username(session, body.username))
    if owner is not None or taken is not None:
        # The same slow hash as opening an account: the time taken tells nothing either.
        accounts.hash_password(body.password)
        if owner is not None:
            owner_phone = ctx.cipher.decrypt(owner.phone_enc, "patients.phone")
            confirming.send(ctx, "sms", owner_phone, ID_TRIED)
        else:
            confirming.send(ctx, "sms", phone, NAME_TAKEN)
        return
    _patient, user = register(session, ctx, body, active=False)
    code = confirming.issue_code(ctx, user.username)
    confirming.send(ctx, "sms", phone, confirming.code_text(ctx, code))


def confirm(session: Session, ctx: AppContext, username: str, code: str) -> Patient:
    """Activate the sign-up of ``username`` with the code texted to its phone (see
    :func:`confirm_account`)."""
    return confirm_account(session, ctx, username, code)[0]


def confirm_account(
    session: Session, ctx: AppContext, username: str, code: str
) -> tuple[Patient, User]:
    """Activate the sign-up of ``username`` with the code texted to its phone; the
    patient and the account (the registration page logs it in at once).

    Raises
    ------
    InvalidError
        No such sign-up waits, or the code is wrong, expired or used up: one message, so
        this step does not tell which user names wait for a code either.
    """
    user = confirming.waiting_user(session, ctx, Role.patient, username, code)
    patient = queries.patient_by_user(session, user.id)
    if patient is None:
        raise InvalidError(confirming.REFUSED)
    user.active = True
    record(session, user, "register_patient", "patient", patient.id)
    return patient, user
