"""Bad input anywhere: a 4xx with a message, and nothing changed."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.audit.tables import AuditEntry
from api.batches.tables import Batch, Unit
from api.organisations.tables import Manufacturer
from api.patients.tables import Patient
from api.products.tables import Product
from api.public_ids import BATCH, MANUFACTURER, PRODUCT, TEST, decode, encode
from api.selftests.tables import SelfTest

DEMO_KIT = Path(__file__).resolve().parents[2] / "datasets" / "kits" / "demo"


def snapshot(session: Any) -> dict[str, Any]:
    session.expire_all()
    tables = (AuditEntry, Batch, Manufacturer, Patient, Product, SelfTest)
    counts = {t.__tablename__: session.scalar(select(func.count()).select_from(t)) for t in tables}
    counts["units"] = sorted(session.execute(select(Unit.code, Unit.state)).all())
    return counts


def refused(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert detail
    return json.dumps(detail)


def claim_body(world: Any, code: str, where: str = "a") -> dict[str, Any]:
    lat, lon = world.point_a if where == "a" else world.point_b
    return {"code": code, "latitude": lat, "longitude": lon}


def test_malformed_json_and_wrong_types(client: TestClient, world: Any) -> None:
    before = snapshot(world.session)
    patient = {**world.headers(world.patient_a), "Content-Type": "application/json"}
    refused(client.post("/api/tests", headers=patient, content=b'{"code": "AB'), 422)
    detail = refused(
        client.post(
            "/api/tests",
            headers=patient,
            json={"code": world.codes[0], "latitude": "north", "longitude": 500},
        ),
        422,
    )
    assert "latitude" in detail
    assert "longitude" in detail
    refused(client.post("/api/tests", headers=patient, json=[1, 2]), 422)
    refused(
        client.post(
            "/api/tests", headers=patient, json={**claim_body(world, world.codes[0]), "x": 1}
        ),
        422,
    )
    assert snapshot(world.session) == before


def test_unit_codes_unknown_mistyped_reused_expired_revoked(
    client: TestClient, world: Any, flow: Any
) -> None:
    patient = world.headers(world.patient_a)
    # A mistyped code: the check character catches it.
    typo = world.codes[0][:-2] + world.codes[0][-1] + world.codes[0][-2]
    if typo != world.codes[0]:
        assert "check" in refused(client.get(f"/api/units/{typo}"), 422)
    refused(client.get("/api/units/not-a-code"), 422)
    from api.unit_codes import new_codes

    unknown = new_codes(1)[0]
    assert "unknown" in refused(client.get(f"/api/units/{unknown}"), 404)
    before = snapshot(world.session)
    refused(client.post("/api/tests", headers=patient, json=claim_body(world, unknown)), 404)
    assert snapshot(world.session) == before

    flow.claim(code_index=0)
    before = snapshot(world.session)
    reuse = client.post(
        "/api/tests", headers=world.headers(world.patient_b), json=claim_body(world, world.codes[0])
    )
    assert "one test only" in refused(reuse, 409)
    assert snapshot(world.session) == before

    revoke = client.post(
        f"/api/batches/{encode(BATCH, world.batch.id)}/revoke",
        headers=world.headers(world.maker),
        json={"reason": "contaminated lot", "serials": list(range(1, 21))},
    )
    assert revoke.status_code == 200
    assert revoke.json()["revoked"] == 19  # the claimed unit stays as it is
    lookup = client.get(f"/api/units/{world.codes[1]}").json()
    assert lookup["state"] == "revoked"
    before = snapshot(world.session)
    revoked = client.post("/api/tests", headers=patient, json=claim_body(world, world.codes[1]))
    assert "contaminated lot" in refused(revoked, 409)
    assert snapshot(world.session) == before


def test_expired_unit(client: TestClient, world: Any) -> None:
    world.batch.expiry_date = date.today() - timedelta(days=1)
    world.session.commit()
    assert client.get(f"/api/units/{world.codes[0]}").json()["state"] == "expired"
    before = snapshot(world.session)
    response = client.post(
        "/api/tests", headers=world.headers(world.patient_a), json=claim_body(world, world.codes[0])
    )
    assert "expired" in refused(response, 409)
    assert snapshot(world.session) == before


def test_location_outside_every_region(client: TestClient, world: Any) -> None:
    before = snapshot(world.session)
    response = client.post(
        "/api/tests",
        headers=world.headers(world.patient_a),
        json={"code": world.codes[0], "latitude": -80.0, "longitude": -170.0},
    )
    assert "outside" in refused(response, 422)
    assert snapshot(world.session) == before


@pytest.mark.parametrize(
    ("national_id", "phone", "field"),
    [
        ("110101199001010075", "+86 138 0013 8000", "national_id"),  # wrong check digit
        ("12345", "+86 138 0013 8000", "national_id"),
        ("110101199001010074", "12", "phone"),
    ],
)
def test_bad_national_id_or_phone(
    client: TestClient, world: Any, national_id: str, phone: str, field: str
) -> None:
    before = snapshot(world.session)
    response = client.post(
        "/api/patients",
        json={
            "name": "Zhang Wei",
            "national_id": national_id,
            "phone": phone,
            "username": "zhangwei",
            "password": "correct horse battery",
        },
    )
    assert field in refused(response, 422)
    assert snapshot(world.session) == before


def test_duplicate_patient_and_username_are_not_told(client: TestClient, world: Any) -> None:
    """Sign-up answers alike whether taken or not (issue 11): tests/api/security/test_sign_up."""
    world.ctx.notifier = type("Phone", (), {"send": lambda *_args: None})()
    body = {
        "name": "Again",
        "national_id": world.national_id_a,
        "phone": "+86 138 0013 8000",
        "username": "someone-new",
        "password": "correct horse battery",
    }
    before = snapshot(world.session)
    assert client.post("/api/patients", json=body).status_code == 202
    from api.identity import make_test_id

    taken = {**body, "national_id": make_test_id(55), "username": "patient0"}
    assert client.post("/api/patients", json=taken).status_code == 202
    assert snapshot(world.session) == before


def kit_files(kit: Any, template: bytes | None = None) -> dict[str, Any]:
    kit_bytes = kit if isinstance(kit, bytes) else json.dumps(kit).encode()
    template = template if template is not None else (DEMO_KIT / "template.png").read_bytes()
    return {
        "kit": ("kit.json", kit_bytes, "application/json"),
        "template": ("template.png", template, "image/png"),
    }


def test_bad_kit_files(client: TestClient, world: Any) -> None:
    maker = world.headers(world.maker)
    good = json.loads((DEMO_KIT / "kit.json").read_text())
    good["product_code"] = "NEW-KIT"
    cert = {"registration_certificate_no": "REG-2024-001"}
    before = snapshot(world.session)
    cases = [
        (kit_files(b"{not json"), "JSON"),
        (kit_files({**good, "spec": "rdt-kit/9"}), "spec"),
        (kit_files({**good, "lines": good["lines"][:1]}), "lines"),
        (kit_files(good, template=b"GIF89a not a png"), "template"),
    ]
    for files, word in cases:
        detail = refused(client.post("/api/products", headers=maker, files=files, data=cert), 422)
        assert word in detail, detail
    wrong_cert = client.post(
        "/api/products",
        headers=maker,
        files=kit_files(good),
        data={"registration_certificate_no": "NOT-MINE"},
    )
    assert "certificate" in refused(wrong_cert, 422)
    duplicate = client.post(
        "/api/products",
        headers=maker,
        files=kit_files({**good, "product_code": "DEMO-COV-AG"}),
        data=cert,
    )
    refused(duplicate, 409)
    assert snapshot(world.session) == before


def test_bad_batches(client: TestClient, world: Any) -> None:
    maker = world.headers(world.maker)
    base = {
        "product_id": encode(PRODUCT, world.product.id),
        "lot_number": "LOT-NEW",
        "quantity": 10,
        "expiry_date": (date.today() + timedelta(days=30)).isoformat(),
    }
    before = snapshot(world.session)
    refused(client.post("/api/batches", headers=maker, json={**base, "quantity": 0}), 422)
    refused(client.post("/api/batches", headers=maker, json={**base, "quantity": "ten"}), 422)
    past = {**base, "expiry_date": "2000-01-01"}
    assert "future" in refused(client.post("/api/batches", headers=maker, json=past), 422)
    dup = {**base, "lot_number": "LOT-A1"}
    assert "already" in refused(client.post("/api/batches", headers=maker, json=dup), 409)
    missing = {**base, "product_id": encode(PRODUCT, 999_999)}
    refused(client.post("/api/batches", headers=maker, json=missing), 404)
    assert snapshot(world.session) == before


def test_manufacturer_review_and_documents(client: TestClient, world: Any) -> None:
    operator = world.headers(world.operator)
    url = f"/api/manufacturers/{encode(MANUFACTURER, world.manufacturer.id)}"
    assert "reason" in refused(
        client.post(f"{url}/review", headers=operator, json={"decision": "reject"}), 422
    )
    refused(client.post(f"{url}/review", headers=operator, json={"decision": "maybe"}), 422)
    exe = client.post(
        f"{url}/documents",
        headers=world.headers(world.maker),
        files={"file": ("x.pdf", b"MZ\x90\x00", "application/pdf")},
    )
    refused(exe, 415)
    rejected = client.post(
        f"{url}/review", headers=operator, json={"decision": "reject", "reason": "licence expired"}
    )
    assert rejected.json()["status"] == "rejected"
    # A rejected manufacturer goes no further.
    blocked = client.post(
        "/api/batches",
        headers=world.headers(world.maker),
        json={
            "product_id": encode(PRODUCT, world.product.id),
            "lot_number": "AFTER",
            "quantity": 1,
            "expiry_date": (date.today() + timedelta(days=30)).isoformat(),
        },
    )
    assert "rejected" in refused(blocked, 403)


def test_wrong_credentials(client: TestClient, world: Any) -> None:
    bad = client.post("/api/auth/token", data={"username": "operator", "password": "wrong"})
    assert refused(bad, 401)
    nobody = client.post("/api/auth/token", data={"username": "nobody", "password": "wrong"})
    assert nobody.json() == bad.json()  # no hint which part was wrong
    garbage = client.get("/api/me", headers={"Authorization": "Bearer garbage"})
    refused(garbage, 401)


def test_staff_accounts_need_their_organisation(client: TestClient, world: Any) -> None:
    operator = world.headers(world.operator)
    body = {
        "username": "lonely",
        "password": "correct horse battery",
        "display_name": "Lonely",
        "role": "clinician",
    }
    assert "institution" in refused(client.post("/api/users", headers=operator, json=body), 422)
    body["role"] = "cdc_officer"
    assert "cdc_office" in refused(client.post("/api/users", headers=operator, json=body), 422)
    body["role"] = "patient"  # patients register themselves
    refused(client.post("/api/users", headers=operator, json=body), 422)
    unknown_region = client.post(
        "/api/institutions",
        headers=operator,
        json={"name": "X", "region_code": "XX", "address": "Y"},
    )
    assert "region" in refused(unknown_region, 422)


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR declaring ``width`` x ``height``, with one empty IDAT:
    a few dozen bytes that a careless decoder would expand to width * height pixels."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def test_hostile_kit_files_are_refused_before_decoding(client: TestClient, world: Any) -> None:
    """A 20000 x 20000 template and a 100,000-deep kit description: 422, nothing stored."""
    maker = world.headers(world.maker)
    good = json.loads((DEMO_KIT / "kit.json").read_text())
    good["product_code"] = "BOMB-KIT"
    cert = {"registration_certificate_no": "REG-2024-001"}
    before = snapshot(world.session)
    bomb = client.post(
        "/api/products",
        headers=maker,
        files=kit_files(good, template=png_header_only(20000, 20000)),
        data=cert,
    )
    assert "template" in refused(bomb, 422)
    assert bomb.headers["content-type"] == "application/problem+json"
    deep = client.post(
        "/api/products", headers=maker, files=kit_files(b"[" * 100_000 + b"]" * 100_000), data=cert
    )
    assert "nested" in refused(deep, 422)
    assert snapshot(world.session) == before


def test_large_template_is_stored_downscaled_with_coordinates_rescaled(
    client: TestClient, world: Any
) -> None:
    import io

    from PIL import Image

    from pipeline.kit import decode_template

    original = Image.open(DEMO_KIT / "template.png")
    factor = 3000 / max(original.size)  # past the 2000 px long side that is stored
    big = original.resize((round(original.width * factor), round(original.height * factor)))
    buffer = io.BytesIO()
    big.save(buffer, "PNG")
    kit = json.loads((DEMO_KIT / "kit.json").read_text())
    kit["product_code"] = "BIG-TEMPLATE"
    template = kit["template"]
    for box, keys in (("code_box", ("x", "y", "size")), ("window", ("x", "y", "w", "h"))):
        template[box] = {k: template[box][k] * factor for k in keys}
    template["px_per_mm"] *= factor
    response = client.post(
        "/api/products",
        headers=world.headers(world.maker),
        files=kit_files(kit, template=buffer.getvalue()),
        data={"registration_certificate_no": "REG-2024-001"},
    )
    assert response.status_code == 201, response.text
    world.session.expire_all()
    product = world.session.get(Product, decode(PRODUCT, response.json()["id"]))
    stored = decode_template(product.template_png)
    assert max(stored.shape[:2]) == 2000
    scale = 2000 / max(big.size)
    stored_window = product.kit_document["template"]["window"]
    for key in ("x", "y", "w", "h"):
        assert stored_window[key] == pytest.approx(template["window"][key] * scale)
    assert product.kit_document["template"]["px_per_mm"] == pytest.approx(
        template["px_per_mm"] * scale
    )


HUGE = str(2**70)


def test_identifiers_beyond_64_bits_are_refused(client: TestClient, world: Any) -> None:
    """Path, query and body ``*_id`` parameters: a 422 problem document, never a 500."""
    before = snapshot(world.session)
    operator = world.headers(world.operator)
    maker = world.headers(world.maker)
    patient = world.headers(world.patient_a)
    for response in (
        client.get(f"/api/products/{HUGE}", headers=maker),
        client.get(f"/api/users/{HUGE}", headers=operator),
        client.get(f"/api/users/-{HUGE}", headers=operator),
        client.get(f"/api/tests/{HUGE}", headers=patient),
        client.get("/api/tests", params={"before_id": HUGE}, headers=patient),
        client.get("/api/audit", params={"actor_id": HUGE}, headers=operator),
        client.post(
            "/api/batches",
            headers=maker,
            json={"product_id": 2**70, "quantity": 1, "expires_on": "2099-01-01"},
        ),
    ):
        assert "64-bit" in refused(response, 422)
        assert response.headers["content-type"] == "application/problem+json"
    assert snapshot(world.session) == before


def test_non_finite_coordinates_are_refused(client: TestClient, world: Any) -> None:
    before = snapshot(world.session)
    patient = {**world.headers(world.patient_a), "Content-Type": "application/json"}
    for literal in (b"NaN", b"Infinity", b"-Infinity"):
        body = b'{"code": "%s", "latitude": %s, "longitude": 10}' % (
            world.codes[0].encode(),
            literal,
        )
        assert "finite" in refused(client.post("/api/tests", headers=patient, content=body), 422)
    assert snapshot(world.session) == before


def test_nul_characters_are_refused_everywhere(client: TestClient, world: Any) -> None:
    """PostgreSQL refuses NUL in text (a 500 there, none on SQLite): refused on both."""
    from api.identity import make_test_id

    before = snapshot(world.session)
    operator = world.headers(world.operator)
    for response in (
        client.post("/api/auth/token", data={"username": "ope\x00rator", "password": "x"}),
        client.post(
            "/api/patients",
            json={
                "name": "Nul\x00Name",
                "national_id": make_test_id(77),
                "phone": "+86 138 0013 8077",
                "username": "nul-name",
                "password": "correct horse battery",
            },
        ),
        client.get("/api/units/AB%00CD"),
        client.get("/api/audit", params={"action": "log\x00in"}, headers=operator),
        client.get("/api/tests", params={"status": "\x00"}, headers=operator),
    ):
        assert "NUL" in refused(response, 422)
    assert snapshot(world.session) == before


def test_deeply_nested_json_body_is_refused(client: TestClient, world: Any) -> None:
    patient = {**world.headers(world.patient_a), "Content-Type": "application/json"}
    deep = b'{"code": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    response = client.post("/api/tests", headers=patient, content=deep)
    assert "nested" in refused(response, 422)
    assert response.headers["content-type"] == "application/problem+json"


def test_body_larger_than_the_limit_is_refused_before_reading(client: TestClient) -> None:
    """An anonymous caller declaring a huge body gets 413 without the body being read;
    one streaming it without a length gets 413 once the count passes the limit."""

    def body() -> Any:
        for _ in range(100):
            yield b"x" * (1024 * 1024)

    declared = client.post(
        "/api/patients",
        headers={"Content-Length": str(100 * 1024 * 1024), "Content-Type": "application/json"},
        content=b"{}",
    )
    assert declared.status_code == 413, declared.text
    assert declared.headers["content-type"] == "application/problem+json"
    streamed = client.post(
        "/api/products", headers={"Content-Type": "multipart/form-data; boundary=x"}, content=body()
    )
    assert streamed.status_code == 413, streamed.text
    assert streamed.headers["content-type"] == "application/problem+json"


def test_common_password_is_refused_at_sign_up(client: TestClient, world: Any) -> None:
    from api.identity import make_test_id

    before = snapshot(world.session)
    response = client.post(
        "/api/patients",
        json={
            "name": "Weak Password",
            "national_id": make_test_id(78),
            "phone": "+86 138 0013 8078",
            "username": "weak-password",
            "password": "password",
        },
    )
    assert "password" in refused(response, 422)
    assert snapshot(world.session) == before


@pytest.mark.parametrize(
    ("username", "name"),
    [
        ("p\u0430tient9", "Look Alike"),  # a Cyrillic 'а' among Latin letters
        ("gpj\u202eexe", "Override"),  # right-to-left override
    ],
)
def test_look_alike_and_bidi_names_are_refused(
    client: TestClient, world: Any, username: str, name: str
) -> None:
    from api.identity import make_test_id

    before = snapshot(world.session)
    response = client.post(
        "/api/patients",
        json={
            "name": name,
            "national_id": make_test_id(79),
            "phone": "+86 138 0013 8079",
            "username": username,
            "password": "correct horse battery",
        },
    )
    refused(response, 422)
    assert snapshot(world.session) == before


def test_patient_real_name_is_not_copied_into_the_display_name(
    client: TestClient, world: Any
) -> None:
    from api.accounts.tables import User
    from api.identity import make_test_id

    world.ctx.notifier = type("Phone", (), {"send": lambda *_args: None})()
    response = client.post(
        "/api/patients",
        json={
            "name": "Zhang Wei",
            "national_id": make_test_id(80),
            "phone": "+86 138 0013 8080",
            "username": "zhangwei80",
            "password": "correct horse battery",
        },
    )
    assert response.status_code == 202, response.text  # opened, waiting for its code
    world.session.expire_all()
    user = world.session.scalar(select(User).where(User.username == "zhangwei80"))
    assert user is not None
    assert "Zhang" not in user.display_name
    patient = world.session.scalar(select(Patient).where(Patient.user_id == user.id))
    assert b"Zhang" not in patient.name_enc
    assert world.ctx.cipher.decrypt(patient.name_enc, "patients.name") == "Zhang Wei"


def test_location_is_stored_to_about_a_kilometre(client: TestClient, world: Any) -> None:
    lat, lon = world.point_a
    exact = {"code": world.codes[9], "latitude": lat + 0.004321, "longitude": lon - 0.001234}
    response = client.post("/api/tests", headers=world.headers(world.patient_a), json=exact)
    assert response.status_code == 201, response.text
    world.session.expire_all()
    test = world.session.get(SelfTest, decode(TEST, response.json()["id"]))
    assert test.latitude == round(exact["latitude"], 2)
    assert test.longitude == round(exact["longitude"], 2)
    assert test.region_code == world.region_a
