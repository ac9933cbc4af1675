"""The code mapping is stored (seeded from the JSON by the migration), changed by operators
through the API with an audit entry, and read by every message built from then on."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import select

from api.audit.tables import AuditEntry
from api.interop.codes import UNMAPPED_NOTE, load_seed
from api.interop.fhir import bundle_json
from api.interop.hl7 import build_oru_r01
from api.interop.schemas import Sender
from api.interop.service import stored_mapping
from api.outbox.schemas import EndpointCreate
from api.outbox.service import BODY_CONTEXT, create_endpoint
from api.outbox.tables import OutboxDelivery
from api.public_ids import CDC_OFFICE, CODE_BINDING, encode

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"


def test_the_migration_seeds_the_stored_mapping_from_the_json(world: Any) -> None:
    stored, seed = stored_mapping(world.session), load_seed()
    assert dict(stored.test_items) == dict(seed.test_items)
    assert dict(stored.loinc_codes) == dict(seed.loinc_codes)
    assert dict(stored.results) == dict(seed.results)


@pytest.fixture
def fhir_endpoint(world: Any) -> None:
    """CDC A's FHIR webhook (nothing listens: the test reads what the outbox holds)."""
    create_endpoint(
        world.session,
        world.ctx,
        world.operator,
        EndpointCreate(
            name="CDC A feed",
            url="http://127.0.0.1:9/hook",
            format="fhir",
            cdc_office_id=encode(CDC_OFFICE, world.office_a.id),
        ),
    )
    world.session.commit()


def last_bundle(world: Any) -> dict[str, Any]:
    world.session.expire_all()
    delivery = world.session.scalars(
        select(OutboxDelivery)
        .where(OutboxDelivery.channel == "webhook")
        .order_by(OutboxDelivery.id.desc())
    ).first()
    assert delivery is not None
    text = world.ctx.cipher.decrypt(delivery.body_enc, BODY_CONTEXT)
    Bundle.model_validate_json(text)  # the library accepts it as a FHIR R4B Bundle
    return json.loads(text)


def observation(bundle: dict[str, Any]) -> dict[str, Any]:
    [found] = [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"
    ]
    return found


def codes(concept: dict[str, Any], system: str) -> set[str]:
    return {c["code"] for c in concept.get("coding", []) if c["system"] == system}


def test_an_operators_change_reaches_the_next_message(
    client: TestClient, world: Any, flow: Any, fhir_endpoint: None
) -> None:
    operator = world.headers(world.operator)
    flow.released("positive", 0)
    first = observation(last_bundle(world))
    assert codes(first["code"], LOINC) == {"94558-4"}  # the seed's binding for any product

    # This product's own binding wins over the one for any product.
    added = client.post(
        "/api/codes/test-items",
        headers=operator,
        json={"product_code": "DEMO-COV-AG", "name": "sars-cov-2  ANTIGEN", "loinc": "97097-0"},
    )
    assert added.status_code == 201, added.text
    binding = added.json()
    assert binding["id"].startswith("cbd_")
    assert added.headers["Location"] == f"/api/codes/test-items/{binding['id']}"
    assert binding["loinc_display"].startswith("SARS-CoV-2 (COVID-19) Ag")
    changed_result = client.put(
        "/api/codes/results/positive",
        headers=operator,
        json={"code": "10828004", "display": "Positive"},
    )
    assert changed_result.status_code == 200, changed_result.text

    flow.released("positive", 1)
    second = observation(last_bundle(world))
    assert codes(second["code"], LOINC) == {"97097-0"}
    assert codes(second["valueCodeableConcept"], SNOMED) == {"10828004"}

    actions = world.session.scalars(
        select(AuditEntry.action).where(AuditEntry.actor_id == world.operator.id)
    ).all()
    assert {"bind_code", "set_result_code"} <= set(actions)
    got = client.get(f"/api/codes/test-items/{binding['id']}", headers=operator)
    assert got.json() == binding


