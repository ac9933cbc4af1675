"""Every route x every role and scope: who is let in, who is refused.

The table below is the authorisation policy, written once. The route list is
read from the app, so a new route without an entry here fails
``test_every_route_has_a_policy``. Refusals are checked exactly (401 without a
token, 403 for a wrong role, 404 for a record outside the scope); admissions only
by not being refused, since the request may still be rejected for its content.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import public_ids as ids
from api.app import create_app
from api.config import Settings
from api.public_ids import encode

DEMO_KIT = Path(__file__).resolve().parents[2] / "datasets" / "kits" / "demo"

EVERYONE = frozenset(
    {
        "anonymous",
        "operator",
        "manufacturer",
        "manufacturer_b",
        "clinician_a",
        "clinician_b",
        "cdc_a",
        "cdc_b",
        "cdc_national",
        "scientist",
        "patient_a",
        "patient_b",
    }
)
SIGNED_IN = EVERYONE - {"anonymous"}
# Each caller's role: callers of one role differ only in scope (region, manufacturer, self).
ROLE_OF = {who: who.split("_")[0] for who in EVERYONE}
MAKERS = frozenset({"manufacturer", "manufacturer_b"})
CLINICIANS = frozenset({"clinician_a", "clinician_b"})
CDC = frozenset({"cdc_a", "cdc_b", "cdc_national"})
PATIENTS = frozenset({"patient_a", "patient_b"})
# Who may see patient A's test in region A: A, A's clinicians, CDC offices over A.
TEST_A = frozenset({"patient_a", "clinician_a", "cdc_a", "cdc_national"})


@dataclass(frozen=True)
class Policy:
    allowed: frozenset[str]
    # Builds the request from the fixtures' objects: (path, request kwargs).
    request: Any = field(default=None)


def _kit_files() -> dict[str, Any]:
    kit = json.loads((DEMO_KIT / "kit.json").read_text())
    kit["product_code"] = "MATRIX-NEW"
    return {
        "kit": ("kit.json", json.dumps(kit).encode(), "application/json"),
        "template": ("template.png", (DEMO_KIT / "template.png").read_bytes(), "image/png"),
    }


def _expiry() -> str:
    return (date.today() + timedelta(days=90)).isoformat()


POLICY: dict[tuple[str, str], Policy] = {
    ("GET", "/api/health"): Policy(EVERYONE),
    ("GET", "/api/health/live"): Policy(EVERYONE),
    ("GET", "/api/health/ready"): Policy(EVERYONE),
    ("POST", "/api/auth/token"): Policy(
        EVERYONE,
        lambda o: ("", {"data": {"username": "operator", "password": "correct horse battery"}}),
    ),
    ("POST", "/api/auth/patient-token"): Policy(
        EVERYONE, lambda o: ("", {"json": {"code": o["code"], "national_id": o["national_id"]}})
    ),
    ("POST", "/api/auth/logout"): Policy(SIGNED_IN),
    ("GET", "/api/me"): Policy(SIGNED_IN),
    ("POST", "/api/users"): Policy(
        frozenset({"operator"}),
        lambda o: (
            "",
            {
                "json": {
                    "username": "new-scientist",
                    "password": "correct horse battery",
                    "display_name": "New",
                    "role": "data_scientist",
                }
            },
        ),
    ),
    ("GET", "/api/users"): Policy(frozenset({"operator"})),
    ("GET", "/api/users/{user_id}"): Policy(frozenset({"operator"})),
    ("POST", "/api/manufacturers"): Policy(
        EVERYONE,
        lambda o: (
            "",
            {
                "json": {
                    "name": "New Maker",
                    "business_licence_no": "NEW-12345",
                    "device_certificates": ["CERT-1"],
                    "contact_email": "a@b.example",
                    "username": "new-maker",
                    "password": "correct horse battery",
                }
            },
        ),
    ),
    ("POST", "/api/manufacturers/confirm"): Policy(
        EVERYONE, lambda o: ("", {"json": {"username": "new-maker", "code": "000000"}})
    ),
    ("GET", "/api/manufacturers"): Policy(frozenset({"operator"})),
    ("GET", "/api/manufacturers/{manufacturer_id}"): Policy(
        frozenset({"operator", "manufacturer"})
    ),
    ("POST", "/api/manufacturers/{manufacturer_id}/documents"): Policy(
        frozenset({"manufacturer"}),
        lambda o: ("", {"files": {"file": ("l.pdf", b"%PDF-1.4 x", "application/pdf")}}),
    ),
    ("GET", "/api/manufacturers/{manufacturer_id}/documents/{document_id}"): Policy(
        frozenset({"operator", "manufacturer"})
    ),
    ("POST", "/api/manufacturers/{manufacturer_id}/review"): Policy(
        frozenset({"operator"}), lambda o: ("", {"json": {"decision": "approve"}})
    ),
    ("POST", "/api/institutions"): Policy(
        frozenset({"operator"}),
        lambda o: ("", {"json": {"name": "X", "region_code": o["region"], "address": "Y"}}),
    ),
    ("GET", "/api/institutions"): Policy(frozenset({"operator"})),
    ("GET", "/api/institutions/{institution_id}"): Policy(frozenset({"operator"})),
    ("POST", "/api/cdc-offices"): Policy(
        frozenset({"operator"}),
        lambda o: ("", {"json": {"name": "X", "region_code": o["region"]}}),
    ),
    ("GET", "/api/cdc-offices"): Policy(frozenset({"operator"})),
    ("GET", "/api/cdc-offices/{office_id}"): Policy(frozenset({"operator"})),
    ("GET", "/api/regions"): Policy(EVERYONE),
    ("GET", "/api/regions/geojson"): Policy(EVERYONE),
    ("GET", "/api/regions/locate"): Policy(
        EVERYONE,
        lambda o: (f"?latitude={o['point'][0]}&longitude={o['point'][1]}", {}),
    ),
    ("POST", "/api/products"): Policy(
        MAKERS,
        lambda o: (
            "",
            {"files": _kit_files(), "data": {"registration_certificate_no": "REG-2024-001"}},
        ),
    ),
    ("GET", "/api/products"): Policy(MAKERS | {"operator"}),
    ("GET", "/api/products/{product_id}"): Policy(frozenset({"operator", "manufacturer"})),
    ("POST", "/api/batches"): Policy(
        frozenset({"manufacturer"}),
        lambda o: (
            "",
            {
                "json": {
                    "product_id": o["product_id"],
                    "lot_number": "MATRIX-1",
                    "quantity": 3,
                    "expiry_date": _expiry(),
                }
            },
        ),
    ),
    ("GET", "/api/batches"): Policy(MAKERS | {"operator"}),
    ("GET", "/api/batches/{batch_id}"): Policy(frozenset({"operator", "manufacturer"})),
    ("GET", "/api/batches/{batch_id}/codes.csv"): Policy(frozenset({"manufacturer"})),
    ("GET", "/api/batches/{batch_id}/codes.zip"): Policy(
        frozenset({"manufacturer"}), lambda o: ("?last=2", {})
    ),
    ("GET", "/api/batches/{batch_id}/labels.pdf"): Policy(
        frozenset({"manufacturer"}), lambda o: ("?last=2", {})
    ),
    ("POST", "/api/batches/{batch_id}/revoke"): Policy(
        frozenset({"manufacturer"}),
        lambda o: ("", {"json": {"reason": "recall", "serials": [20]}}),
    ),
    ("GET", "/api/units/{code}"): Policy(EVERYONE),
    ("POST", "/api/patients"): Policy(
        EVERYONE,
        lambda o: (
            "",
            {
                "json": {
                    "name": "New",
                    "national_id": o["new_national_id"],
                    "phone": "+86 138 0013 9999",
                    "username": "new-patient",
                    "password": "correct horse battery",
                }
            },
        ),
    ),
    ("POST", "/api/patients/confirm"): Policy(
        EVERYONE, lambda o: ("", {"json": {"username": "new-patient", "code": "000000"}})
    ),
    ("GET", "/api/patients/me"): Policy(PATIENTS),
    ("PUT", "/api/patients/me/contact"): Policy(
        PATIENTS, lambda o: ("", {"json": {"channel": "email", "email": "p@example.org"}})
    ),
    ("POST", "/api/tests"): Policy(
        PATIENTS,
        lambda o: (
            "",
            {
                "json": {
                    "code": o["free_code"],
                    "latitude": o["point"][0],
                    "longitude": o["point"][1],
                }
            },
        ),
    ),
    ("GET", "/api/tests"): Policy(PATIENTS | CLINICIANS | CDC),
    ("GET", "/api/tests/{test_id}"): Policy(TEST_A),
    ("POST", "/api/tests/{test_id}/photos"): Policy(
        frozenset({"patient_a"}),
        lambda o: ("", {"files": {"photo": ("p.png", o["png"], "image/png")}}),
    ),
    ("POST", "/api/tests/{test_id}/sample-applied"): Policy(
        frozenset({"patient_a"}), lambda o: ("", {"json": {}})
    ),
    ("GET", "/api/uploads/{upload_id}"): Policy(TEST_A),
    ("GET", "/api/uploads/{upload_id}/photo"): Policy(TEST_A),
    ("POST", "/api/readings/sweep"): Policy(frozenset({"operator"})),
    ("GET", "/api/readings/export"): Policy(frozenset({"scientist"})),
    ("GET", "/api/datasets/confirmed-cases.zip"): Policy(frozenset({"scientist"})),
    ("GET", "/api/datasets/drift"): Policy(frozenset({"scientist"})),
    ("GET", "/api/models/versions"): Policy(frozenset({"scientist"})),
    ("POST", "/api/models/versions"): Policy(
        frozenset({"scientist"}),
        lambda o: ("", {"files": {"file": ("m.onnx", b"not onnx", "application/octet-stream")}}),
    ),
    ("GET", "/api/models/versions/{version_id}"): Policy(frozenset({"scientist"})),
    ("GET", "/api/models/versions/{version_id}/file"): Policy(frozenset({"scientist"})),
    ("POST", "/api/models/versions/{version_id}/promotion"): Policy(
        frozenset({"scientist"}), lambda o: ("", {"json": {"reason": "matrix"}})
    ),
    ("POST", "/api/models/versions/{version_id}/challenger"): Policy(
        frozenset({"scientist"}), lambda o: ("", {"json": {"reason": "matrix"}})
    ),
    ("GET", "/api/models/shadow"): Policy(frozenset({"scientist"})),
    ("POST", "/api/models/{name}/rollback"): Policy(
        frozenset({"scientist"}), lambda o: ("", {"json": {"reason": "matrix"}})
    ),
    ("GET", "/api/models/{name}/history"): Policy(frozenset({"scientist"})),
    ("GET", "/api/reviews/queue"): Policy(CLINICIANS),
    ("GET", "/api/reviews/queue/counts"): Policy(CLINICIANS),
    ("POST", "/api/reviews/undo"): Policy(CLINICIANS),
    ("GET", "/api/reviews/stats"): Policy(CLINICIANS),
    ("GET", "/api/reviews/reviewers"): Policy(frozenset({"operator"})),
    ("POST", "/api/reviews/gold"): Policy(frozenset({"operator"})),
    ("POST", "/api/proposals/{proposal_id}/review"): Policy(
        frozenset({"clinician_a"}), lambda o: ("", {"json": {"decision": "confirm"}})
    ),
    ("GET", "/api/reports"): Policy(CLINICIANS | CDC),
    ("GET", "/api/cdc/positives"): Policy(CDC),
    ("POST", "/api/tests/{test_id}/correction"): Policy(
        frozenset({"clinician_a"}),
        lambda o: ("", {"json": {"result": "negative", "reason": "second look"}}),
    ),
    ("GET", "/api/results/{test_id}/history"): Policy(TEST_A - PATIENTS),
    ("GET", "/api/results/{test_id}/fhir"): Policy(TEST_A - PATIENTS),
    ("GET", "/api/results/{test_id}/hl7"): Policy(TEST_A - PATIENTS),
    ("GET", "/api/results.ndjson"): Policy(CLINICIANS | CDC),
    ("GET", "/api/results.hl7"): Policy(CLINICIANS | CDC),
    ("GET", "/api/statistics"): Policy(CDC | {"scientist"}),
    ("GET", "/api/statistics/{table}.csv"): Policy(CDC | {"scientist"}),
    ("GET", "/api/events"): Policy(CLINICIANS | CDC | {"operator"}),
    ("GET", "/api/events/stream"): Policy(
        CLINICIANS | CDC | {"operator"}, lambda o: ("?after_id=0&limit=1", {})
    ),
    ("POST", "/api/events/stream-token"): Policy(CLINICIANS | CDC | {"operator"}),
    ("GET", "/api/audit"): Policy(frozenset({"operator"})),
    ("GET", "/api/webhooks/endpoints"): Policy(frozenset({"operator"})),
    ("POST", "/api/webhooks/endpoints"): Policy(
        frozenset({"operator"}),
        lambda o: (
            "",
            {
                "json": {
                    "name": "Matrix receiver",
                    "url": "https://receiver.example/hook",
                    "format": "fhir",
                    "cdc_office_id": o["path_params"]["office_id"],
                }
            },
        ),
    ),
    ("GET", "/api/webhooks/endpoints/{endpoint_id}"): Policy(frozenset({"operator"})),
    ("PATCH", "/api/webhooks/endpoints/{endpoint_id}"): Policy(
        frozenset({"operator"}), lambda o: ("", {"json": {"enabled": False}})
    ),
    ("POST", "/api/webhooks/endpoints/{endpoint_id}/secrets"): Policy(frozenset({"operator"})),
    ("GET", "/api/webhooks/failures"): Policy(frozenset({"operator"})),
    # No dead letter exists here: the operator's call answers 404 or 409, never 401/403.
    ("POST", "/api/webhooks/deliveries/{delivery_id}/resend"): Policy(frozenset({"operator"})),
    ("GET", "/api/codes/test-items"): Policy(frozenset({"operator"})),
    ("POST", "/api/codes/test-items"): Policy(
        frozenset({"operator"}),
        lambda o: ("", {"json": {"name": "Matrix analyte", "loinc": "94558-4"}}),
    ),
    ("GET", "/api/codes/test-items/{binding_id}"): Policy(frozenset({"operator"})),
    ("PATCH", "/api/codes/test-items/{binding_id}"): Policy(
        frozenset({"operator"}), lambda o: ("", {"json": {"loinc": "97097-0"}})
    ),
    ("GET", "/api/codes/results"): Policy(frozenset({"operator"})),
    ("PUT", "/api/codes/results/{result}"): Policy(
        frozenset({"operator"}),
        lambda o: ("", {"json": {"code": "260373001", "display": "Detected"}}),
    ),
}


def api_routes() -> list[tuple[str, str]]:
    app = create_app(Settings(mode="test", data_dir=Path("/nonexistent"), **_dummy_keys()))
    # The OpenAPI document lists every route with its methods (this FastAPI nests routers).
    paths = app.openapi()["paths"]
    return sorted((method.upper(), path) for path, ops in paths.items() for method in ops)


def _dummy_keys() -> dict[str, str]:
    from api.config import new_secrets

    return new_secrets()


def test_every_route_has_a_policy() -> None:
    routes = set(api_routes())
    assert routes - POLICY.keys() == set(), "routes without an entry in the matrix"
    assert POLICY.keys() - routes == set(), "entries for routes that no longer exist"


@pytest.fixture
def matrix_world(world: Any, png: Any) -> dict[str, Any]:
    """One of everything, owned by the A side, plus a second manufacturer and a test in B."""
    from api.identity import make_test_id
    from api.organisations.schemas import ManufacturerReview, ManufacturerSignUp
    from api.organisations.service import add_document, review, sign_up
    from api.patients.schemas import Claim
    from api.patients.service import claim
    from api.readings.service import upload_photo

    session, ctx = world.session, world.ctx
    _other, maker_b = sign_up(
        session,
        ManufacturerSignUp(
            name="Other Maker",
            business_licence_no="BL-0002",
            device_certificates=["REG-2024-001"],
            contact_email="b@other.example",
            username="maker-b",
            password="correct horse battery",
        ),
    )
    review(session, world.operator, _other.id, ManufacturerReview(decision="approve"))
    document = add_document(
        session,
        ctx,
        world.maker,
        world.manufacturer.id,
        kind="business_licence",
        filename="licence.pdf",
        data=b"%PDF-1.4 licence",
    )
    lat, lon = world.point_a
    test = claim(
        session, ctx, world.patient_a, Claim(code=world.codes[0], latitude=lat, longitude=lon)
    )
    lat_b, lon_b = world.point_b
    claim(
        session, ctx, world.patient_b, Claim(code=world.codes[1], latitude=lat_b, longitude=lon_b)
    )
    upload, _ = upload_photo(
        session, ctx, world.patient_a, test.id, png(), idempotency_key=None, taken_at=None
    )
    session.commit()  # the reading runs in-process once the upload has committed
    from api.selftests.queries import latest_proposal

    proposal = latest_proposal(session, test.id)
    assert proposal is not None
    from api.outbox.schemas import EndpointCreate
    from api.outbox.service import create_endpoint

    endpoint = create_endpoint(
        session,
        ctx,
        world.operator,
        EndpointCreate(
            name="Region A office",
            url="https://office-a.example/hook",  # type: ignore[arg-type]
            format="fhir",
            cdc_office_id=encode(ids.CDC_OFFICE, world.office_a.id),
        ),
    )
    users = {
        "operator": world.operator,
        "manufacturer": world.maker,
        "manufacturer_b": maker_b,
        "clinician_a": world.clinician_a,
        "clinician_b": world.clinician_b,
        "cdc_a": world.cdc_a,
        "cdc_b": world.cdc_b,
        "cdc_national": world.cdc_national,
        "scientist": world.scientist,
        "patient_a": world.patient_a,
        "patient_b": world.patient_b,
    }
    headers = {who: world.headers(user) for who, user in users.items()}
    headers["anonymous"] = {}
    return {
        "headers": headers,
        "path_params": {
            "manufacturer_id": encode(ids.MANUFACTURER, world.manufacturer.id),
            "document_id": encode(ids.DOCUMENT, document.id),
            "product_id": encode(ids.PRODUCT, world.product.id),
            "batch_id": encode(ids.BATCH, world.batch.id),
            "code": world.codes[0],
            "test_id": encode(ids.TEST, test.id),
            "upload_id": encode(ids.UPLOAD, upload.id),
            "proposal_id": encode(ids.PROPOSAL, proposal.id),
            "user_id": encode(ids.USER, world.clinician_a.id),
            "institution_id": encode(ids.INSTITUTION, world.institution_a.id),
            "office_id": encode(ids.CDC_OFFICE, world.office_a.id),
            "endpoint_id": endpoint.endpoint.id,
            "delivery_id": encode(ids.DELIVERY, 1),
            "version_id": "band-classifier@1",
            "name": "band-classifier",
            "table": "days",
            "binding_id": encode(ids.CODE_BINDING, 1),  # the seed's first binding
            "result": "positive",
        },
        "code": world.codes[0],
        "free_code": world.codes[5],
        "national_id": world.national_id_a,
        "new_national_id": make_test_id(99),
        "product_id": encode(ids.PRODUCT, world.product.id),
        "region": world.region_a,
        "point": world.point_a,
        "png": png(),
    }


# A time as the API writes it, and any other ISO 8601 time (which it must not write).
RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
ISO_TIME = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d")


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def _check_contract(response: Any) -> None:
    """What every admitted answer keeps to: a 201 says where the new resource is; every
    time is RFC 3339 in UTC with ``Z``; no id is a bare integer."""
    if response.status_code == 201:
        assert response.headers.get("Location", "").startswith("/api/"), response.url
    if not response.headers.get("content-type", "").startswith("application/json"):
        return
    body = response.json() if response.content else None
    times = [s for s in _strings(body) if ISO_TIME.match(s)]
    assert all(RFC3339_UTC.fullmatch(t) for t in times), (response.url, times)
    page = isinstance(body, dict) and "has_more" in body
    for record in body["items"] if page else [body]:
        if isinstance(record, dict):
            ints = {
                k: v
                for k, v in record.items()
                if (k == "id" or k.endswith("_id")) and isinstance(v, int)
            }
            assert ints == {}, (response.url, ints)


@pytest.mark.parametrize(("method", "path"), sorted(POLICY))
def test_route_refuses_whom_it_should(
    method: str, path: str, client: TestClient, matrix_world: dict[str, Any]
) -> None:
    policy = POLICY[(method, path)]
    objects = matrix_world
    url = path.format(**objects["path_params"])
    suffix, kwargs = policy.request(objects) if policy.request else ("", {})
    # Refused callers first: an admitted call may change state (revoke a token, release).
    callers = sorted(EVERYONE - policy.allowed) + sorted(policy.allowed)
    for who in callers:
        headers = objects["headers"][who]
        response = client.request(method, url + suffix, headers=headers, **kwargs)
        if who in policy.allowed:
            assert response.status_code not in (401, 403), (who, response.text)
            _check_contract(response)
        elif who == "anonymous":
            assert response.status_code == 401, (who, response.text)
        else:
            # A role that may use the route but not this record gets 404 (out of scope: as if
            # absent, so nothing leaks); a role that may not use the route at all gets 403.
            peers_admitted = any(ROLE_OF[o] == ROLE_OF[who] for o in policy.allowed)
            expected = 404 if peers_admitted else 403
            assert response.status_code == expected, (who, response.status_code, response.text)
            assert response.json()["detail"]
