"""Patients: registration with encrypted personal data, log-in by kit code, claiming a unit."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from api.accounts import service as accounts
from api.accounts.schemas import Caller
from api.accounts.tables import Role, User
from api.audit.service import record
from api.batches.service import effective_state
from api.batches.tables import UnitState
from api.context import AppContext
from api.db.base import utcnow
from api.errors import ConflictError, ForbiddenError, InvalidError, NotFoundError, UnauthorizedError
from api.events.service import TEST_STARTED, publish
from api.identity import validate_national_id, validate_phone
from api.notifications.schemas import Recipient
from api.outbox.notifier import NotifierUnavailableError, default_notifier
from api.patients import queries
from api.patients.schemas import Claim, PatientContact, PatientOut, PatientRegister
from api.patients.tables import Patient
from api.products.tables import Product
from api.regions.service import locate
from api.scope import Scope
from api.security.otp import OneTimeCodeError, ResendTooSoonError
from api.selftests import lifecycle
from api.selftests import queries as test_queries
from api.selftests.schemas import TestOut
from api.selftests.service import test_view
from api.selftests.tables import SelfTest
from api.timestamps import rfc3339
from api.units.service import find_unit

if TYPE_CHECKING:
    from pipeline.kit import KitDescription

log = logging.getLogger(__name__)

LOCATION_DECIMALS = 2
"""A test's location is stored to about a kilometre (0.01 degree): enough for maps and
clusters; the region is looked up from the exact point, which is not kept."""


def _national_id(text: str) -> str:
    try:
        return validate_national_id(text)
    except ValueError as exc:
        raise InvalidError(f"national_id: {exc}") from None


def _phone(text: str) -> str:
    try:
        return validate_phone(text)
    except ValueError as exc:
        raise InvalidError(f"phone: {exc}") from None


ID_PURPOSE = "national_id"


def id_hash(ctx: AppContext, national_id: str) -> str:
    return ctx.cipher.lookup_hash(national_id, ID_PURPOSE)


def personal_data(ctx: AppContext, patient: Patient) -> tuple[str, str, str]:
    """The patient's name, national ID number and phone, decrypted."""
    cipher = ctx.cipher
    return (
        cipher.decrypt(patient.name_enc, "patients.name"),
        cipher.decrypt(patient.national_id_enc, "patients.national_id"),
        cipher.decrypt(patient.phone_enc, "patients.phone"),
    )


def mask(value: str, keep: int = 4) -> str:
    return "*" * max(len(value) - keep, 0) + value[-keep:]


def validated_details(body: PatientRegister) -> tuple[str, str, str]:
    """The name, national ID number and phone of ``body``, checked and normalised (422)."""
    national_id = _national_id(body.national_id)
    phone = _phone(body.phone)
    name = body.name.strip()
    if not name:
        raise InvalidError("name: must not be blank")
    return name, national_id, phone


def validated_contact(channel: str, email: str | None) -> tuple[str, str | None]:
    """The channel for "your result is ready" and the e-mail address (stripped; needed
    for e-mail, kept when given for SMS so the patient can switch later)."""
    address = (email or "").strip() or None
    if channel == "email" and address is None:
        raise InvalidError("email: give your e-mail address to be told by e-mail")
    return channel, address


