"""The patient is told on the channel they chose: a released result's message goes by e-mail
to a real SMTP server on loopback when they chose e-mail, by SMS to a loopback gateway when
they chose SMS, and a change on their account applies to the next result."""

from __future__ import annotations

import email
import json
from collections.abc import Callable
from email.policy import default
from typing import Any

import pytest

from api.errors import InvalidError
from api.identity import make_test_id
from api.outbox.channels import transports
from api.outbox.settings import OutboxSettings
from api.patients import signup
from api.patients.schemas import PatientContact, PatientRegister
from api.patients.service import register, set_contact

MAIL = "chen.jing@example.org"


def _patient(world: Any, n: int, **contact: Any) -> Any:
    _patient, user = register(
        world.session,
        world.ctx,
        PatientRegister(
            name=f"Chen Jing {n}",
            national_id=make_test_id(700 + n),
            phone=f"+86 139 0070 {n:04d}",
            username=f"chen-jing-{n}",
            password="correct horse battery",
            **contact,
        ),
    )
    world.session.commit()
    return user


def test_the_result_message_goes_by_the_channel_the_patient_chose(
    world: Any,
    flow: Any,
    receiver: Callable[..., Any],
    smtp_server: Any,
    fast_retries: OutboxSettings,
    deliver_until: Callable[..., Any],
) -> None:
    inbox, smtp_port = smtp_server
    gateway = receiver()
    config = fast_retries.model_copy(
        update={
            "sms_gateway_url": gateway.url,
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_port,
            "smtp_from": "Vigil <no-reply@vigil.test>",
        }
    )
    by_mail = _patient(world, 1, channel="email", email=MAIL)
    by_text = _patient(world, 2)  # SMS, the default
    flow.released("negative", 3, patient=by_mail)
    flow.released("negative", 4, patient=by_text)

    def both() -> bool:
        return len(inbox.messages) == 1 and len(gateway.unique("idempotency-key")) == 1

    deliver_until(world.ctx, transports(config), config, both)
    (envelope,) = inbox.messages
    assert envelope.rcpt_tos == [MAIL]
    mail = email.message_from_bytes(envelope.content, policy=default)
    assert "/r/" in mail.get_body().get_content()  # type: ignore[union-attr]
    (sms,) = gateway.unique("idempotency-key")
    assert json.loads(sms.body)["to"] == "+8613900700002"

    # The SMS patient switches to e-mail on their account page: the next result goes there.
    set_contact(world.session, world.ctx, by_text, PatientContact(channel="email", email=MAIL))
    world.session.commit()
    flow.released("negative", 5, patient=by_text)
    deliver_until(world.ctx, transports(config), config, lambda: len(inbox.messages) == 2)
    assert inbox.messages[1].rcpt_tos == [MAIL]
    assert len(gateway.unique("idempotency-key")) == 1  # no second SMS


def test_e_mail_needs_an_address(world: Any) -> None:
    body = PatientRegister(
        name="Chen Jing",
        national_id=make_test_id(799),
        phone="+86 139 0070 0799",
        username="chen-jing-799",
        password="correct horse battery",
        channel="email",
    )
    with pytest.raises(InvalidError, match="email"):
        signup.sign_up(world.session, world.ctx, body)
    user = _patient(world, 8)
    with pytest.raises(InvalidError, match="email"):
        set_contact(world.session, world.ctx, user, PatientContact(channel="email"))


def test_the_api_changes_the_channel(world: Any, client: Any) -> None:
    token = client.post(
        "/api/auth/token", data={"username": "patient0", "password": "correct horse battery"}
    ).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/patients/me", headers=auth).json()["channel"] == "sms"
    refused = client.put("/api/patients/me/contact", json={"channel": "email"}, headers=auth)
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    changed = client.put(
        "/api/patients/me/contact", json={"channel": "email", "email": MAIL}, headers=auth
    )
    assert changed.status_code == 200, changed.text
    me = client.get("/api/patients/me", headers=auth).json()
    assert me["channel"] == "email"
    assert me["email_masked"].endswith(MAIL[-4:])
    assert MAIL not in json.dumps(me)  # masked, like the phone
