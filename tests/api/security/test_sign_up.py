"""Sign-up tells no one whether a national ID number, business licence or user name is
registered (issue 11).

Three sign-ups, one new, one with a registered ID number (or licence), one with a taken user
name, must get the same answer; what differs goes to a phone (or an e-mail address), and only
the new one opens an account.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from smtp_loopback import SmtpInbox, smtp_inbox
from sqlalchemy import func, select

from api.accounts.tables import User
from api.identity import make_test_id as make_id
from api.organisations.tables import Manufacturer
from api.outbox.channels import transports
from api.outbox.notifier import TransportNotifier
from api.outbox.settings import OutboxSettings
from api.patients import signup
from api.patients.tables import Patient
from api.signup import manufacturers as org_signup

PASSWORD = "correct horse battery"


def make_phone(n: int) -> str:
    return f"+8613800138{n:03d}"  # as the world's patients' phones, as stored


class Phones:
    """The SMS gateway, as the patients' phones see it."""

    def __init__(self) -> None:
        self.texts: list[tuple[str, str]] = []

    def send(self, channel: str, address: str, text: str) -> None:
        assert channel == "sms"
        self.texts.append((address, text))

    def code_for(self, phone: str) -> str:
        address, text = self.texts[-1]
        assert address == phone, self.texts
        return text.split("code is ")[1].split(".")[0]


def body(national_id: str, username: str, phone: str) -> dict[str, Any]:
    return {
        "name": "Wang Fang",
        "national_id": national_id,
        "phone": phone,
        "username": username,
        "password": PASSWORD,
    }


def counts(world: Any) -> tuple[int, int]:
    session = world.session
    session.expire_all()
    users = session.scalar(select(func.count()).select_from(User))
    patients = session.scalar(select(func.count()).select_from(Patient))
    return users, patients


def log_in(client: TestClient, username: str) -> Any:
    return client.post("/api/auth/token", data={"username": username, "password": PASSWORD})


def test_the_answer_is_the_same_whoever_is_registered(client: TestClient, world: Any) -> None:
    phones = Phones()
    world.ctx.notifier = phones
    new_phone, taken_phone = make_phone(50), make_phone(51)
    before = counts(world)

    registered_id = client.post(
        "/api/patients", json=body(world.national_id_a, "brand-new", make_phone(52))
    )
    taken_name = client.post("/api/patients", json=body(make_id(61), "patient0", taken_phone))
    assert counts(world) == before  # neither opened anything
    new = client.post("/api/patients", json=body(make_id(60), "wangfang", new_phone))

    answers = {(r.status_code, r.content) for r in (registered_id, taken_name, new)}
    assert len(answers) == 1, answers
    assert new.status_code == 202
    assert "phone" in new.json()["detail"]
    # Out of band: the ID's real owner hears of the try on their registered phone; the
    # taken name is told to the phone given; the new sign-up gets its code.
    assert phones.texts[0] == (make_phone(0), signup.ID_TRIED)
    assert phones.texts[1] == (taken_phone, signup.NAME_TAKEN)
    code = phones.code_for(new_phone)

    # Not usable before it is confirmed, and its log-in refusal is the unknown user's.
    assert log_in(client, "wangfang").json()["detail"] == log_in(client, "nobody").json()["detail"]
    wrong = client.post("/api/patients/confirm", json={"username": "wangfang", "code": "000000"})
    unknown = client.post("/api/patients/confirm", json={"username": "nobody", "code": code})
    assert wrong.status_code == unknown.status_code == 422
    assert wrong.json()["detail"] == unknown.json()["detail"]

    confirmed = client.post("/api/patients/confirm", json={"username": "wangfang", "code": code})
    assert confirmed.status_code == 201, confirmed.text
    assert confirmed.json()["national_id_masked"].endswith(make_id(60)[-4:])
    assert log_in(client, "wangfang").status_code == 200
    again = client.post("/api/patients/confirm", json={"username": "wangfang", "code": code})
    assert again.status_code == 422