def register(
    session: Session, ctx: AppContext, body: PatientRegister, *, active: bool = True
) -> tuple[Patient, User]:
    """Step 5: a patient account; ID number and phone encrypted, the ID findable by keyed hash.

    Answers 409 when the ID number or user name is taken, which tells who is registered:
    the public API signs up through :func:`api.patients.signup.sign_up` instead, which
    does not say. ``active=False`` opens the
    account waiting for its confirmation code (recorded in the audit log once confirmed).
    """
    name, national_id, phone = validated_details(body)
    channel, email = validated_contact(body.channel, body.email)
    hashed = id_hash(ctx, national_id)
    if queries.patient_by_id_hash(session, hashed) is not None:
        raise ConflictError("a patient with this national ID number is already registered; log in")
    user = accounts.create_user(
        session,
        username=body.username,
        password=body.password,
        role=Role.patient,
        # The real name is kept only encrypted (on the patient); others see the user name.
        display_name=body.username,
        active=active,
    )
    patient = Patient(
        user_id=user.id,
        name_enc=ctx.cipher.encrypt(name, "patients.name"),
        national_id_enc=ctx.cipher.encrypt(national_id, "patients.national_id"),
        national_id_hash=hashed,
        phone_enc=ctx.cipher.encrypt(phone, "patients.phone"),
        notify_channel=channel,
        email_enc=ctx.cipher.encrypt(email, "patients.email") if email else None,
    )
    session.add(patient)
    session.flush()
    if active:
        record(session, user, "register_patient", "patient", patient.id)
    return patient, user


def patient_of(session: Session, user: Caller) -> Patient:
    patient = queries.patient_by_user(session, user.id) if user.role == Role.patient else None
    if patient is None:
        raise ForbiddenError("this account is not a patient's")
    return patient


def patient_out(ctx: AppContext, patient: Patient) -> PatientOut:
    name, national_id, phone = personal_data(ctx, patient)
    return PatientOut(
        id=patient.id,
        user_id=patient.user_id,
        name=name,
        national_id_masked=mask(national_id),
        phone_masked=mask(phone),
        channel=patient.notify_channel,
        email_masked=mask(email) if (email := email_of(ctx, patient)) else None,
    )


def email_of(ctx: AppContext, patient: Patient) -> str | None:
    return ctx.cipher.decrypt(patient.email_enc, "patients.email") if patient.email_enc else None


def contact_of(ctx: AppContext, patient: Patient) -> PatientContact:
    """How ``patient`` chose to be told that a result is ready (their e-mail in clear)."""
    return PatientContact(
        channel=patient.notify_channel,
        email=email_of(ctx, patient),
    )


def set_contact(session: Session, ctx: AppContext, user: Caller, body: PatientContact) -> Patient:
    """The patient changes how they are told that a result is ready (audited, no address)."""
    patient = patient_of(session, user)
    channel, email = validated_contact(body.channel, body.email)
    patient.notify_channel = channel
    patient.email_enc = ctx.cipher.encrypt(email, "patients.email") if email else None
    session.flush()
    record(session, user, "set_contact", "patient", patient.id, channel=channel)
    return patient


def result_recipient(ctx: AppContext, patient: Patient) -> Recipient:
    """Where "your result is ready" goes: the channel the patient chose, on their address.

    An e-mail choice without an address (impossible through :func:`set_contact`, but a
    row may be edited by hand) falls back to the phone rather than telling no one.
    """
    email = email_of(ctx, patient)
    if patient.notify_channel == "email" and email:
        return Recipient("email", email)
    return Recipient("sms", ctx.cipher.decrypt(patient.phone_enc, "patients.phone"))


class OneTimeCodeRequiredError(UnauthorizedError):
    """The kit code has had its free attempts: the log-in needs the code sent to the patient."""

    code = "one_time_code_required"


