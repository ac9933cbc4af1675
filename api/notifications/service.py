"""Telling a patient their result is ready, and opening the link they get.

The message carries no result and no personal data: only a link. The link's token is
random and stored hashed; it opens the result only with the unit's kit code plus the
patient's date of birth or the last four characters of their ID number, each kept as a
keyed hash. Wrong tries are counted and lock the link.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets as random
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.context import AppContext
from api.db.base import utcnow
from api.errors import InvalidError
from api.interop.codes import CodeMapping
from api.interop.schemas import ReleasedResult
from api.notifications.schemas import LinkCheck, LinkFactors, Recipient
from api.notifications.settings import NotificationSettings
from api.notifications.tables import ResultLink
from api.outbox.channels import EMAIL, SMS
from api.outbox.service import DESTINATION_CONTEXT, NewDelivery, enqueue, enqueue_release
from api.outbox.settings import OutboxSettings
from api.outbox.tables import OutboxMessage

READY = "patient.result_ready"
UPDATED = "patient.result_updated"
ID_DIGITS = 4
"""How many trailing characters of the ID number serve as a second factor."""

TEXTS = {
    READY: "Your self-test result is ready. Open {link} and enter the code printed on your "
    "test with your date of birth or the last 4 characters of your ID number.",
    UPDATED: "Your self-test result has been updated. Open {link} and enter the code printed "
    "on your test with your date of birth or the last 4 characters of your ID number.",
}


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def _canonical(value: str) -> str:
    # The code as printed or typed: case, spaces and dashes do not matter.
    text = unicodedata.normalize("NFKC", value)
    return "".join(ch for ch in text if ch.isalnum()).upper()


def _hash(ctx: AppContext, token_hash: str, kind: str, value: str) -> str:
    # Bound to this link: equal birth dates of two patients hash differently.
    return ctx.cipher.lookup_hash(_canonical(value), f"result-link:{token_hash}:{kind}")


def _factor_hashes(ctx: AppContext, token_hash: str, factors: LinkFactors) -> list[str]:
    hashes = []
    if factors.birth_date is not None:
        hashes.append(_hash(ctx, token_hash, "factor", factors.birth_date.isoformat()))
    if factors.national_id is not None and len(_canonical(factors.national_id)) >= ID_DIGITS:
        hashes.append(
            _hash(ctx, token_hash, "factor", _canonical(factors.national_id)[-ID_DIGITS:])
        )
    return hashes


def _second_factor_forms(value: str) -> list[str]:
    """What a typed second factor may be: a date (in ISO form) or the ID's last characters."""
    forms = [_canonical(value)[-ID_DIGITS:]]
    with contextlib.suppress(ValueError):
        forms.append(date.fromisoformat(value.strip()).isoformat())
    return forms


def notify_patient(
    session: Session,
    ctx: AppContext,
    *,
    result_id: str,
    patient_key: str,
    region_code: str,
    recipient: Recipient,
    factors: LinkFactors,
    updated: bool = False,
    config: NotificationSettings | None = None,
    now: datetime | None = None,
) -> OutboxMessage:
    """Queue a message telling the patient a result is ready (or was updated).

    Written to the outbox in the caller's transaction; sent after commit, with retries.

    Parameters
    ----------
    result_id
        The result's public id (what the link opens).
    patient_key
        The patient's public id: the patient's messages go out in order.
    recipient
        The channel the patient chose and their address on it.
    factors
        The unit's kit code and the patient's birth date and/or ID number.
    updated
        ``True`` for a correction or withdrawal.
    """
    config = config or NotificationSettings()
    if not factors.kit_code.strip() or not _factor_hashes(ctx, "", factors):
        raise InvalidError("a result link needs the kit code and a birth date or an ID number")
    if recipient.channel not in (SMS, EMAIL) or not recipient.address.strip():
        raise InvalidError("the patient needs an SMS number or an e-mail address to be told")
    now = now or utcnow()
    token = random.token_urlsafe(16)
    token_hash = _token_hash(token)
    session.add(
        ResultLink(
            token_hash=token_hash,
            result_id=result_id,
            kit_code_hash=_hash(ctx, token_hash, "kit", factors.kit_code),
            factor_hashes=_factor_hashes(ctx, token_hash, factors),
            expires_at=now + timedelta(hours=config.link_ttl_hours),
            failed_attempts=0,
            created_at=now,
        )
    )
    kind = UPDATED if updated else READY
    link = ctx.settings.public_base_url.rstrip("/") + config.link_path + token
    return enqueue(
        session,
        ctx,
        kind=kind,
        aggregate_key=patient_key,
        region_code=region_code,
        summary={"result_id": result_id, "channel": recipient.channel},
        subject_key=None,
        deliveries=[
            NewDelivery(
                channel=recipient.channel,
                subscriber=recipient.channel,
                content_type="text/plain; charset=utf-8",
                body=TEXTS[kind].format(link=link),
                destination_enc=ctx.cipher.encrypt(recipient.address.strip(), DESTINATION_CONTEXT),
            )
        ],
    )