def test_a_name_without_a_stored_binding_is_said_unmapped_until_an_operator_binds_it(
    client: TestClient, world: Any, released: Any, sender: Sender
) -> None:
    dengue = released(
        product={"test_item_name": "Dengue NS1 antigen", "test_item_loinc": None},
        analytes=({"analyte": "Dengue NS1 antigen", "result": "positive"},),
    )
    before = observation(
        json.loads(bundle_json(dengue, sender, mapping=stored_mapping(world.session)))
    )
    assert codes(before["code"], LOINC) == set()  # never guessed from a similar name
    assert before["note"][0]["text"] == UNMAPPED_NOTE.format(text="Dengue NS1 antigen")
    assert "No LOINC code is mapped" in build_oru_r01(
        dengue, sender, mapping=stored_mapping(world.session)
    )

    operator = world.headers(world.operator)
    body = {"name": "Dengue NS1 antigen", "loinc": "75377-2"}
    unnamed = client.post("/api/codes/test-items", headers=operator, json=body)
    assert unnamed.status_code == 422  # a code Vigil does not know needs its name
    body["loinc_display"] = "Dengue virus NS1 Ag [Presence] in Serum or Plasma by Rapid immunoassay"
    assert client.post("/api/codes/test-items", headers=operator, json=body).status_code == 201

    after = observation(
        json.loads(bundle_json(dengue, sender, mapping=stored_mapping(world.session)))
    )
    assert codes(after["code"], LOINC) == {"75377-2"}
    assert "note" not in after
    hl7 = build_oru_r01(dengue, sender, mapping=stored_mapping(world.session))
    assert "75377-2^Dengue virus NS1 Ag" in hl7
    assert "No LOINC code is mapped" not in hl7


def test_bad_input_is_a_problem_document_never_a_500(client: TestClient, world: Any) -> None:
    operator = world.headers(world.operator)

    def problem(response: Any, status: int) -> str:
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        return str(response.json()["detail"])

    post = lambda body: client.post("/api/codes/test-items", headers=operator, json=body)  # noqa: E731
    assert "check digit" in problem(post({"name": "Analyte X", "loinc": "94558-5"}), 422)
    assert "does not know" in problem(post({"name": "Analyte X", "loinc": "75377-2"}), 422)
    problem(post({"name": "Analyte\x00X", "loinc": "94558-4"}), 422)
    problem(post({"name": "Analyte\x07X", "loinc": "94558-4"}), 422)
    problem(post({"name": "   ", "loinc": "94558-4"}), 422)
    problem(post({"name": "A", "loinc": "not-a-code"}), 422)
    problem(post({"name": "A", "loinc": "94558-4", "extra": 1}), 422)
    assert "already bound" in problem(post({"name": "sars-cov-2 antigen", "loinc": "94558-4"}), 409)
    problem(
        client.get(f"/api/codes/test-items/{encode(CODE_BINDING, 10**6)}", headers=operator), 404
    )
    problem(client.get("/api/codes/test-items/cbd_" + "9" * 40, headers=operator), 404)
    problem(client.get("/api/codes/test-items?cursor=forged", headers=operator), 422)
    put = lambda result, body: client.put(  # noqa: E731
        f"/api/codes/results/{result}", headers=operator, json=body
    )
    problem(put("maybe", {"code": "260373001", "display": "Detected"}), 422)
    problem(put("positive", {"code": "26037300x", "display": "Detected"}), 422)
    problem(put("positive", {"code": "260373001", "display": ""}), 422)


def test_the_lists_page_with_a_cursor(client: TestClient, world: Any) -> None:
    operator = world.headers(world.operator)
    seen: list[str] = []
    url = "/api/codes/test-items?limit=2"
    while url:
        page = client.get(url, headers=operator)
        assert page.status_code == 200
        body = page.json()
        seen += [b["name"] for b in body["items"]]
        url = (
            f"/api/codes/test-items?limit=2&cursor={body['next_cursor']}"
            if body["has_more"]
            else ""
        )
    assert seen == ["SARS-CoV-2 antigen", "Influenza A antigen", "Influenza B antigen"]
    results = client.get("/api/codes/results?limit=2", headers=operator).json()
    assert [r["result"] for r in results["items"]] == ["invalid", "negative"]
    assert results["has_more"]
