"""The API contract, checked on the OpenAPI schema and on real answers.

Every documented error is an RFC 9457 problem document; FastAPI's own validation
errors and Starlette's 404/405 come in the same shape. Every list pages the same way
(``limit``, ``cursor``; ``items``, ``has_more``, ``next_cursor`` and a ``Link`` header), and
ids are opaque: no path takes a sequential integer and no answer shows one. (The route
matrix checks every admitted answer for ``Location`` on 201, ``Z`` times and integer ids.)
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import public_ids
from api.app import create_app
from api.config import Settings
from api.errors import PROBLEM_JSON
from api.pagination import MAX_LIMIT

ERRORS = {"401", "403", "404", "409", "413", "415", "422", "429", "503"}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return create_app(Settings(mode="test", celery_broker_url=None)).openapi()


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
    ]


def test_every_documented_error_is_a_problem_document(schema: dict[str, Any]) -> None:
    problem = schema["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "code"} <= set(problem["required"])
    assert "errors" in problem["properties"]
    wrong = []
    for method, path, operation in _operations(schema):
        for status, answer in operation["responses"].items():
            if status[0] not in "45":
                continue
            content = answer.get("content", {})
            ref = content.get(PROBLEM_JSON, {}).get("schema", {}).get("$ref")
            if set(content) != {PROBLEM_JSON} or ref != "#/components/schemas/Problem":
                wrong.append((method, path, status))
    assert wrong == []
    assert "HTTPValidationError" not in schema["components"]["schemas"]


def test_every_route_documents_the_errors_it_can_answer(schema: dict[str, Any]) -> None:
    missing = []
    for method, path, operation in _operations(schema):
        documented = set(operation["responses"])
        needed = {"422"} if operation.get("parameters") or operation.get("requestBody") else set()
        if "{" in path:
            needed.add("404")
        if method in ("POST", "PUT", "PATCH", "DELETE"):
            needed.add("409")
        if needed - documented:
            missing.append((method, path, sorted(needed - documented)))
        assert documented - {"200", "201", "202", "204", "default"} <= ERRORS, (method, path)
    assert missing == []


def test_logged_in_routes_document_401_and_403(schema: dict[str, Any]) -> None:
    guarded = [(m, p, op) for m, p, op in _operations(schema) if "401" in op["responses"]]
    assert ("GET", "/api/reviews/queue") in {(m, p) for m, p, _op in guarded}
    assert ("GET", "/api/health") not in {(m, p) for m, p, _op in guarded}
    for method, path, operation in guarded:
        assert "403" in operation["responses"], (method, path)


def test_uploads_document_413_and_415(schema: dict[str, Any]) -> None:
    uploads = [
        (method, path, op)
        for method, path, op in _operations(schema)
        if "multipart/form-data" in op.get("requestBody", {}).get("content", {})
    ]
    assert uploads, "the photo, kit and document uploads are multipart"
    for method, path, operation in uploads:
        assert {"413", "415"} <= set(operation["responses"]), (method, path)


def test_real_errors_come_as_problem_documents(client: TestClient, world: Any) -> None:
    patient = world.headers(world.patient_a)
    invalid = client.post("/api/tests", headers=patient, json={"code": "x", "latitude": "north"})
    assert invalid.status_code == 422
    assert invalid.headers["content-type"] == PROBLEM_JSON
    body = invalid.json()
    assert (body["status"], body["code"], body["type"]) == (
        422,
        "validation_failed",
        "urn:vigil:problem:validation_failed",
    )
    fields = {e["field"] for e in body["errors"]}
    assert {"body.latitude", "body.longitude"} <= fields

    anonymous = client.get("/api/tests")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == PROBLEM_JSON
    assert anonymous.json()["code"] == "unauthorized"
    assert anonymous.headers["www-authenticate"] == "Bearer"

    unknown = client.get("/api/no-such-thing", headers=patient)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")

    wrong_role = client.get("/api/reviews/queue", headers=patient)
    assert (wrong_role.status_code, wrong_role.json()["code"]) == (403, "forbidden")


def _list_routes(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """GET routes whose answer is a list: a bare array, or a page of items."""
    lists = []
    for method, path, operation in _operations(schema):
        if method != "GET":
            continue
        ok = operation["responses"].get("200", {}).get("content", {}).get("application/json", {})
        answer = ok.get("schema", {})
        if "$ref" in answer:
            answer = schema["components"]["schemas"][answer["$ref"].rsplit("/", 1)[-1]]
        items = answer.get("properties", {}).get("items", {})
        if answer.get("type") == "array" or items.get("type") == "array":
            lists.append((path, answer))
    return lists


def test_every_list_paginates_the_same_way(schema: dict[str, Any]) -> None:
    lists = _list_routes(schema)
    assert len(lists) >= 15
    operations = {(m, p): op for m, p, op in _operations(schema)}
    for path, answer in lists:
        assert answer.get("type") != "array", f"{path}: a bare array cannot page"
        assert set(answer["required"]) == {"items", "has_more", "next_cursor"}, path
        parameters = {p["name"]: p for p in operations[("GET", path)].get("parameters", [])}
        assert {"limit", "cursor"} <= set(parameters), path
        assert parameters["limit"]["schema"]["maximum"] == MAX_LIMIT, path
        assert not {"offset", "after_id", "before_id"} & set(parameters), path


def test_no_path_takes_a_sequential_integer(schema: dict[str, Any]) -> None:
    integers = [
        (path, p["name"])
        for _method, path, operation in _operations(schema)
        for p in operation.get("parameters", [])
        if p["in"] == "path" and p.get("schema", {}).get("type") == "integer"
    ]
    assert integers == []


def test_no_answer_shows_a_sequential_integer_id(schema: dict[str, Any]) -> None:
    """Every ``id`` and ``*_id`` field of every schema is a string (opaque), never an integer."""
    integers = []
    for name, component in schema["components"]["schemas"].items():
        for field, spec in component.get("properties", {}).items():
            if field != "id" and not field.endswith("_id"):
                continue
            kinds = {s.get("type") for s in spec.get("anyOf", [spec])} - {"null"}
            if "integer" in kinds:
                integers.append((name, field))
    assert integers == []


def test_the_path_check_sees_integers(schema: dict[str, Any]) -> None:
    """Guards the expected failure above against passing for the wrong reason."""
    assert any(re.search(r"\{\w*id\}", path) for path in schema["paths"])


def test_created_resources_have_a_location_and_utc_timestamps(
    client: TestClient, world: Any
) -> None:
    lat, lon = world.point_a
    created = client.post(
        "/api/tests",
        headers=world.headers(world.patient_a),
        json={"code": world.codes[7], "latitude": lat, "longitude": lon},
    )
    assert created.status_code == 201
    location = created.headers["Location"]
    assert location == f"/api/tests/{created.json()['id']}"
    fetched = client.get(location, headers=world.headers(world.patient_a))
    assert fetched.json()["claimed_at"] == created.json()["claimed_at"]
    # One shape whoever asks: staff-only fields are null for the patient.
    staff = client.get(location, headers=world.headers(world.clinician_a)).json()
    assert set(staff) == set(fetched.json())
    assert fetched.json()["latitude"] is None
    assert staff["latitude"] == round(lat, 2)  # stored to about a kilometre (issue 11)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", created.json()["claimed_at"])
    events = client.get("/api/events", headers=world.headers(world.clinician_a)).json()
    event = events["items"][-1]
    assert event["created_at"].endswith("Z")
    assert event["payload"]["claimed_at"].endswith("Z")
    office = client.post(
        "/api/cdc-offices",
        headers=world.headers(world.operator),
        json={"name": "CDC new", "region_code": world.region_a},
    )
    assert office.status_code == 201
    shown = client.get(office.headers["Location"], headers=world.headers(world.operator))
    assert shown.json()["name"] == "CDC new"


def test_security_headers(client: TestClient, world: Any) -> None:
    """API answers are never cached (positives, photos) and never sniffed; HSTS only on https."""
    for response in (
        client.get("/api/me", headers=world.headers(world.operator)),
        client.get("/api/me"),  # an error answer too
    ):
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "Strict-Transport-Security" not in response.headers


def test_hsts_when_the_public_url_is_https(ctx: Any) -> None:
    ctx.settings = ctx.settings.model_copy(update={"public_base_url": "https://vigil.example"})
    with TestClient(create_app(context=ctx)) as https_client:
        response = https_client.get("/api/health")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_docs_page_loads_nothing_from_a_cdn(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources
    assert all(source.startswith("/docs-assets/") for source in sources), sources
    script = client.get("/docs-assets/swagger-ui-bundle.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert client.get("/redoc").status_code == 404


def test_a_list_pages_with_a_cursor_and_a_link_header(
    client: TestClient, world: Any, flow: Any
) -> None:
    made = [flow.claim(code_index=i) for i in range(5)]
    headers = world.headers(world.clinician_a)
    seen: list[str] = []
    url: str | None = "/api/tests?limit=2&status=awaiting_photo"
    pages = 0
    while url is not None:
        answer = client.get(url, headers=headers)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert len(page["items"]) <= 2
        seen += [t["id"] for t in page["items"]]
        link = answer.headers.get("Link")
        assert page["has_more"] == (link is not None) == (page["next_cursor"] is not None)
        if link is None:
            break
        found = re.fullmatch(r'<(/api/tests\?[^>]+)>; rel="next"', link)
        assert found is not None, link
        url = found.group(1)
        assert "status=awaiting_photo" in url  # the filters carry over
        pages += 1
    assert pages == 2  # 2 + 2 + 1
    assert seen == [public_ids.encode(public_ids.TEST, t.id) for t in reversed(made)]


def test_a_cursor_is_opaque_and_bound_to_its_list(
    client: TestClient, world: Any, flow: Any
) -> None:
    for i in range(3):
        flow.claim(code_index=i)
    clinician = world.headers(world.clinician_a)
    cursor = client.get("/api/tests?limit=1", headers=clinician).json()["next_cursor"]
    assert cursor
    for bad in ("nonsense", cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")):
        refused = client.get(f"/api/tests?cursor={bad}", headers=clinician)
        assert refused.status_code == 422
        assert refused.headers["content-type"] == PROBLEM_JSON
        assert refused.json()["code"] == "invalid_cursor"
    # A cursor of one list does not open another.
    events = client.get(f"/api/events?cursor={cursor}", headers=clinician)
    assert (events.status_code, events.json()["code"]) == (422, "invalid_cursor")


def test_public_ids_are_opaque_and_of_one_kind(client: TestClient, world: Any, flow: Any) -> None:
    first, second = flow.claim(code_index=0), flow.claim(code_index=1)
    patient = world.headers(world.patient_a)
    ids = [client.get("/api/tests", headers=patient).json()["items"][i]["id"] for i in (1, 0)]
    assert all(re.fullmatch(public_ids.TEST.pattern, i) for i in ids)
    assert [public_ids.decode(public_ids.TEST, i) for i in ids] == [first.id, second.id]
    assert ids[0][4:10] != ids[1][4:10]  # neighbours do not look alike
    as_batch = "bat_" + ids[0][4:]
    as_other_kind = public_ids.encode(public_ids.BATCH, first.id)
    typo = ids[0][:-1] + ("b" if ids[0][-1] == "a" else "a")
    for wrong in (str(first.id), ids[0][:-1], typo, as_batch, ids[0].upper()):
        answer = client.get(f"/api/tests/{wrong}", headers=patient)
        assert answer.status_code == 404, wrong
        assert answer.headers["content-type"] == PROBLEM_JSON
        assert answer.json()["code"] == "not_found"
    # An id of another kind, in a body: refused as invalid, not taken for a product.
    maker = world.headers(world.maker)
    body = {
        "product_id": as_other_kind,
        "lot_number": "L",
        "quantity": 1,
        "expiry_date": "2099-01-01",
    }
    refused = client.post("/api/batches", headers=maker, json=body)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "body.product_id"


def test_a_record_outside_the_callers_scope_is_not_found(
    client: TestClient, world: Any, flow: Any
) -> None:
    """404, not 403: a clinician of region B learns nothing of a test in region A."""
    test = flow.claim(code_index=0)
    url = f"/api/tests/{public_ids.encode(public_ids.TEST, test.id)}"
    assert client.get(url, headers=world.headers(world.clinician_a)).status_code == 200
    hidden = client.get(url, headers=world.headers(world.clinician_b))
    missing = client.get(
        f"/api/tests/{public_ids.encode(public_ids.TEST, test.id + 1000)}",
        headers=world.headers(world.clinician_b),
    )
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["code"] == missing.json()["code"] == "not_found"


def test_every_201_documents_its_location(schema: dict[str, Any]) -> None:
    created = [
        (method, path, op["responses"]["201"])
        for method, path, op in _operations(schema)
        if "201" in op["responses"]
    ]
    assert len(created) >= 8
    for method, path, answer in created:
        assert "Location" in answer.get("headers", {}), (method, path)


def test_a_list_ordered_by_time_pages_by_time_then_id(
    client: TestClient, world: Any, flow: Any
) -> None:
    """The positives page on (released_at, id), newest first: a cursor holding a time works
    on SQLite and PostgreSQL alike, and no case repeats or goes missing between pages."""
    released = [flow.released("positive", code_index=i) for i in range(3)]
    headers = world.headers(world.cdc_national)
    seen: list[str] = []
    url = "/api/cdc/positives?limit=1"
    for _ in range(5):
        page = client.get(url, headers=headers).json()
        seen += [c["test_id"] for c in page["items"]]
        if not page["has_more"]:
            break
        url = f"/api/cdc/positives?limit=1&cursor={page['next_cursor']}"
    ordered = sorted(released, key=lambda t: (t.released_at, t.id), reverse=True)
    assert seen == [public_ids.encode(public_ids.TEST, t.id) for t in ordered]


def test_the_audit_log_names_records_by_public_id(
    client: TestClient, world: Any, flow: Any
) -> None:
    test = flow.claim(code_index=0)
    public = public_ids.encode(public_ids.TEST, test.id)
    operator = world.headers(world.operator)
    found = client.get(f"/api/audit?object_type=self_test&object_id={public}", headers=operator)
    entries = {e["action"]: e for e in found.json()["items"]}
    assert "claim" in entries
    assert {e["object_id"] for e in entries.values()} == {public}
    assert entries["claim"]["actor_id"] == public_ids.encode(public_ids.USER, world.patient_a.id)


def test_a_short_list_held_in_memory_pages_the_same_way(client: TestClient, ctx: Any) -> None:
    codes: list[str] = []
    url: str | None = "/api/regions?limit=3"
    while url is not None:
        page = client.get(url)
        codes += [r["code"] for r in page.json()["items"]]
        link = page.headers.get("Link")
        url = link[1 : link.index(">")] if link else None
    assert codes == list(ctx.regions.codes())
    assert len(codes) > 3


def test_a_polled_feed_resumes_from_its_last_page(
    client: TestClient, world: Any, flow: Any
) -> None:
    """The event feed's last page still gives a cursor: polling with it later returns just
    what came since (no Link: nothing more yet)."""
    flow.claim(code_index=0)
    headers = world.headers(world.clinician_a)
    first = client.get("/api/events", headers=headers)
    assert (first.json()["has_more"], "Link" in first.headers) == (False, False)
    cursor = first.json()["next_cursor"]
    assert client.get(f"/api/events?cursor={cursor}", headers=headers).json()["items"] == []
    flow.claim(code_index=1)
    later = client.get(f"/api/events?cursor={cursor}", headers=headers).json()["items"]
    assert [e["kind"] for e in later] == ["test.started"]
