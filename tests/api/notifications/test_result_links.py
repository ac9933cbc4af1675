"""The link a patient gets opens their result only with the kit code and a second factor."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.context import AppContext
from api.db.base import utcnow
from api.errors import InvalidError
from api.notifications.schemas import LinkFactors, Recipient
from api.notifications.service import notify_patient, open_result_link
from api.notifications.settings import NotificationSettings
from api.notifications.tables import ResultLink
from api.outbox.service import BODY_CONTEXT
from api.outbox.tables import OutboxDelivery

BIRTH_DATE = date(1990, 3, 7)
NATIONAL_ID = "11010519491231002X"


def sent_token(session: Session, ctx: AppContext, kit_code: str, **factors: Any) -> str:
    """Queue a notification and read the token back from the message body."""
    message = notify_patient(
        session,
        ctx,
        result_id="res-7",
        patient_key="pat-7",
        region_code="R",
        recipient=Recipient("sms", "+8613800138000"),
        factors=LinkFactors(kit_code, **factors),
    )
    session.commit()
    sealed = session.scalars(
        select(OutboxDelivery.body_enc).where(OutboxDelivery.message_id == message.id)
    ).one()
    body = ctx.cipher.decrypt(sealed, BODY_CONTEXT)
    match = re.search(r"/r/([A-Za-z0-9_-]+)", body)
    assert match is not None
    return match.group(1)


def test_either_second_factor_opens_it_as_typed(ctx: AppContext, session: Session) -> None:
    token = sent_token(session, ctx, "K7P2-Q9XW", birth_date=BIRTH_DATE, national_id=NATIONAL_ID)
    for kit_code, factor in (
        ("K7P2-Q9XW", "1990-03-07"),
        ("k7p2q9xw", " 1990-03-07 "),
        ("K7P2 Q9XW", "002X"),
        ("K7P2-Q9XW", "002x"),
    ):
        assert open_result_link(session, ctx, token, kit_code, factor).result_id == "res-7"


def test_a_wrong_kit_code_or_factor_is_refused_and_counted_until_locked(
    ctx: AppContext, session: Session
) -> None:
    token = sent_token(session, ctx, "K7P2-Q9XW", birth_date=BIRTH_DATE)
    config = NotificationSettings(link_max_failures=3)
    # The right factor with another unit's code, and the right code with the ID digits it
    # was not given: both refused.
    for kit_code, factor in (("K7P2-Q9XV", "1990-03-07"), ("K7P2-Q9XW", "002X")):
        check = open_result_link(session, ctx, token, kit_code, factor, config=config)
        assert (check.ok, check.refusal) == (False, "mismatch")
        session.commit()  # as the route does: the count must survive the refusal
    third = open_result_link(session, ctx, token, "K7P2-Q9XW", "1990-03-08", config=config)
    assert third.refusal == "locked"
    session.commit()
    # Locked: not even the right answer opens it now.
    locked = open_result_link(session, ctx, token, "K7P2-Q9XW", "1990-03-07", config=config)
    assert locked.refusal == "locked"


def test_unknown_and_expired_links_say_so(ctx: AppContext, session: Session) -> None:
    token = sent_token(session, ctx, "K7P2-Q9XW", birth_date=BIRTH_DATE)
    assert open_result_link(session, ctx, "x" + token, "K7P2-Q9XW", "1990-03-07").refusal == (
        "unknown"
    )
    later = utcnow() + timedelta(days=31)
    expired = open_result_link(session, ctx, token, "K7P2-Q9XW", "1990-03-07", now=later)
    assert expired.refusal == "unknown"


def test_nothing_in_the_link_table_is_readable(ctx: AppContext, session: Session) -> None:
    token = sent_token(session, ctx, "K7P2-Q9XW", birth_date=BIRTH_DATE, national_id=NATIONAL_ID)
    link = session.scalars(select(ResultLink)).one()
    stored = " ".join([link.token_hash, link.kit_code_hash, *link.factor_hashes])
    for secret in (token, "K7P2", "1990", "002X", NATIONAL_ID):
        assert secret not in stored
    assert len(link.factor_hashes) == 2


def test_a_link_needs_a_second_factor(ctx: AppContext, session: Session) -> None:
    with pytest.raises(InvalidError, match="birth date or an ID number"):
        sent_token(session, ctx, "K7P2-Q9XW")
