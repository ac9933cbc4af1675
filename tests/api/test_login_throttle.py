"""Log-in throttling (issue 11 item 3): per account, per address, per kit code, 429 + Retry-After.

The throttle is the app's own (memory, the embedded default); the one-time code travels
through a real loopback SMS gateway over HTTP.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import pytest
from fastapi.testclient import TestClient

from api.outbox.channels import HttpSmsGateway
from api.outbox.notifier import TransportNotifier


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


def test_account_locks_after_failures_even_for_the_right_password(
    client: TestClient, world: Any
) -> None:
    wrong = {"username": "operator", "password": "not the password"}
    for _ in range(5):
        problem(client.post("/api/auth/token", data=wrong), 401)
    locked = client.post(
        "/api/auth/token", data={"username": "operator", "password": "correct horse battery"}
    )
    body = problem(locked, 429)
    assert body["code"] == "rate_limited"
    assert "locked" in body["detail"]
    assert 1 <= int(locked.headers["Retry-After"]) <= 60
    # Another account from the same address is not locked.
    other = {"username": "maker-BL-0001", "password": "x"}
    problem(client.post("/api/auth/token", data=other), 401)


def test_address_allowance(client: TestClient, world: Any) -> None:
    statuses = [
        client.post("/api/auth/token", data={"username": f"user{n}", "password": "x"}).status_code
        for n in range(25)
    ]
    assert statuses[:20] == [401] * 20
    assert set(statuses[20:]) == {429}


class Gateway(BaseHTTPRequestHandler):
    texts: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        Gateway.texts.append(json.loads(self.rfile.read(length)))
        self.send_response(202)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def sms_gateway() -> Iterator[str]:
    Gateway.texts = []
    server = HTTPServer(("127.0.0.1", 0), Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/sms"
    server.shutdown()
    server.server_close()


def test_kit_code_log_in_needs_a_texted_code_after_the_first_failures(
    client: TestClient, world: Any, flow: Any, sms_gateway: str
) -> None:
    world.ctx.notifier = TransportNotifier({"sms": HttpSmsGateway(sms_gateway, None, 5.0)})
    flow.claim()
    code = world.codes[0]
    guess = {"code": code, "national_id": world.national_id_b}
    for _ in range(3):
        problem(client.post("/api/auth/patient-token", json=guess), 401)
    # The fourth attempt, even with the right ID number, needs the one-time code.
    right = {"code": code, "national_id": world.national_id_a}
    required = problem(client.post("/api/auth/patient-token", json=right), 401)
    assert required["code"] == "one_time_code_required"
    assert len(Gateway.texts) == 1
    text = Gateway.texts[0]
    assert text["to"].replace(" ", "").endswith("8000")  # patient0's phone (make_phone(0))
    sent = re.search(r"\b(\d{6})\b", text["text"])
    assert sent is not None
    wrong_code = "000000" if sent.group(1) != "000000" else "111111"
    problem(
        client.post("/api/auth/patient-token", json={**right, "one_time_code": wrong_code}), 401
    )
    token = client.post("/api/auth/patient-token", json={**right, "one_time_code": sent.group(1)})
    assert token.status_code == 200, token.text


def test_kit_code_locks_out_after_more_failures(client: TestClient, world: Any, flow: Any) -> None:
    flow.claim()
    guess = {"code": world.codes[0], "national_id": world.national_id_b, "one_time_code": "123456"}
    statuses = [client.post("/api/auth/patient-token", json=guess).status_code for _ in range(11)]
    assert statuses[:10] == [401] * 10
    locked = client.post("/api/auth/patient-token", json=guess)
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) >= 1


def test_throttled_routes_document_429(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/auth/token", "/api/auth/patient-token"):
        assert "429" in paths[path]["post"]["responses"]
