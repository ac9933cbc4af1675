"""The API fuzzer: hostile values in every parameter and body field of every route; no 5xx.

Every operation of the OpenAPI schema is called by a caller its policy admits
(``test_route_matrix.POLICY``), so the values reach the handler and not only the
authentication. Each path, query, header, form and JSON-body field gets each hostile
value in turn, the others staying plausible. Anything but a 5xx passes: a refusal is
the point. Runs on SQLite, and on PostgreSQL with ``VIGIL_TEST_DATABASE_URL`` (NUL
characters failed there only). ``VIGIL_FUZZ_REPORT`` names a JSON file the counts are
added to (``benchmarks/security_report.py``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from test_route_matrix import POLICY

from api.app import create_app

# Sent raw: strings where ids, numbers and names go.
HOSTILE_TEXT = [
    "9" * 30,  # beyond 64 bits
    "-1",
    "NaN",
    "Infinity",
    "1e309",
    "a\x00b",
    "\u202egpj.exe",
    "\uff11",  # a full-width digit
    "x" * 5000,
    "../../etc/passwd",
    "' OR 1=1 --",
]
# Put into JSON bodies (``NaN`` and ``Infinity`` as the bare tokens Python's json writes).
HOSTILE_JSON: list[Any] = [
    2**70,
    -(2**70),
    float("nan"),
    float("inf"),
    "a\x00b",
    "\u202e" + "x",
    "x" * 5000,
    None,
    [],
    {},
    True,
    [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],
]
# Log-out revokes the caller's token (every later case would stop at 401); the event
# stream stays open while no event comes (test_bad_input and test_events cover its input).
SKIP = {("POST", "/api/auth/logout"), ("GET", "/api/events/stream")}


def plausible(schema: dict[str, Any], components: dict[str, Any]) -> Any:
    """A value of the right kind for ``schema`` (not necessarily one the route accepts)."""
    if "$ref" in schema:
        return plausible(components[schema["$ref"].rsplit("/", 1)[-1]], components)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return plausible(options[0], components)
    if "enum" in schema:
        return schema["enum"][0]
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        return {name: plausible(sub, components) for name, sub in properties.items()}
    if kind == "array":
        return [plausible(schema.get("items", {}), components)]
    return {"integer": 1, "number": 1.5, "boolean": True}.get(str(kind), "x1")


def callers(world: Any) -> dict[str, dict[str, str]]:
    users = {
        "operator": world.operator,
        "manufacturer": world.maker,
        "clinician_a": world.clinician_a,
        "cdc_a": world.cdc_a,
        "cdc_national": world.cdc_national,
        "scientist": world.scientist,
        "patient_a": world.patient_a,
    }
    headers = {who: world.headers(user) for who, user in users.items()}
    headers["anonymous"] = {}
    return headers


def caller_for(method: str, path: str, headers: dict[str, dict[str, str]]) -> dict[str, str]:
    policy = POLICY.get((method, path))
    allowed = policy.allowed if policy else frozenset({"operator"})
    for who in ("operator", "patient_a", "clinician_a", "manufacturer", "cdc_a", "scientist"):
        if who in allowed:
            return headers[who]
    return headers["anonymous"]


def cases(schema: dict[str, Any]) -> list[tuple[str, str, str, str, dict[str, Any]]]:
    """(method, template, path, what is fuzzed, request kwargs) for every hostile value."""
    components = schema.get("components", {}).get("schemas", {})
    out = []
    for template, operations in schema["paths"].items():
        for method, operation in operations.items():
            method = method.upper()
            if (method, template) in SKIP:
                continue
            params = operation.get("parameters", [])
            base = {p["name"]: plausible(p.get("schema", {}), components) for p in params}
            body_kind, body = _body(operation, components)

            for p in params:
                for value in HOSTILE_TEXT:
                    path, kwargs = _request(
                        template, params, body_kind, {**base, p["name"]: value}, body
                    )
                    out.append((method, template, path, f"{p['in']}:{p['name']}", kwargs))
            if isinstance(body, dict):
                for field in body:
                    hostile = HOSTILE_JSON if body_kind == "json" else HOSTILE_TEXT
                    for value in hostile:
                        path, kwargs = _request(
                            template, params, body_kind, base, {**body, field: value}
                        )
                        out.append((method, template, path, f"body:{field}", kwargs))
    return out


def _request(
    template: str,
    params: list[dict[str, Any]],
    body_kind: str | None,
    values: dict[str, Any],
    payload: Any,
) -> tuple[str, dict[str, Any]]:
    """The path and request arguments for ``values`` in ``params`` and the body ``payload``."""
    path = template
    kwargs: dict[str, Any] = {"params": {}, "headers": {}}
    for p in params:
        value = values[p["name"]]
        if p["in"] == "path":
            path = path.replace("{" + p["name"] + "}", _quote(str(value)))
        elif p["in"] == "query":
            kwargs["params"][p["name"]] = str(value)
        elif p["in"] == "header":
            kwargs["headers"][p["name"]] = _header(str(value))
    if body_kind == "json":
        kwargs["content"] = json.dumps(payload).encode()
        kwargs["headers"]["Content-Type"] = "application/json"
    elif body_kind == "form":
        kwargs["data"] = {k: str(v) for k, v in payload.items()}
    elif body_kind == "multipart":
        kwargs["files"] = {
            k: ("f.bin", str(v).encode(), "application/octet-stream") for k, v in payload.items()
        }
    return path, kwargs


def _body(operation: dict[str, Any], components: dict[str, Any]) -> tuple[str | None, Any]:
    content = operation.get("requestBody", {}).get("content", {})
    for media, kind in (
        ("application/json", "json"),
        ("application/x-www-form-urlencoded", "form"),
        ("multipart/form-data", "multipart"),
    ):
        if media in content:
            return kind, plausible(content[media].get("schema", {}), components)
    return None, None


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def _header(text: str) -> str:
    # Header values cannot carry NUL or non-Latin-1 text at all: send what HTTP can.
    return text.encode("latin-1", "replace").decode("latin-1").replace("\x00", "?")


def test_no_hostile_value_gets_a_5xx(world: Any) -> None:
    # A 500 is counted and listed, not raised into the test at the first one.
    client = TestClient(create_app(context=world.ctx), raise_server_exceptions=False)
    schema = client.app.openapi()  # type: ignore[attr-defined]
    headers = callers(world)
    failures = []
    tried = 0
    for method, template, path, what, kwargs in cases(schema):
        kwargs["headers"] = {**caller_for(method, template, headers), **kwargs["headers"]}
        response = client.request(method, path, **kwargs)
        tried += 1
        if response.status_code >= 500:
            failures.append((method, path[:80], what, response.status_code, response.text[:200]))
    _report(world, tried, len(failures))
    assert failures == [], failures[:10]
    assert tried > 1000  # every route was reached, not a few


def _report(world: Any, tried: int, failed: int) -> None:
    target = os.environ.get("VIGIL_FUZZ_REPORT")
    if not target:
        return
    file = Path(target)
    counts = json.loads(file.read_text()) if file.exists() else {}
    counts[world.ctx.database.dialect] = {"cases": tried, "server_errors": failed}
    file.write_text(json.dumps(counts, indent=2) + "\n")
