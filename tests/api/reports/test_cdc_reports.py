"""Reports to CDC offices and institutions, the CDC's case list, statistics."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from api.audit.tables import AuditEntry
from api.public_ids import TEST, decode


def test_reports_go_to_the_region_and_the_offices_above(
    client: TestClient, world: Any, flow: Any
) -> None:
    test = flow.released("positive", code_index=0, where="a")
    for user, expected in (
        (world.cdc_a, [test.id]),
        (world.cdc_national, [test.id]),
        (world.cdc_b, []),
        (world.clinician_a, [test.id]),
        (world.clinician_b, []),
    ):
        reports = client.get("/api/reports", headers=world.headers(user)).json()["items"]
        assert [decode(TEST, r["test_id"]) for r in reports] == expected, user.username


def test_cdc_list_in_scope_with_identity_and_the_viewing_is_audited(
    client: TestClient, world: Any, flow: Any
) -> None:
    a = flow.released("positive", code_index=0, where="a")
    b = flow.released("positive", code_index=1, where="b", patient=world.patient_b)
    flow.released("negative", code_index=2, where="a")

    def cases(user: Any) -> list[dict[str, Any]]:
        response = client.get("/api/cdc/positives", headers=world.headers(user))
        assert response.status_code == 200
        return response.json()["items"]

    assert {decode(TEST, c["test_id"]) for c in cases(world.cdc_national)} == {a.id, b.id}
    only_b = cases(world.cdc_b)
    assert [decode(TEST, c["test_id"]) for c in only_b] == [b.id]
    case = only_b[0]
    assert case["national_id"] == world.national_id_b
    assert case["phone"].startswith("+86")
    assert case["name"] == "Patient 1"
    assert case["region_code"] == world.region_b
    assert case["lot_number"] == "LOT-A1"
    # Stored to about a kilometre (issue 11); the region came from the exact point.
    assert (case["latitude"], case["longitude"]) == tuple(round(v, 2) for v in world.point_b)
    viewed = world.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "view_personal_data")
    ).all()
    assert [v.actor_id for v in viewed] == [world.cdc_national.id, world.cdc_b.id]
    assert viewed[1].detail["patients"] == [b.patient_id]


def test_statistics_by_day_region_product_and_result(
    client: TestClient, world: Any, flow: Any
) -> None:
    results = [("positive", "a"), ("negative", "a"), ("negative", "a"), ("invalid", "a")]
    results += [("positive", "b"), ("negative", "b")]
    for index, (result, where) in enumerate(results):
        flow.released(result, code_index=index, where=where)
    stats = client.get("/api/stats", headers=world.headers(world.cdc_national)).json()
    assert stats["total"] == 6
    assert stats["by_result"] == {"positive": 2, "negative": 3, "invalid": 1}
    assert stats["positivity_rate"] == round(2 / 5, 4)  # invalid tests are left out
    today = date.today().isoformat()
    assert stats["by_day"] == {today: {"positive": 2, "negative": 3, "invalid": 1}}
    assert stats["by_region"][world.region_a] == {"positive": 1, "negative": 2, "invalid": 1}
    assert stats["by_product"]["DEMO-COV-AG"]["negative"] == 3
    only_b = client.get("/api/stats", headers=world.headers(world.cdc_b)).json()
    assert only_b["by_result"] == {"positive": 1, "negative": 1, "invalid": 0}
    assert world.region_a not in only_b["by_region"]
    national = client.get("/api/stats", headers=world.headers(world.scientist)).json()
    assert national["total"] == 6
    table = client.get("/api/stats.csv", headers=world.headers(world.cdc_national))
    assert table.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(table.text)))
    assert sum(int(r["count"]) for r in rows) == 6
    assert {r["region_code"] for r in rows} == {world.region_a, world.region_b}
    assert all(r["region_name"] for r in rows)
    provinces = client.get(
        "/api/stats", params={"level": "province"}, headers=world.headers(world.cdc_national)
    ).json()
    province_a = world.ctx.regions.lineage(world.region_a)[-2]
    assert provinces["by_region"][province_a] == {"positive": 1, "negative": 2, "invalid": 1}
    assert set(provinces["by_region"]) <= set(world.ctx.regions.codes(level="province"))
    bad_level = client.get(
        "/api/stats", params={"level": "galaxy"}, headers=world.headers(world.cdc_national)
    )
    assert bad_level.status_code == 422
    later = client.get(
        "/api/stats", params={"since": "2999-01-01T00:00:00Z"}, headers=world.headers(world.cdc_a)
    ).json()
    assert later["total"] == 0
    assert later["positivity_rate"] is None
