"""The export of confirmed cases: what goes out, what never does, and that it is reproducible."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.accounts import service as accounts
from api.accounts.tables import Role
from api.datasets import service
from api.datasets.schemas import ExportSelection
from api.errors import InvalidError


def _seed(flow: Any) -> dict[str, Any]:
    """Released positive and negative, a photo read by eye (two readers), a clinician's retake,
    one awaiting its second reader (not confirmed) and one never read (not confirmed)."""
    w = flow.world
    second = accounts.create_user(
        w.session,
        username="clinician-a2",
        password="correct horse battery",
        role=Role.clinician,
        display_name="Second reader",
        institution_id=w.institution_a.id,
    )
    w.session.commit()
    positive = flow.released("positive", 0)
    flow.released("negative", 1)
    reader = w.ctx.vision.reader
    reader.queue.append("by_eye")  # type: ignore[union-attr]
    by_eye = flow.claim(code_index=2)
    flow.upload(by_eye)
    flow.decide(by_eye, result="positive")
    flow.decide(by_eye, result="positive", clinician=second)
    retake = flow.claim(code_index=3)
    flow.upload(retake)
    flow.decide(retake, decision="retake", reason="blurred")
    pending = flow.claim(code_index=4)
    reader.queue.append("by_eye")  # type: ignore[union-attr]
    flow.upload(pending)
    flow.decide(pending, result="negative")
    flow.upload(flow.claim(code_index=5))
    return {"positive": positive, "by_eye": by_eye}


def test_export_writes_the_confirmed_cases_and_nothing_personal(flow: Any, tmp_path: Path) -> None:
    w = flow.world
    _seed(flow)
    built = service.export(w.session, w.ctx, w.scientist, ExportSelection())
    labels = [json.loads(line) for line in built.files["labels.jsonl"].decode().splitlines()]
    assert sorted(r["final_label"]["result"] for r in labels) == [
        "negative",
        "positive",
        "positive",
        "unreadable",
    ]
    eye = next(r for r in labels if r["reading"]["status"] == "by_eye")
    assert eye["final_label"] == {"result": "positive", "read_by_eye": True}
    assert eye["second_label"] == {"result": "positive"}
    assert eye["resolution"] == "second_reader_agreed"
    assert {r["resolution"] for r in labels if r is not eye} == {"single_reader"}
    for record in labels:
        assert record["model"] == "fake@1"
        assert re.fullmatch(r"20[0-9]{2}-W[0-5][0-9]", record["week"])
        assert record["region"] == w.region_a
        assert record["lot"] == w.batch.lot_number
        assert record["reading"]["code"] is None
        assert built.files[record["image"]]
        assert json.loads(built.files[record["kit"]])["template"]["image"] == "template.png"

    # Nothing that names a person or a place more exactly than the region.
    everything = b"".join(built.files.values())
    for secret in (
        w.national_id_a.encode(),
        str(w.point_a[0]).encode(),
        str(w.point_a[1]).encode(),
        w.codes[0].encode(),
        b"Patient ",
        w.patient_a.username.encode(),
    ):
        assert secret not in everything

    sheet = built.datasheet
    assert sheet["counts"]["cases"] == 4
    assert sheet["counts"]["read_by_eye"] == 1
    assert sheet["counts"]["per_class"] == {"negative": 1, "positive": 2, "unreadable": 1}
    assert sheet["counts"]["per_od_band"] == {
        "negative": 1,
        "strong": 1,
        "unmeasured": 1,
        "unreadable": 1,
    }
    assert sheet["counts"]["per_lot"] == {f"{w.product.product_code}/{w.batch.lot_number}": 4}
    assert "third reader" in sheet["disagreements"] or "third clinician" in sheet["disagreements"]

    # The same selection: the same files, byte for byte, and the same hash.
    again = service.build(w.session, w.ctx, ExportSelection())
    assert again.files == built.files
    assert again.content_hash == built.content_hash
    assert again.zip_bytes() == built.zip_bytes()
    # Another selection: another dataset.
    none = service.build(w.session, w.ctx, ExportSelection(regions=[w.region_b]))
    assert none.datasheet["counts"]["cases"] == 0
    assert none.content_hash != built.content_hash

    out = tmp_path / "export"
    built.write(out)
    assert (out / "datasheet.json").read_bytes() == built.files["datasheet.json"]
    with pytest.raises(InvalidError, match="not empty"):
        built.write(out)

    # training.evaluate reads the export as it is.
    from training.evaluate import load_real

    cases = load_real(out)
    assert len(cases) == 4
    assert sum(c.result is None for c in cases) == 1  # the clinician's retake: unreadable


def test_export_route(flow: Any, client: TestClient) -> None:
    w = flow.world
    _seed(flow)
    headers = w.headers(w.scientist)
    first = client.get("/api/datasets/confirmed-cases.zip", headers=headers)
    assert first.status_code == 200, first.text
    second = client.get("/api/datasets/confirmed-cases.zip", headers=headers)
    assert first.content == second.content
    digest = first.headers["X-Content-SHA256"]
    with zipfile.ZipFile(io.BytesIO(first.content)) as archive:
        names = archive.namelist()
        sheet = json.loads(archive.read(f"confirmed-cases@{digest[:12]}/datasheet.json"))
    assert sheet["content_hash"] == digest
    assert any(n.endswith("labels.jsonl") for n in names)

    bad = client.get(
        "/api/datasets/confirmed-cases.zip?since=2026-02-01&until=2026-01-01", headers=headers
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert (
        client.get("/api/datasets/confirmed-cases.zip?since=nope", headers=headers).status_code
        == 422
    )
    assert (
        client.get(
            "/api/datasets/confirmed-cases.zip", headers=w.headers(w.clinician_a)
        ).status_code
        == 403
    )
