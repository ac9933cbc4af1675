"""Shadow mode in the worker: the challenger reads each live photo after the champion; its
readings are stored and compared, and change nothing anyone is told."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from api.model_registry import service
from api.model_registry.schemas import VersionRegister
from api.public_ids import PROPOSAL, encode
from api.selftests.queries import latest_proposal


def test_the_challenger_reads_in_the_shadow(flow: Any, client: TestClient, shipped: bytes) -> None:
    w = flow.world
    service.register(w.session, w.scientist, shipped, VersionRegister())
    service.set_challenger(w.session, w.scientist, "band-classifier@1", "try it beside")
    w.session.commit()
    reader = w.ctx.vision.reader
    # The stand-in answers in call order: the champion first, then the challenger.
    reader.queue += ["positive", "positive", "negative", "positive"]
    agreed = flow.claim(code_index=0)
    flow.upload(agreed)
    differed = flow.claim(code_index=1)
    flow.upload(differed)
    assert reader.calls == 4

    headers = w.headers(w.scientist)
    every = client.get("/api/models/shadow?all=true", headers=headers).json()["items"]
    assert [(s["champion_result"], s["challenger_result"], s["agrees"]) for s in every] == [
        ("negative", "positive", False),
        ("positive", "positive", True),
    ]
    assert {s["challenger"] for s in every} == {"band-classifier@1"}
    assert {s["champion"] for s in every} == {"fake@1"}
    (only,) = client.get("/api/models/shadow", headers=headers).json()["items"]
    assert only["proposal_id"] == encode(PROPOSAL, latest_proposal(w.session, differed.id).id)  # type: ignore[union-attr]

    # What the clinicians and the patient see is the champion's reading.
    proposal = latest_proposal(w.session, differed.id)
    assert proposal is not None
    assert (proposal.result, proposal.model_version) == ("negative", "fake@1")
    queue = client.get("/api/reviews/queue", headers=w.headers(w.clinician_a)).json()["items"]
    shown = {item["proposal_id"]: item for item in queue}
    item = shown[encode(PROPOSAL, proposal.id)]
    assert item["proposed_result"] == "negative"
    assert item["model_version"] == "fake@1"
    assert "band-classifier" not in str(item)
    assert client.get("/api/models/shadow", headers=w.headers(w.clinician_a)).status_code == 403
