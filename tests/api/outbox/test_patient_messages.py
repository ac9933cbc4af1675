"""Patient messages through the outbox: SMS to a loopback HTTP gateway, e-mail to a real SMTP
server on loopback. They carry a link and nothing about the result or the person."""

from __future__ import annotations

import email
import json
import re
from collections.abc import Callable
from datetime import date
from email.policy import default
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from sqlalchemy.orm import Session

from api.context import AppContext
from api.interop.signing import verify
from api.notifications.schemas import LinkFactors, Recipient
from api.notifications.service import announce_release, notify_patient, open_result_link
from api.outbox import service
from api.outbox.channels import transports
from api.outbox.schemas import EndpointCreate
from api.outbox.settings import OutboxSettings
from api.public_ids import CDC_OFFICE, encode

PHONE = "+8613800138000"
BIRTH_DATE = date(1990, 3, 7)
LINK = re.compile(r"http://127\.0\.0\.1:8000/r/([A-Za-z0-9_-]+)")


def personal_and_result_words(world: Any) -> list[str]:
    nid = world.national_id_a
    return [
        "positive", "negative", "invalid", "detected",  # the result, in any form
        "Patient 0", nid, nid[-4:], BIRTH_DATE.isoformat(), "1990", PHONE, world.codes[0],
    ]  # fmt: skip


def test_sms_and_email_carry_only_a_link_that_opens_with_the_second_factor(
    ctx: AppContext,
    session: Session,
    world: Any,
    receiver: Callable[..., Any],
    smtp_server: Any,
    fast_retries: OutboxSettings,
    deliver_until: Callable[..., Any],
) -> None:
    inbox, smtp_port = smtp_server
    gateway = receiver(fail_first=1)  # the gateway refuses the first request: retried
    config = fast_retries.model_copy(
        update={
            "sms_gateway_url": gateway.url,
            "sms_gateway_token": "gateway-token",
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_port,
            "smtp_from": "Vigil <no-reply@vigil.test>",
        }
    )
    factors = LinkFactors(world.codes[0], birth_date=BIRTH_DATE, national_id=world.national_id_a)
    for recipient, updated in (
        (Recipient("sms", PHONE), False),
        (Recipient("email", "patient0@example.org"), True),
        (Recipient("email", "nobody@refused.example"), False),
    ):
        notify_patient(
            session,
            ctx,
            result_id="res-1",
            patient_key="pat-1",
            region_code=world.region_a,
            recipient=recipient,
            factors=factors,
            updated=updated,
        )
    session.commit()

    def settled() -> bool:
        session.expire_all()
        failed = service.failures(session, channels=["email"], dead_only=True)
        # The gateway refuses the first try: the SMS is settled only once its retry arrived
        # (counting distinct messages alone was true after the refused try already).
        return len(gateway.received) == 2 and len(inbox.messages) == 1 and bool(failed)

    deliver_until(ctx, transports(config), config, settled)

    sms = gateway.unique("idempotency-key")[0]
    assert sms.headers["authorization"] == "Bearer gateway-token"
    payload = json.loads(sms.body)
    assert payload["to"] == PHONE
    assert len(gateway.received) == 2
    (envelope,) = inbox.messages
    assert envelope.rcpt_tos == ["patient0@example.org"]
    mail = email.message_from_bytes(envelope.content, policy=default)
    assert mail["Subject"] == "Your self-test result"
    mail_text = mail.get_body().get_content()  # type: ignore[union-attr]
    assert "updated" in mail_text
    assert LINK.search(payload["text"])
    assert LINK.search(mail_text)
    for text in (payload["text"], mail_text, mail["Subject"]):
        for word in personal_and_result_words(world):
            assert word.lower() not in text.lower(), (word, text)
    # The refused address is an operator's to see, not retried forever.
    (failure,) = service.failures(session, channels=["email"])
    assert failure.status == "dead"
    assert failure.attempts == 1
    assert "550" in (failure.last_error or "") or "refused" in (failure.last_error or "")

    token = LINK.search(payload["text"]).group(1)  # type: ignore[union-attr]
    assert open_result_link(session, ctx, token, world.codes[0], "1990-03-07").result_id == "res-1"
    wrong = open_result_link(session, ctx, token, world.codes[0], "1990-03-08")
    assert wrong.refusal == "mismatch"


def test_announcing_a_release_and_its_correction_tells_agencies_and_the_patient_in_order(
    ctx: AppContext,
    session: Session,
    world: Any,
    receiver: Callable[..., Any],
    fast_retries: OutboxSettings,
    deliver_until: Callable[..., Any],
    released_result: Callable[..., Any],
) -> None:
    hook, gateway = receiver(), receiver(fail_first=1)
    issued = service.create_endpoint(
        session,
        ctx,
        world.operator,
        EndpointCreate(
            name="national",
            url=hook.url,
            format="fhir",
            cdc_office_id=encode(CDC_OFFICE, world.office_national.id),
        ),
    )
    first = released_result("pat-1", 0)
    correction = released_result(
        "pat-1", 1, result="negative", report_status="corrected", result_id=first.result_id
    )
    for version in (first, correction):
        announced = announce_release(session, ctx, version, world.region_a)
        assert announced.agencies is not None
        assert announced.patient is not None
        session.commit()
    config = fast_retries.model_copy(update={"sms_gateway_url": gateway.url})
    deliver_until(
        ctx,
        transports(config),
        config,
        lambda: len(hook.unique()) == 2 and len(gateway.unique("idempotency-key")) == 2,
    )
    statuses = [
        Bundle.model_validate_json(item.body).entry[-1].resource.status  # type: ignore[index, union-attr]
        for item in hook.unique()
    ]
    assert statuses == ["final", "corrected"]
    for item in hook.received:
        verify(item.headers, item.body, [issued.secret])
    texts = [json.loads(item.body)["text"] for item in gateway.unique("idempotency-key")]
    assert "is ready" in texts[0]
    assert "has been updated" in texts[1]
    for text in texts:
        token = LINK.search(text).group(1)  # type: ignore[union-attr]
        assert "UNIT-1" not in text
        opened = open_result_link(session, ctx, token, "unit-1", "1234")
        assert opened.result_id == first.result_id
