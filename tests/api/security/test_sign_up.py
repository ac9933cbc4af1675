"""Sign-up tells no one whether a national ID number or user name is registered (issue 11).

Three sign-ups, one new, one with a registered ID number, one with a taken user name, must
get the same answer; what differs goes to a phone, and only the new one opens an account.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.accounts.tables import User
from api.identity import make_test_id as make_id
from api.patients import signup
from api.patients.tables import Patient

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


def manufacturer(n: int, username: str) -> dict[str, Any]:
    return {
        "name": f"Maker {n}",
        "business_licence_no": f"91310000-{n:04d}",
        "device_certificates": [f"NMPA-2024-{n:04d}"],
        "contact_email": f"reg{n}@maker.example",
        "username": username,
        "password": PASSWORD,
    }


def test_manufacturer_sign_up_is_counted_per_address(client: TestClient, world: Any) -> None:
    # User names are one namespace: a manufacturer's sign-up refuses a patient's name, so
    # each try tells whether a name exists. Counting tries per address, as log-ins are,
    # keeps that from listing the patients' names.
    statuses = [
        client.post("/api/manufacturers", json=manufacturer(n, f"probe{n}")).status_code
        for n in range(19)
    ]
    taken = client.post("/api/manufacturers", json=manufacturer(99, "patient0"))
    assert statuses == [201] * 19
    assert taken.status_code == 409
    refused = client.post("/api/manufacturers", json=manufacturer(100, "probe100"))
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1
    paths = client.get("/openapi.json").json()["paths"]
    assert "429" in paths["/api/manufacturers"]["post"]["responses"]
