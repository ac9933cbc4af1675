"""A released result leaves Vigil as standard messages: to the agencies' webhooks through
the outbox (in the release's transaction), to the patient as a link, and as downloads;
a correction or withdrawal follows the first to everyone who got it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from hl7apy.parser import parse_message
from sqlalchemy import func, select

from api.outbox.schemas import EndpointCreate
from api.outbox.service import BODY_CONTEXT, create_endpoint
from api.outbox.tables import OutboxDelivery, OutboxMessage
from api.public_ids import CDC_OFFICE, TEST, encode
from api.reports import releases
from api.reports.schemas import CorrectionIn, LinkedResult, LinkRefused
from api.scope import scope_for
from api.selftests.tables import TestStatus

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
DETECTED, NOT_DETECTED = "260373001", "260415000"


@pytest.fixture
def endpoint(world: Any) -> None:
    """A FHIR webhook of CDC A, whose region holds region A (nothing listens: not sent here)."""
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


def _deliveries(world: Any, channel: str) -> list[OutboxDelivery]:
    query = select(OutboxDelivery).where(OutboxDelivery.channel == channel)
    return list(world.session.scalars(query.order_by(OutboxDelivery.id)))


def _bundle(world: Any, delivery: OutboxDelivery) -> dict[str, Any]:
    text = world.ctx.cipher.decrypt(delivery.body_enc, BODY_CONTEXT)
    Bundle.model_validate_json(text)  # the library accepts it as a FHIR R4B Bundle
    return json.loads(text)


def _resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def _codes(concept: dict[str, Any], system: str) -> set[str]:
    return {c["code"] for c in concept.get("coding", []) if c["system"] == system}


def test_positive_goes_to_the_endpoint_and_the_patient_and_a_correction_follows(
    world: Any, flow: Any, endpoint: None
) -> None:
    test = flow.released("positive", 0)
    assert test.status == TestStatus.released

    [delivery] = _deliveries(world, "webhook")
    assert delivery.content_type == "application/fhir+json"
    bundle = _bundle(world, delivery)
    [observation] = _resources(bundle, "Observation")
    assert _codes(observation["code"], LOINC) == {"94558-4"}  # the demo kit's test item
    assert _codes(observation["valueCodeableConcept"], SNOMED) == {DETECTED}
    [report] = _resources(bundle, "DiagnosticReport")
    assert report["status"] == "final"
    [device] = _resources(bundle, "Device")
    assert device["lotNumber"] == "LOT-A1"
    [patient] = _resources(bundle, "Patient")
    assert patient["name"][0]["text"] == "Patient 0"  # decrypted for the agency
    [sms] = _deliveries(world, "sms")
    body = world.ctx.cipher.decrypt(sms.body_enc, BODY_CONTEXT)
    assert "/r/" in body
    assert "positive" not in body.lower()
    assert "Patient 0" not in body

    scope = scope_for(world.session, world.ctx, world.clinician_a)
    history = releases.amend(
        world.session,
        world.ctx,
        world.clinician_a,
        scope,
        test.id,
        CorrectionIn(result="negative", reason="control line misread"),
    )
    world.session.commit()
    assert [(v.report_status, v.result) for v in history] == [
        ("final", "positive"),
        ("corrected", "negative"),
    ]
    first, corrected = _deliveries(world, "webhook")
    assert corrected.endpoint_id == first.endpoint_id
    bundle = _bundle(world, corrected)
    [report] = _resources(bundle, "DiagnosticReport")
    assert report["status"] == "corrected"
    [observation] = _resources(bundle, "Observation")
    assert _codes(observation["valueCodeableConcept"], SNOMED) == {NOT_DETECTED}
    assert len(_deliveries(world, "sms")) == 2  # the patient is told again

    releases.amend(
        world.session,
        world.ctx,
        world.clinician_a,
        scope,
        test.id,
        CorrectionIn(entered_in_error=True, reason="wrong patient"),
    )
    world.session.commit()
    withdrawn = _deliveries(world, "webhook")[-1]
    [report] = _resources(_bundle(world, withdrawn), "DiagnosticReport")
    assert report["status"] == "entered-in-error"
    assert [v.report_status for v in releases.history(world.session, scope, test.id)] == [
        "final",
        "corrected",
        "entered-in-error",
    ]


def test_a_negative_goes_to_the_patient_only(world: Any, flow: Any, endpoint: None) -> None:
    flow.released("negative", 0)
    assert _deliveries(world, "webhook") == []
    assert len(_deliveries(world, "sms")) == 1


def test_a_rolled_back_release_leaves_no_outbox_rows(world: Any, flow: Any, endpoint: None) -> None:
    from api.reviews.schemas import ReviewIn
    from api.reviews.service import decide
    from api.selftests.queries import latest_proposal

    world.ctx.vision.reader.queue.append("positive")
    test = flow.claim()
    flow.upload(test)
    proposal = latest_proposal(world.session, test.id)
    assert proposal is not None
    scope = scope_for(world.session, world.ctx, world.clinician_a)
    decide(
        world.session,
        world.ctx,
        world.clinician_a,
        scope,
        proposal.id,
        ReviewIn(decision="confirm"),
    )
    world.session.flush()
    assert world.session.scalar(select(func.count(OutboxDelivery.id))) == 2  # webhook + SMS
    world.session.rollback()
    assert world.session.scalar(select(func.count(OutboxDelivery.id))) == 0
    assert world.session.scalar(select(func.count(OutboxMessage.id))) == 0


def test_the_link_opens_only_with_the_kit_code_and_id_digits(world: Any, flow: Any) -> None:
    test = flow.released("positive", 0)
    [sms] = _deliveries(world, "sms")
    token = world.ctx.cipher.decrypt(sms.body_enc, BODY_CONTEXT).split("/r/")[1].split()[0]
    code = world.codes[0]
    refused = releases.open_link(world.session, world.ctx, token, code, "0000")
    assert isinstance(refused, LinkRefused)
    assert refused.refusal == "mismatch"
    opened = releases.open_link(world.session, world.ctx, token, code, world.national_id_a[-4:])
    assert isinstance(opened, LinkedResult)
    assert (opened.status, opened.result) == ("released", "positive")
    assert test.id  # the same test


def test_downloads_in_scope(world: Any, flow: Any, client: Any) -> None:
    test = flow.released("positive", 0)
    negative = flow.released("negative", 1)
    cdc = world.headers(world.cdc_a)
    # Downloads carry what agencies are sent: a negative never amended is not among them.
    assert (
        client.get(f"/api/results/{encode(TEST, negative.id)}/fhir", headers=cdc).status_code == 404
    )
    one = client.get(f"/api/results/{encode(TEST, test.id)}/fhir", headers=cdc)
    assert one.status_code == 200, one.text
    assert one.headers["content-type"].startswith("application/fhir+json")
    assert Bundle.model_validate_json(one.text).type == "message"
    hl7 = client.get(f"/api/results/{encode(TEST, test.id)}/hl7", headers=cdc)
    assert hl7.status_code == 200, hl7.text
    message = parse_message(hl7.text.replace("\n", "\r"), find_groups=False)
    assert message.msh.msh_9.to_er7() == "ORU^R01^ORU_R01"
    ndjson = client.get("/api/results.ndjson", headers=cdc)
    lines = ndjson.text.splitlines()
    assert ndjson.status_code == 200
    assert len(lines) == 1
    assert all(Bundle.model_validate_json(line).type == "message" for line in lines)
    batch = client.get("/api/results.hl7", headers=cdc)
    assert batch.status_code == 200
    assert batch.text.count("MSH|") == 1
    outside = client.get(
        f"/api/results/{encode(TEST, test.id)}/fhir", headers=world.headers(world.cdc_b)
    )
    assert outside.status_code == 404
    assert client.get("/api/results.ndjson", headers=world.headers(world.cdc_b)).text == ""


def _sample(name: str, labels: dict[str, str] | None = None) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def test_reading_release_and_backlog_are_measured(
    world: Any, flow: Any, endpoint: None, client: Any
) -> None:
    readings = _sample("vigil_readings_total", {"status": "ok", "result": "positive"})
    releases_seen = _sample("vigil_release_latency_seconds_count")
    flow.released("positive", 0)
    assert _sample("vigil_readings_total", {"status": "ok", "result": "positive"}) == readings + 1
    assert _sample("vigil_release_latency_seconds_count") == releases_seen + 1
    # The backlog is the outbox's: the one webhook delivery not yet sent.
    scraped = client.get("/metrics").text
    assert "vigil_webhook_backlog 1.0" in scraped


def test_correction_route_answers_with_the_history_and_refuses_bad_amendments(
    world: Any, flow: Any, client: Any
) -> None:
    test = flow.released("positive", 0)
    url = f"/api/tests/{encode(TEST, test.id)}/correction"
    clinician = world.headers(world.clinician_a)
    both = {"result": "negative", "entered_in_error": True, "reason": "x"}
    assert client.post(url, json=both, headers=clinician).status_code == 422
    same = client.post(url, json={"result": "positive", "reason": "x"}, headers=clinician)
    assert same.status_code == 409
    assert same.headers["content-type"].startswith("application/problem+json")
    done = client.post(url, json={"result": "invalid", "reason": "smudged"}, headers=clinician)
    assert done.status_code == 200, done.text
    assert [v["report_status"] for v in done.json()] == ["final", "corrected"]
    history = client.get(
        f"/api/results/{encode(TEST, test.id)}/history", headers=world.headers(world.cdc_a)
    )
    assert [v["result"] for v in history.json()["items"]] == ["positive", "invalid"]
    other = client.post(
        url, json={"result": "negative", "reason": "x"}, headers=world.headers(world.clinician_b)
    )
    assert other.status_code == 404