def open_result_link(
    session: Session,
    ctx: AppContext,
    token: str,
    kit_code: str,
    second_factor: str,
    *,
    config: NotificationSettings | None = None,
    now: datetime | None = None,
) -> LinkCheck:
    """Check a link's token, kit code and second factor; return the result's id or why not.

    A wrong try is counted on the link, so the caller must commit even when refused
    (then answer with the refusal). Every refusal says the same to the person typing;
    ``refusal`` is for the caller's status code and log.
    """
    config = config or NotificationSettings()
    now = now or utcnow()
    token_hash = _token_hash(token)
    link = session.scalars(select(ResultLink).where(ResultLink.token_hash == token_hash)).first()
    if link is None or link.expires_at <= now:
        return LinkCheck(None, "unknown")
    if link.failed_attempts >= config.link_max_failures:
        return LinkCheck(None, "locked")
    kit_ok = hmac.compare_digest(link.kit_code_hash, _hash(ctx, token_hash, "kit", kit_code))
    offered = [
        _hash(ctx, token_hash, "factor", form) for form in _second_factor_forms(second_factor)
    ]
    factor_ok = any(
        hmac.compare_digest(stored, candidate)
        for stored in link.factor_hashes
        for candidate in offered
    )
    if not (kit_ok and factor_ok):
        link.failed_attempts += 1
        session.flush()
        locked = link.failed_attempts >= config.link_max_failures
        return LinkCheck(None, "locked" if locked else "mismatch")
    link.last_opened_at = now
    session.flush()
    return LinkCheck(link.result_id)


@dataclass(frozen=True)
class Announced:
    """What :func:`announce_release` queued: the agencies' message and the patient's."""

    agencies: OutboxMessage | None
    patient: OutboxMessage | None


def default_recipient(released: ReleasedResult) -> Recipient | None:
    """The patient's SMS number, else their e-mail address, else nobody."""
    if released.patient.phone:
        return Recipient("sms", released.patient.phone)
    if released.patient.email:
        return Recipient("email", released.patient.email)
    return None


def announce_release(
    session: Session,
    ctx: AppContext,
    released: ReleasedResult,
    region_code: str,
    *,
    recipient: Recipient | None = None,
    outbox_config: OutboxSettings | None = None,
    config: NotificationSettings | None = None,
    mapping: CodeMapping | None = None,
    test_id: int | None = None,
) -> Announced:
    """The one call a release, correction or withdrawal makes, in its own transaction.

    Agencies in scope get the standard message (positives, and every later version; see
    :func:`api.outbox.service.enqueue_release`); the patient is told on ``recipient``
    (:func:`default_recipient` when ``None``) with a link that opens with the unit's code
    and their birth date or ID digits. The patient gets no message without an address or
    without either second factor (``Announced.patient`` is then ``None``). Nothing is sent
    before the caller commits.
    """
    agencies = enqueue_release(
        session, ctx, released, region_code, config=outbox_config, mapping=mapping, test_id=test_id
    )
    recipient = recipient or default_recipient(released)
    factors = LinkFactors(
        kit_code=released.unit_code,
        birth_date=released.patient.birth_date,
        national_id=released.patient.national_id,
    )
    patient = None
    if recipient is not None and _factor_hashes(ctx, "", factors):
        patient = notify_patient(
            session,
            ctx,
            result_id=released.result_id,
            patient_key=released.patient.id,
            region_code=region_code,
            recipient=recipient,
            factors=factors,
            updated=released.report_status != "final",
            config=config,
        )
    return Announced(agencies, patient)
