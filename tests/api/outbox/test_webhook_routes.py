"""The operator's JSON routes for endpoints and failed deliveries."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import API_PREFIX, create_app
from api.context import AppContext
from api.outbox.routes import router
from api.public_ids import CDC_OFFICE, INSTITUTION, encode


@pytest.fixture
def webhook_client(ctx: AppContext) -> Iterator[TestClient]:
    # Mounted here until the app includes the router (one line in api.app.api_router).
    app = create_app(context=ctx)
    app.include_router(router, prefix=API_PREFIX)
    with TestClient(app) as client:
        yield client


def test_operator_registers_rotates_pauses_and_lists(
    webhook_client: TestClient, world: Any
) -> None:
    operator = world.headers(world.operator)
    body = {
        "name": "National CDC FHIR",
        "url": "https://cdc.example/fhir/hook",
        "format": "fhir",
        "cdc_office_id": encode(CDC_OFFICE, world.office_national.id),
    }
    created = webhook_client.post("/api/webhooks/endpoints", json=body, headers=operator)
    assert created.status_code == 201, created.text
    endpoint_id = created.json()["endpoint"]["id"]
    assert created.json()["secret"].startswith("whsec_")
    rotated = webhook_client.post(
        f"/api/webhooks/endpoints/{endpoint_id}/secrets", headers=operator
    )
    assert rotated.status_code == 201
    assert rotated.json()["secret"] != created.json()["secret"]
    paused = webhook_client.patch(
        f"/api/webhooks/endpoints/{endpoint_id}", json={"enabled": False}, headers=operator
    )
    assert paused.json()["enabled"] is False
    listed = webhook_client.get("/api/webhooks/endpoints", headers=operator).json()["items"]
    assert [(e["id"], e["backlog"], e["dead_letters"]) for e in listed] == [(endpoint_id, 0, 0)]
    assert "secret" not in listed[0]
    assert webhook_client.get("/api/webhooks/failures", headers=operator).json()["items"] == []


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"format": "xml"}, 422),
        ({"url": "not a url"}, 422),
        ({"cdc_office_id": None}, 422),
        ({"cdc_office_id": 999_999}, 422),
        ({"institution_id": 1}, 422),
    ],
)
def test_bad_endpoints_are_refused(
    webhook_client: TestClient, world: Any, change: dict[str, Any], status: int
) -> None:
    body = {"name": "x", "url": "https://a.example/h", "format": "hl7"}
    body["cdc_office_id"] = encode(CDC_OFFICE, world.office_b.id)
    owners = {"cdc_office_id": CDC_OFFICE, "institution_id": INSTITUTION}
    change = {k: encode(owners[k], v) if isinstance(v, int) else v for k, v in change.items()}
    response = webhook_client.post(
        "/api/webhooks/endpoints", json=body | change, headers=world.headers(world.operator)
    )
    assert response.status_code == status, response.text


def test_only_operators_manage_endpoints(webhook_client: TestClient, world: Any) -> None:
    for user in (world.cdc_national, world.clinician_a, world.patient_a):
        listed = webhook_client.get("/api/webhooks/endpoints", headers=world.headers(user))
        assert listed.status_code == 403
    assert webhook_client.get("/api/webhooks/endpoints").status_code == 401
    missing = webhook_client.post(
        "/api/webhooks/deliveries/999999/resend", headers=world.headers(world.operator)
    )
    assert missing.status_code == 404