def log_in_by_code(
    session: Session,
    ctx: AppContext,
    code: str,
    national_id: str,
    one_time_code: str | None = None,
) -> User:
    """The patient who claimed ``code``, if ``national_id`` is theirs (401 otherwise); for a
    kit nobody has claimed yet, the registered patient with ``national_id``, confirmed by
    the one-time code texted to their phone (a returning patient starts a new test
    without a user name or password).

    Throttled per kit code (the caller throttles per address): after the first few
    attempts a one-time code goes to the phone registered by the patient who claimed the
    unit, and the log-in needs it too; after more, the kit code is locked out for a while.
    Someone holding a discarded cassette then needs the patient's phone, not only their
    birth date and area. A new kit proves nothing about who holds it, so its log-in
    always needs the texted code, and answers alike whether or not the ID number is
    registered.
    """
    state = ctx.throttle.kit_code_attempt(code)
    refused = UnauthorizedError(
        "this code was not scanned by a patient with this national ID number"
    )
    patient = _claimant(session, code)
    new_kit = patient is None and _unclaimed(session, code)
    if new_kit:
        patient = _registered(session, ctx, national_id)
    needs_code = state.otp_required or new_kit
    if needs_code and not one_time_code:
        if patient is not None:
            _send_one_time_code(ctx, code, patient)
        # The same answer whether or not anyone claimed the code.
        raise OneTimeCodeRequiredError(
            "a one-time code was sent to the phone registered with this test; "
            "send it as one_time_code with your national ID number"
        )
    try:
        user = _patient_user(session, ctx, patient, national_id)
        if user is None:
            raise refused
        if needs_code:
            try:
                ctx.one_time_codes.verify(code, one_time_code or "")
            except OneTimeCodeError as exc:
                raise UnauthorizedError(str(exc)) from None
    except UnauthorizedError:
        ctx.throttle.kit_code_failed(code)
        raise
    ctx.throttle.kit_code_succeeded(code)
    return user


def _claimant(session: Session, code: str) -> Patient | None:
    try:
        unit, _batch, _product = find_unit(session, code)
    except (NotFoundError, InvalidError, ValueError):
        return None
    test = test_queries.test_for_unit(session, unit.id)
    return session.get(Patient, test.patient_id) if test else None


def _unclaimed(session: Session, code: str) -> bool:
    """``code`` is a unit issued to a kit that nobody has started a test with."""
    try:
        unit, _batch, _product = find_unit(session, code)
    except (NotFoundError, InvalidError, ValueError):
        return False
    return test_queries.test_for_unit(session, unit.id) is None


def _registered(session: Session, ctx: AppContext, national_id: str) -> Patient | None:
    try:
        return queries.patient_by_id_hash(session, id_hash(ctx, validate_national_id(national_id)))
    except ValueError:
        return None


def _patient_user(
    session: Session, ctx: AppContext, patient: Patient | None, national_id: str
) -> User | None:
    try:
        national_id = validate_national_id(national_id)
    except ValueError:
        return None
    if patient is None or patient.national_id_hash != id_hash(ctx, national_id):
        return None
    user = session.get(User, patient.user_id)
    return user if user is not None and user.active else None


def _send_one_time_code(ctx: AppContext, code: str, patient: Patient) -> None:
    phone = ctx.cipher.decrypt(patient.phone_enc, "patients.phone")
    if ctx.notifier is None:
        ctx.notifier = default_notifier()
    try:
        ctx.one_time_codes.send(code, ctx.notifier, "sms", phone)
    except ResendTooSoonError:
        pass  # the code sent a moment ago still works
    except NotifierUnavailableError:
        log.exception("a one-time code could not be sent")


def claim(session: Session, ctx: AppContext, user: Caller, body: Claim) -> SelfTest:
    """Step 6: claim the scanned unit for this patient, locate them, tell their region."""
    patient = patient_of(session, user)
    unit, batch, product = find_unit(session, body.code, lock=True)
    state = effective_state(unit.state, batch.expiry_date)
    if state == UnitState.revoked:
        reason = f": {unit.revoked_reason}" if unit.revoked_reason else ""
        raise ConflictError(f"this unit was revoked by its manufacturer{reason}; do not use it")
    if state == UnitState.expired:
        raise ConflictError(f"this unit expired on {batch.expiry_date.isoformat()}; do not use it")
    if state != UnitState.unused:
        raise ConflictError("this code has already been used; a code serves one test only")
    region = locate(ctx, body.latitude, body.longitude)
    test = SelfTest(
        unit_id=unit.id,
        patient_id=patient.id,
        product_id=product.id,
        batch_id=batch.id,
        region_code=region,
        latitude=round(body.latitude, LOCATION_DECIMALS),
        longitude=round(body.longitude, LOCATION_DECIMALS),
    )
    lifecycle.claim(session, test)
    session.add(test)
    session.flush()
    record(session, user, "claim", "self_test", test.id, unit=unit.id, region=region)
    publish(
        session,
        TEST_STARTED,
        region,
        {
            "test_id": test.id,
            "region_code": region,
            "product_code": product.product_code,
            "lot_number": batch.lot_number,
            "claimed_at": rfc3339(test.claimed_at),
        },
    )
    return test