def test_an_unconfirmed_sign_up_frees_its_id_number_once_its_code_expired(
    client: TestClient, world: Any
) -> None:
    phones = Phones()
    world.ctx.notifier = phones
    national_id = make_id(70)
    first = client.post("/api/patients", json=body(national_id, "first-try", make_phone(70)))
    assert first.status_code == 202
    waiting = client.post("/api/patients", json=body(national_id, "second-try", make_phone(71)))
    assert waiting.status_code == 202
    assert phones.texts[-1] == (make_phone(70), signup.ID_TRIED)  # still the first one's

    session = world.session
    pending = session.scalar(select(User).where(User.username == "first-try"))
    assert pending is not None
    assert not pending.active
    ttl = world.ctx.one_time_codes.policy.ttl_s
    pending.created_at = pending.created_at - timedelta(seconds=ttl + 1)
    session.flush()

    later = client.post("/api/patients", json=body(national_id, "second-try", make_phone(71)))
    assert later.status_code == 202, later.text
    code = phones.code_for(make_phone(71))
    confirm = {"username": "second-try", "code": code}
    assert client.post("/api/patients/confirm", json=confirm).status_code == 201
    session.expire_all()
    assert session.scalar(select(User).where(User.username == "first-try")) is None


def test_invalid_details_are_refused_alike_for_everyone(client: TestClient, world: Any) -> None:
    world.ctx.notifier = Phones()
    weak = {**body(world.national_id_a, "patient0", make_phone(80)), "password": "password"}
    response = client.post("/api/patients", json=weak)
    assert response.status_code == 422
    assert "password" in response.json()["detail"]


def test_without_a_text_gateway_sign_up_is_unavailable_not_silent(
    client: TestClient, world: Any
) -> None:
    before = counts(world)
    response = client.post("/api/patients", json=body(make_id(90), "no-gateway", make_phone(90)))
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert counts(world) == before  # no account waits for a code that never went


def manufacturer(n: int, username: str, licence: str | None = None) -> dict[str, Any]:
    return {
        "name": f"Maker {n}",
        "business_licence_no": licence or f"91310000-{n:04d}",
        "device_certificates": [f"NMPA-2024-{n:04d}"],
        "contact_email": f"reg{n}@maker.example",
        "username": username,
        "password": PASSWORD,
    }


@pytest.fixture
def inbox(world: Any) -> Iterator[SmtpInbox]:
    """The manufacturers' mailboxes: a real SMTP server on loopback, reached by the
    outbox's own SMTP channel."""
    with smtp_inbox() as (server, port):
        config = OutboxSettings(smtp_host="127.0.0.1", smtp_port=port)
        world.ctx.notifier = TransportNotifier(transports(config))
        yield server


def e_mailed_code(inbox: SmtpInbox, address: str) -> str:
    to, subject, text = inbox.mails()[-1]
    assert to == address, inbox.mails()
    assert "result" not in subject.lower()
    return text.split("code is ")[1].split(".")[0]


def manufacturer_counts(world: Any) -> tuple[int, int]:
    session = world.session
    session.expire_all()
    return (
        session.scalar(select(func.count()).select_from(User)),
        session.scalar(select(func.count()).select_from(Manufacturer)),
    )


def answer(response: Any) -> tuple[int, bytes, tuple[str, ...]]:
    """What a caller can compare: status, body, and which headers came (not their dates)."""
    return response.status_code, response.content, tuple(sorted(response.headers.keys()))


