"""The registry's routes: data scientists only; register, promote (refusals kept), roll back."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

import api.accounts.service as accounts_service
from api.accounts.tables import Role, User
from models.registry import shipped_files
from training.perturb import relabel, weaken_evidence


def figures(**overrides: tuple[int, int]) -> dict[str, Any]:
    base = {"sensitivity_faint": (95, 100), "specificity": (200, 200), "confident_errors": (0, 300)}
    base.update(overrides)
    return {k: {"k": v[0], "n": v[1], "rate": v[0] / v[1]} for k, v in base.items()}


def evaluation(candidate: bytes, champion: bytes, cand: dict[str, Any]) -> dict[str, Any]:
    """A report shaped as training.evaluate writes it, with crafted metrics."""
    sha = lambda b: hashlib.sha256(b).hexdigest()  # noqa: E731
    return {
        "models": {"candidate": {"sha256": sha(candidate)}, "champion": {"sha256": sha(champion)}},
        "comparison": {"synthetic": {"candidate": cand, "champion": figures()}},
    }


def upload(client: TestClient, headers: dict[str, str], data: bytes, **meta: Any) -> Any:
    files = {"file": ("m.onnx", data, "application/octet-stream")}
    return client.post(
        "/api/models/versions", headers=headers, files=files, data={"metadata": json.dumps(meta)}
    )


def test_registry_routes(
    registry_client: TestClient,
    session: Session,
    scientist: User,
    shipped: bytes,
    bearer: Callable[[User], dict[str, str]],
) -> None:
    ds = bearer(scientist)
    operator = accounts_service.create_user(
        session,
        username="op",
        password="correct horse battery",
        role=Role.operator,
        display_name="Operator",
    )
    assert registry_client.get("/api/models/versions").status_code == 401
    assert registry_client.get("/api/models/versions", headers=bearer(operator)).status_code == 403

    first = upload(
        registry_client,
        ds,
        shipped,
        metrics={"log_loss": 0.001},
        training_params={"seed": 0},
        training_data_hash="a" * 64,
    )
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["version"] == "band-classifier@1"
    assert body["sha256"] == hashlib.sha256(shipped).hexdigest()
    assert body["created_by"] == "ds"
    assert body["training_data_hash"] == "a" * 64
    # The same file again, a file that is no model, bad metadata: clear refusals.
    assert upload(registry_client, ds, shipped).status_code == 409
    assert upload(registry_client, ds, b"not onnx").status_code == 422
    bad = upload(registry_client, ds, relabel(shipped, "x@2"), training_data_hash="nothex")
    assert bad.status_code == 422
    got = registry_client.get(f"/api/models/versions/{body['id']}/file", headers=ds)
    assert got.status_code == 200
    assert got.content == shipped
    assert registry_client.get("/api/models/versions/nope", headers=ds).status_code == 404

    url = "/api/models/versions/band-classifier@1/promotion"
    assert registry_client.post(url, headers=ds, json={"reason": "first"}).status_code == 201

    weak = weaken_evidence(shipped, 0.25, "band-classifier@22")
    equal = relabel(shipped, "band-classifier@23")
    assert upload(registry_client, ds, weak).status_code == 201
    assert upload(registry_client, ds, equal).status_code == 201
    worse = evaluation(weak, shipped, figures(sensitivity_faint=(70, 100)))
    # Without an evaluation there is nothing to judge by.
    url2 = "/api/models/versions/band-classifier@22/promotion"
    assert registry_client.post(url2, headers=ds, json={"reason": "try"}).status_code == 422
    refused = registry_client.post(url2, headers=ds, json={"reason": "try", "evaluation": worse})
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "sensitivity_faint" in refused.json()["detail"]

    same = evaluation(equal, shipped, figures())
    url3 = "/api/models/versions/band-classifier@23/promotion"
    ok = registry_client.post(url3, headers=ds, json={"reason": "rebuilt", "evaluation": same})
    assert ok.status_code == 201
    assert ok.json()["accepted"]
    challenger = registry_client.post(
        "/api/models/versions/band-classifier@22/challenger", headers=ds, json={"reason": "shadow"}
    )
    assert challenger.status_code == 200

    listed = {
        v["version"]: v["aliases"]
        for v in registry_client.get("/api/models/versions", headers=ds).json()["items"]
    }
    assert listed == {
        "band-classifier@23": ["champion"],
        "band-classifier@22": ["challenger"],
        "band-classifier@1": [],
    }
    back = registry_client.post(
        "/api/models/band-classifier/rollback", headers=ds, json={"reason": "undo"}
    )
    assert back.status_code == 200
    assert back.json()["version"] == "band-classifier@1"
    again = registry_client.post(
        "/api/models/band-classifier/rollback", headers=ds, json={"reason": "undo"}
    )
    assert again.status_code == 409

    history = registry_client.get("/api/models/band-classifier/history", headers=ds).json()
    history = history["items"]
    assert [(h["action"], h["accepted"], h["version"], h["by"]) for h in history] == [
        ("rollback", True, "band-classifier@1", "ds"),
        ("challenger", True, "band-classifier@22", "ds"),
        ("promote", True, "band-classifier@23", "ds"),
        ("promote", False, "band-classifier@22", "ds"),
        ("promote", True, "band-classifier@1", "ds"),
    ]
    refusal = history[3]["decision"]
    assert [v["figure"] for v in refusal["verdicts"] if not v["passed"]] == ["sensitivity_faint"]


def test_shipped_labels_stay_with_their_files(
    registry_client: TestClient,
    scientist: User,
    shipped: bytes,
    bearer: Callable[[User], dict[str, str]],
) -> None:
    """A reading names its model by label: no second file under a shipped model's label."""
    ds = bearer(scientist)
    impostor = upload(registry_client, ds, weaken_evidence(shipped, 0.25, "band-classifier@2"))
    assert impostor.status_code == 409
    assert "shipped model" in impostor.json()["detail"]
    # A file with no label of its own gets the next number after the shipped ones too.
    unlabelled = upload(registry_client, ds, relabel(shipped, "retrained"))
    assert unlabelled.status_code == 201, unlabelled.text
    shipped_numbers = [int(v.split("@")[1]) for v in shipped_files()]
    assert unlabelled.json()["version"] == f"band-classifier@{max(shipped_numbers) + 1}"