def get_test(session: Session, user: Caller, scope: Scope, test_id: int) -> SelfTest:
    """The test, if the caller is its patient or a clinician/CDC officer of its region."""
    test = session.get(SelfTest, test_id)
    if test is None:
        raise NotFoundError(f"no test with id {test_id}")
    if user.role == Role.patient:
        if patient_of(session, user).id != test.patient_id:
            raise NotFoundError(f"no test with id {test_id}")  # not yours: as if absent
    elif user.role in (Role.clinician, Role.cdc_officer):
        scope.check(test.region_code, "this test")
    else:
        raise ForbiddenError("only the patient and the health staff of its region see a test")
    return test


def view_test(session: Session, user: Caller, scope: Scope, test_id: int) -> TestOut:
    """Step 9: one test as the caller may see it (staff also see the latest proposal)."""
    test = get_test(session, user, scope, test_id)
    return test_view(session, test, staff=user.role != Role.patient)


def list_tests(
    session: Session,
    user: Caller,
    scope: Scope,
    *,
    status: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[TestOut]:
    """A patient's own tests, or those of a clinician's / CDC officer's regions, newest first."""
    if user.role == Role.patient:
        return own_tests(session, user, status=status, before_id=before_id, limit=limit)
    rows = test_queries.self_tests(
        session, regions=scope.regions, status=status, before_id=before_id, limit=limit
    )
    return [test_view(session, t, staff=True) for t in rows]


def log_in_by_code_token(
    session: Session,
    ctx: AppContext,
    code: str,
    national_id: str,
    one_time_code: str | None = None,
) -> tuple[str, datetime, User]:
    """Step 5: a token for the patient who claimed ``code`` (see ``log_in_by_code``)."""
    user = log_in_by_code(session, ctx, code, national_id, one_time_code)
    token, expires = accounts.issue_token(session, ctx, user)
    record(session, user, "log_in_by_code", "user", user.id)
    return token, expires, user


def own_tests(
    session: Session,
    user: Caller,
    *,
    status: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[TestOut]:
    """The patient's own tests, newest first."""
    rows = test_queries.self_tests(
        session,
        patient_id=patient_of(session, user).id,
        status=status,
        before_id=before_id,
        limit=limit,
    )
    return [test_view(session, t, staff=False) for t in rows]


def own_test(session: Session, user: Caller, test_id: int) -> SelfTest:
    """The caller's own test (a patient's), or 404 as if absent."""
    return get_test(session, user, Scope(frozenset()), test_id)


def sample_applied(
    session: Session, user: Caller, test_id: int, applied_at: datetime | None
) -> TestOut:
    """The patient applied the sample (now unless ``applied_at``): the read window starts."""
    test = own_test(session, user, test_id)
    lifecycle.sample_applied(session, user, test, applied_at or utcnow())
    return test_view(session, test, staff=False)


def own_test_and_kit(
    session: Session, user: Caller, test_id: int
) -> tuple[TestOut, KitDescription]:
    """The caller's own test as they see it, with its kit's description (the test page)."""
    test = own_test(session, user, test_id)
    product = session.get(Product, test.product_id)
    assert product is not None
    return test_view(session, test, staff=False), product.kit