def test_manufacturer_sign_up_answers_alike_whoever_is_registered(
    client: TestClient, world: Any, inbox: SmtpInbox
) -> None:
    operator = world.headers(world.operator)
    registered = world.manufacturer  # licence BL-0001, contact qa@maker.example
    before = manufacturer_counts(world)

    licence_taken = client.post(
        "/api/manufacturers", json=manufacturer(1, "brand-new", registered.business_licence_no)
    )
    name_taken = client.post("/api/manufacturers", json=manufacturer(2, "patient0"))
    assert manufacturer_counts(world) == before  # neither opened anything
    new = client.post("/api/manufacturers", json=manufacturer(3, "maker-three"))

    answers = {answer(r) for r in (licence_taken, name_taken, new)}
    assert len(answers) == 1, answers
    assert new.status_code == 202
    assert set(new.json()) == {"detail"}
    assert "e-mail" in new.json()["detail"]
    # Out of band: the licence's registered contact hears of the try, the taken name goes
    # to the address given, the new sign-up gets its code.
    mails = inbox.mails()
    assert mails[0][0] == registered.contact_email
    assert mails[0][2] == org_signup.LICENCE_TRIED
    assert mails[1][0] == "reg2@maker.example"
    assert mails[1][2] == org_signup.NAME_TAKEN
    code = e_mailed_code(inbox, "reg3@maker.example")

    # Unconfirmed: no log-in (refused as an unknown user is), hidden from operators.
    assert log_in(client, "maker-three").json() == log_in(client, "nobody").json()
    listed = client.get("/api/manufacturers", headers=operator).json()["items"]
    assert "Maker 3" not in {m["name"] for m in listed}
    wrong = client.post(
        "/api/manufacturers/confirm", json={"username": "maker-three", "code": "000000"}
    )
    unknown = client.post("/api/manufacturers/confirm", json={"username": "nobody", "code": code})
    patient = client.post("/api/manufacturers/confirm", json={"username": "patient0", "code": code})
    assert wrong.status_code == unknown.status_code == patient.status_code == 422
    assert wrong.json()["detail"] == unknown.json()["detail"] == patient.json()["detail"]

    confirmed = client.post(
        "/api/manufacturers/confirm", json={"username": "maker-three", "code": code}
    )
    assert confirmed.status_code == 201, confirmed.text
    assert confirmed.json()["status"] == "pending"
    assert confirmed.headers["Location"] == f"/api/manufacturers/{confirmed.json()['id']}"
    assert log_in(client, "maker-three").status_code == 200
    listed = client.get("/api/manufacturers", headers=operator).json()["items"]
    assert "Maker 3" in {m["name"] for m in listed}
    again = client.post(
        "/api/manufacturers/confirm", json={"username": "maker-three", "code": code}
    )
    assert again.status_code == 422


def test_an_unconfirmed_manufacturer_frees_its_licence_once_its_code_expired(
    client: TestClient, world: Any, inbox: SmtpInbox
) -> None:
    first = client.post("/api/manufacturers", json=manufacturer(4, "first-maker", "LIC-44444"))
    assert first.status_code == 202
    second = client.post("/api/manufacturers", json=manufacturer(5, "second-maker", "LIC-44444"))
    assert second.status_code == 202
    assert inbox.mails()[-1][:3:2] == ("reg4@maker.example", org_signup.LICENCE_TRIED)

    session = world.session
    waiting = session.scalar(select(User).where(User.username == "first-maker"))
    assert waiting is not None
    assert not waiting.active
    waiting.created_at -= timedelta(seconds=world.ctx.one_time_codes.policy.ttl_s + 1)
    session.flush()

    later = client.post("/api/manufacturers", json=manufacturer(5, "second-maker", "LIC-44444"))
    assert later.status_code == 202
    code = e_mailed_code(inbox, "reg5@maker.example")
    confirm = {"username": "second-maker", "code": code}
    assert client.post("/api/manufacturers/confirm", json=confirm).status_code == 201
    session.expire_all()
    assert session.scalar(select(User).where(User.username == "first-maker")) is None


def test_without_an_smtp_server_manufacturer_sign_up_is_unavailable(
    client: TestClient, world: Any
) -> None:
    world.ctx.notifier = TransportNotifier({})  # no OUTBOX_SMTP_HOST
    before = manufacturer_counts(world)
    response = client.post("/api/manufacturers", json=manufacturer(6, "no-smtp"))
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert manufacturer_counts(world) == before


def test_manufacturer_sign_up_is_counted_per_address(
    client: TestClient, world: Any, inbox: SmtpInbox
) -> None:
    # Even answering alike, each try sends an e-mail and hashes a password: counting tries
    # per address, as log-ins are, keeps anyone from flooding either.
    statuses = [
        client.post("/api/manufacturers", json=manufacturer(n, f"probe{n}")).status_code
        for n in range(19)
    ]
    taken = client.post("/api/manufacturers", json=manufacturer(99, "patient0"))
    assert statuses == [202] * 19
    assert taken.status_code == 202
    refused = client.post("/api/manufacturers", json=manufacturer(100, "probe100"))
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1
    assert len(inbox.messages) == 20  # the refused try sent nothing
    paths = client.get("/openapi.json").json()["paths"]
    assert "429" in paths["/api/manufacturers"]["post"]["responses"]
    assert "429" in paths["/api/manufacturers/confirm"]["post"]["responses"]
