"""Audit entries show the records their detail names by public ids, as the rest of the API."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from api import public_ids
from api.selftests.queries import latest_proposal


def entries(client: TestClient, world: Any, action: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/audit?action={action}", headers=world.headers(world.operator))
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_detail_names_records_by_public_ids(client: TestClient, world: Any, flow: Any) -> None:
    test = flow.claim()
    upload = flow.upload(test)
    flow.decide(test)
    proposal = latest_proposal(world.session, test.id)
    assert proposal is not None

    (uploaded,) = entries(client, world, "upload")
    assert uploaded["detail"]["test"] == public_ids.encode(public_ids.TEST, test.id)
    (proposed,) = entries(client, world, "proposal")
    assert proposed["detail"]["upload"] == public_ids.encode(public_ids.UPLOAD, upload.id)
    # Values that name no record stay as stored.
    assert proposed["detail"]["result"] == proposal.result
    (reported,) = entries(client, world, "report")
    for key, kind in (
        ("cdc_offices", public_ids.CDC_OFFICE),
        ("institutions", public_ids.INSTITUTION),
    ):
        assert all(public_ids.decode(kind, public) for public in reported["detail"][key]), key
    assert reported["detail"]["cdc_offices"]
