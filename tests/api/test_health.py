"""Liveness, readiness and a database outage (issue 11 item 7): 503 with Retry-After."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from api.config import Settings


def test_live_and_ready(client: TestClient) -> None:
    assert client.get("/api/health/live").json() == {"status": "ok"}
    ready = client.get("/api/health/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ready", "database": "ok", "broker": "in-process"}


def test_database_down_answers_503_with_retry_after(tmp_path: Path, keys: dict[str, str]) -> None:
    """A real PostgreSQL driver, a port nothing listens on: the outage as a client sees it."""
    settings = Settings(
        mode="test",
        data_dir=tmp_path,
        database_url="postgresql+psycopg://vigil@127.0.0.1:9/vigil?connect_timeout=2",
        **keys,
    )
    with TestClient(create_app(settings)) as down:
        assert down.get("/api/health/live").status_code == 200
        ready = down.get("/api/health/ready")
        assert ready.status_code == 503
        assert ready.headers["content-type"] == "application/problem+json"
        assert int(ready.headers["Retry-After"]) > 0
        log_in = down.post("/api/auth/token", data={"username": "someone", "password": "x" * 12})
        assert log_in.status_code == 503, log_in.text
        assert log_in.json()["code"] == "unavailable"
        assert int(log_in.headers["Retry-After"]) > 0
