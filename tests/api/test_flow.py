"""The whole flow over HTTP, one party after another (embedded: SQLite, in-process tasks)."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from smtp_loopback import smtp_inbox

from api.db.base import utcnow
from api.identity import make_test_id
from api.outbox.channels import transports
from api.outbox.notifier import TransportNotifier
from api.outbox.settings import OutboxSettings
from api.public_ids import USER, encode

DEMO_KIT = Path(__file__).resolve().parents[2] / "datasets" / "kits" / "demo"

PASSWORD = "correct horse battery"


def log_in(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    response = client.post("/api/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def ok(response, status: int = 200):  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    return response.json()


def test_manufacturer_to_cdc(client: TestClient, world: Any, png: Any) -> None:
    """Manufacturer sign-up -> approval -> product -> batch -> codes -> patient -> CDC."""
    operator = world.headers(world.operator)

    # 1. A manufacturer signs up, confirms by the code e-mailed to its contact address,
    # uploads a licence, an operator approves it.
    with smtp_inbox() as (inbox, port):
        config = OutboxSettings(smtp_host="127.0.0.1", smtp_port=port)
        world.ctx.notifier = TransportNotifier(transports(config))
        applied = {
            "name": "Acme Diagnostics",
            "business_licence_no": "91310000-ACME",
            "device_certificates": ["NMPA-2024-1234"],
            "contact_email": "reg@acme.example",
            "username": "acme",
            "password": PASSWORD,
        }
        ok(client.post("/api/manufacturers", json=applied), 202)
        to, _subject, text = inbox.mails()[-1]
        assert to == "reg@acme.example"
    code = text.split("code is ")[1][:6]
    confirm = {"username": "acme", "code": code}
    signup = ok(client.post("/api/manufacturers/confirm", json=confirm), 201)
    assert signup["status"] == "pending"
    maker = log_in(client, "acme")
    pdf = b"%PDF-1.4\n% licence scan\n"
    doc = ok(
        client.post(
            f"/api/manufacturers/{signup['id']}/documents",
            headers=maker,
            files={"file": ("licence.pdf", pdf, "application/pdf")},
            data={"kind": "business_licence"},
        ),
        201,
    )
    # Not yet approved: no products.
    kit_json = (DEMO_KIT / "kit.json").read_text()
    kit_json = kit_json.replace("DEMO-COV-AG", "ACME-COV-AG")
    files = {
        "kit": ("kit.json", kit_json.encode(), "application/json"),
        "template": ("template.png", (DEMO_KIT / "template.png").read_bytes(), "image/png"),
    }
    refused = client.post(
        "/api/products",
        headers=maker,
        files=files,
        data={"registration_certificate_no": "NMPA-2024-1234"},
    )
    assert refused.status_code == 403
    assert "pending" in refused.json()["detail"]
    detail = ok(client.get(f"/api/manufacturers/{signup['id']}", headers=operator))
    assert [d["id"] for d in detail["documents"]] == [doc["id"]]
    got = client.get(f"/api/manufacturers/{signup['id']}/documents/{doc['id']}", headers=operator)
    assert got.content == pdf
    ok(
        client.post(
            f"/api/manufacturers/{signup['id']}/review",
            headers=operator,
            json={"decision": "approve"},
        )
    )

    # 2. Product.
    product = ok(
        client.post(
            "/api/products",
            headers=maker,
            files=files,
            data={"registration_certificate_no": "NMPA-2024-1234"},
        ),
        201,
    )
    assert product["product_code"] == "ACME-COV-AG"
    assert product["test_item_name"] == "SARS-CoV-2 antigen"

    # 3. Batch and its codes in three formats.
    batch = ok(
        client.post(
            "/api/batches",
            headers=maker,
            json={
                "product_id": product["id"],
                "lot_number": "L2024-07",
                "quantity": 25,
                "expiry_date": (date.today() + timedelta(days=200)).isoformat(),
            },
        ),
        201,
    )
    assert batch["units"]["unused"] == 25
    listing = client.get(f"/api/batches/{batch['id']}/codes.csv", headers=maker)
    assert listing.status_code == 200
    rows = list(csv.DictReader(io.StringIO(listing.text)))
    assert len(rows) == 25
    codes = [row["code"] for row in rows]
    assert len(set(codes)) == 25
    qr = client.get(f"/api/batches/{batch['id']}/codes.zip?last=3", headers=maker)
    assert qr.status_code == 200
    assert len(zipfile.ZipFile(io.BytesIO(qr.content)).namelist()) == 3
    labels = client.get(f"/api/batches/{batch['id']}/labels.pdf?last=4", headers=maker)
    assert labels.status_code == 200
    assert labels.content.startswith(b"%PDF")

    # 4. Anyone looks a code up (typed in lower case, without dashes).
    public = ok(client.get(f"/api/units/{codes[0].replace('-', '').lower()}"))
    assert public["state"] == "unused"
    assert public["lot_number"] == "L2024-07"
    assert public["interpretation"]["read_time_minutes"] == {"min": 15, "max": 30}
    assert "patient" not in json.dumps(public)

    # 5. A patient registers and logs in.
    national_id = make_test_id(7)
    texts: list[str] = []
    world.ctx.notifier = type("Phone", (), {"send": lambda _s, _c, _a, text: texts.append(text)})()
    ok(
        client.post(
            "/api/patients",
            json={
                "name": "Li Lei",
                "national_id": national_id,
                "phone": "+86 138 0013 8000",
                "username": "lilei",
                "password": PASSWORD,
            },
        ),
        202,
    )
    code = texts[-1].split("code is ")[1][:6]  # texted to the phone given
    ok(client.post("/api/patients/confirm", json={"username": "lilei", "code": code}), 201)
    patient = log_in(client, "lilei")
    events_before = ok(client.get("/api/events", headers=world.headers(world.clinician_a)))["items"]

    # 6. Scan: claims the unit, locates the phone, tells the region.
    lat, lon = world.point_a
    test = ok(
        client.post(
            "/api/tests",
            headers=patient,
            json={"code": f"https://vigil.example/u/{codes[0]}", "latitude": lat, "longitude": lon},
        ),
        201,
    )
    assert test["region_code"] == world.region_a
    assert test["status"] == "awaiting_photo"
    assert ok(client.get(f"/api/units/{codes[0]}"))["state"] == "in_use"
    events = ok(client.get("/api/events", headers=world.headers(world.clinician_a)))["items"]
    started = [e for e in events if e not in events_before]
    assert [e["kind"] for e in started] == ["test.started"]
    assert started[0]["payload"]["test_id"] == test["id"]
    assert ok(client.get("/api/events", headers=world.headers(world.clinician_b)))["items"] == []

    # The patient applied the sample 20 minutes ago: the kit's read window is open now.
    applied_at = (utcnow() - timedelta(minutes=20)).isoformat()
    sample = ok(
        client.post(
            f"/api/tests/{test['id']}/sample-applied",
            headers=patient,
            json={"applied_at": applied_at},
        )
    )
    assert sample["read_window"]["from_sample"] is True

    # 7. Upload: the pipeline (fake here) proposes at once, tasks run in-process.
    upload = ok(
        client.post(
            f"/api/tests/{test['id']}/photos",
            headers={**patient, "Idempotency-Key": "photo-0001"},
            files={"photo": ("test.png", png(), "image/png")},
        ),
        202,
    )
    assert upload["test_status"] == "reading"  # the 202 shows the upload as committed
    upload = ok(client.get(f"/api/uploads/{upload['id']}", headers=patient))
    assert upload["proposal_status"] == "ok"
    assert upload["test_status"] == "in_review"
    mine = ok(client.get(f"/api/tests/{test['id']}", headers=patient))
    assert mine["result"] is None  # not before a clinician releases it

    # 8. The clinician of region A sees it; B does not.
    clinician = world.headers(world.clinician_a)
    queue = ok(client.get("/api/reviews/queue", headers=clinician))["items"]
    assert [item["test_id"] for item in queue] == [test["id"]]
    assert (
        ok(client.get("/api/reviews/queue", headers=world.headers(world.clinician_b)))["items"]
        == []
    )
    photo = client.get(queue[0]["photo_url"], headers=clinician)
    assert photo.content == png()
    review = ok(
        client.post(
            f"/api/proposals/{queue[0]['proposal_id']}/review",
            headers=clinician,
            json={"decision": "confirm"},
        )
    )
    assert review["released"] is True
    assert review["result"] == "positive"
    # Offices of the region's parent and the nation + the region's institution.
    assert review["reports"] == 3

    # 9. The patient sees the result; the unit is used.
    mine = ok(client.get(f"/api/tests/{test['id']}", headers=patient))
    assert (mine["status"], mine["result"]) == ("released", "positive")
    assert ok(client.get(f"/api/units/{codes[0]}"))["state"] == "used"
    for officer, expected in ((world.cdc_a, 1), (world.cdc_national, 1), (world.cdc_b, 0)):
        reports = ok(client.get("/api/reports", headers=world.headers(officer)))["items"]
        assert len(reports) == expected
    assert len(ok(client.get("/api/reports", headers=clinician))["items"]) == 1
    feed = ok(client.get("/api/events", headers=world.headers(world.cdc_national)))["items"]
    assert "report.positive" in [e["kind"] for e in feed]

    # 10. CDC: the positive with identity, and statistics.
    cases = ok(client.get("/api/cdc/positives", headers=world.headers(world.cdc_a)))["items"]
    assert len(cases) == 1
    assert cases[0]["national_id"] == national_id
    assert cases[0]["name"] == "Li Lei"
    assert cases[0]["lot_number"] == "L2024-07"
    assert ok(client.get("/api/cdc/positives", headers=world.headers(world.cdc_b)))["items"] == []
    stats = ok(client.get("/api/statistics", headers=world.headers(world.cdc_national)))
    assert stats["totals"]["positive"] == 1
    assert stats["totals"]["positivity"]["value"] == 1.0
    assert next(a for a in stats["areas"] if a["code"] == world.region_a)["positive"] == 1
    table = client.get("/api/statistics/products.csv", headers=world.headers(world.cdc_national))
    [row] = list(csv.DictReader(io.StringIO(table.text)))
    assert (row["product_code"], row["positive"]) == ("ACME-COV-AG", "1")

    # Every step left its trace in the audit log.
    actions = {
        e["action"] for e in ok(client.get("/api/audit?limit=1000", headers=operator))["items"]
    }
    for action in (
        "sign_up", "manufacturer_approved", "register_product", "create_batch", "claim",
        "upload", "proposal", "review", "release", "report", "view_personal_data", "view_photo",
    ):  # fmt: skip
        assert action in actions, action


def test_patient_logs_in_with_code_and_national_id(client: TestClient, world: Any) -> None:
    patient = world.headers(world.patient_a)
    lat, lon = world.point_a
    ok(
        client.post(
            "/api/tests",
            headers=patient,
            json={"code": world.codes[0], "latitude": lat, "longitude": lon},
        ),
        201,
    )
    token = ok(
        client.post(
            "/api/auth/patient-token",
            json={"code": world.codes[0], "national_id": world.national_id_a},
        )
    )
    assert token["role"] == "patient"
    me = ok(
        client.get("/api/patients/me", headers={"Authorization": f"Bearer {token['access_token']}"})
    )
    assert me["user_id"] == encode(USER, world.patient_a.id)
    assert me["national_id_masked"].endswith(world.national_id_a[-4:])
    wrong = client.post(
        "/api/auth/patient-token", json={"code": world.codes[0], "national_id": world.national_id_b}
    )
    assert wrong.status_code == 401
    unclaimed = client.post(
        "/api/auth/patient-token", json={"code": world.codes[1], "national_id": world.national_id_a}
    )
    assert unclaimed.status_code == 401


def test_weak_password_hashes_are_upgraded_at_log_in(
    client: TestClient, world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import api.accounts.service as accounts
    from api.identity import hash_password, needs_rehash

    monkeypatch.setattr(accounts, "hash_password", hash_password)  # the real parameters

    assert needs_rehash(world.operator.password_hash)  # the tests' cheap parameters
    log_in(client, "operator")
    world.session.refresh(world.operator)
    assert not needs_rehash(world.operator.password_hash)
    log_in(client, "operator")  # and the new hash still verifies


def test_logout_revokes_the_token(client: TestClient, world: Any) -> None:
    headers = log_in(client, "operator")
    assert client.get("/api/me", headers=headers).status_code == 200
    assert client.post("/api/auth/logout", headers=headers).status_code == 204
    assert client.get("/api/me", headers=headers).status_code == 401


@pytest.mark.slow
def test_real_photo_through_the_real_pipeline(
    client: TestClient, world: Any, real_pipeline: None
) -> None:
    """A synthetic photo of a positive test, rendered with the unit's own code, read for real."""
    render = pytest.importorskip("datasets.render")
    from pipeline.kit import load_kit

    kit = load_kit(DEMO_KIT / "kit.json")
    code = world.codes[3]
    photo = render.render_photo(
        kit, np.random.default_rng(5), od={"T": 0.5, "C": 0.8}, code=code, size=(1600, 1200)
    )
    patient = world.headers(world.patient_a)
    lat, lon = world.point_a
    test = ok(
        client.post(
            "/api/tests", headers=patient, json={"code": code, "latitude": lat, "longitude": lon}
        ),
        201,
    )
    upload = ok(
        client.post(
            f"/api/tests/{test['id']}/photos",
            headers=patient,
            files={"photo": ("photo.jpg", photo.jpeg, "image/jpeg")},
        ),
        202,
    )
    upload = ok(client.get(f"/api/uploads/{upload['id']}", headers=patient))
    assert upload["proposal_status"] == "ok", upload
    queue = ok(client.get("/api/reviews/queue", headers=world.headers(world.clinician_a)))["items"]
    assert queue[0]["proposed_result"] == "positive"
    assert queue[0]["model_version"]
    assert queue[0]["reading"]["spec"] == "rdt-reading/1"
