"""/metrics scraped through the app and parsed as Prometheus parses it."""

import socket
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api import metrics


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def parse(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(autouse=True)
def no_sources() -> Iterator[None]:
    yield
    metrics.set_webhook_backlog_source(None)
    metrics.set_queue_length_source(None)
    metrics.set_audit_months_ahead_source(None)


def test_http_latency_is_counted_by_route_template_and_status(client: TestClient) -> None:
    before = scrape(client)
    for _ in range(3):
        assert client.get("/api/health").status_code == 200
    missing = client.get("/api/units/NOT-A-CODE-AT-ALL-x")
    assert missing.status_code in (404, 422)
    assert client.get("/no/such/path/../../etc/passwd").status_code == 404
    after = scrape(client)

    count = "vigil_http_request_duration_seconds_count"
    health = {"method": "GET", "route": "/api/health", "status": "200"}
    assert value(after, count, **health) - value(before, count, **health) == 3
    # The template, not the hostile path, is the label.
    unit = {"method": "GET", "route": "/api/units/{code}", "status": str(missing.status_code)}
    assert value(after, count, **unit) - value(before, count, **unit) == 1
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert value(after, count, **unmatched) - value(before, count, **unmatched) == 1
    assert not any("passwd" in str(key) for key in after)
    assert value(after, "vigil_http_request_duration_seconds_sum", **health) > 0


def test_reading_outcomes_and_release_latency(client: TestClient) -> None:
    before = scrape(client)
    metrics.observe_reading("ok", "positive", 0.06, 0.04)
    metrics.observe_reading("ok", "positive", 0.07, 0.05)
    metrics.observe_reading("retake", None, 0.02)
    metrics.observe_release(600.0)
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("vigil_readings_total", status="ok", result="positive") == 2
    assert delta("vigil_readings_total", status="retake", result="none") == 1
    assert delta("vigil_reading_duration_seconds_count") == 3
    assert delta("vigil_reading_duration_seconds_bucket", le="0.05") == 1
    assert delta("vigil_reading_cpu_seconds_count") == 2  # the CPU time where it was given
    assert delta("vigil_reading_cpu_seconds_sum") == pytest.approx(0.09)
    assert delta("vigil_release_latency_seconds_count") == 1
    assert delta("vigil_release_latency_seconds_bucket", le="300.0") == 0
    assert delta("vigil_release_latency_seconds_bucket", le="900.0") == 1


def test_unknown_reading_outcomes_are_refused() -> None:
    with pytest.raises(ValueError, match="outcome"):
        metrics.observe_reading("fine", "positive", 0.1)
    with pytest.raises(ValueError, match="outcome"):
        metrics.observe_reading("ok", "maybe", 0.1)


def test_webhook_backlog_is_read_at_scrape_time(client: TestClient) -> None:
    # The app reads it from the outbox: nothing is waiting yet.
    assert value(scrape(client), "vigil_webhook_backlog") == 0
    backlog = [7]
    metrics.set_webhook_backlog_source(lambda: backlog[0])
    assert value(scrape(client), "vigil_webhook_backlog") == 7
    backlog[0] = 2
    assert value(scrape(client), "vigil_webhook_backlog") == 2

    def broken() -> float:
        raise ConnectionError("database gone")

    metrics.set_webhook_backlog_source(broken)
    samples = scrape(client)  # still answers, without the figure
    assert ("vigil_webhook_backlog", ()) not in samples
    assert value(samples, "vigil_queue_length") == 0  # in-process tasks: nothing waits


def test_queue_length_is_the_redis_list_length() -> None:
    queue = f"vigil-metrics-test-{uuid.uuid4().hex}"
    server = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        server.ping()
    except redis.ConnectionError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    try:
        server.rpush(queue, "a", "b", "c")
        metrics.set_queue_length_source(
            metrics.redis_queue_length("redis://127.0.0.1:6379/0", queue)
        )
        assert value(parse(metrics.exposition().decode()), "vigil_queue_length") == 3
    finally:
        server.delete(queue)


def test_processes_are_added_up_in_multiprocess_mode(tmp_path: Path) -> None:
    """Two processes count readings, a third serves the scrape: it sees both."""
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    count = textwrap.dedent(
        """
        from api.metrics import observe_reading
        for _ in range({n}):
            observe_reading("by_eye", None, 0.5)
        """
    )
    for n in (2, 3):
        subprocess.run([sys.executable, "-c", count.format(n=n)], env=env, check=True)
    scraped = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, api.metrics as m; sys.stdout.write(m.exposition().decode())",
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    samples = parse(scraped)
    assert value(samples, "vigil_readings_total", status="by_eye", result="none") == 5
    assert value(samples, "vigil_reading_duration_seconds_count") == 5


def test_a_worker_machine_serves_metrics_without_the_app(tmp_path: Path) -> None:
    """start_metrics_server answers over HTTP, with the pool's children added up."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    child = "from api.metrics import observe_release; observe_release(42.0)"
    subprocess.run([sys.executable, "-c", child], env=env, check=True)
    server = textwrap.dedent(
        f"""
        import sys, time
        from api.metrics import start_metrics_server
        start_metrics_server({port}, "127.0.0.1")
        print("ready", flush=True)
        sys.stdin.read()  # until the test closes it
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", server], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == b"ready"
        response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        assert response.status_code == 200
        samples = parse(response.text)
        assert value(samples, "vigil_release_latency_seconds_count") == 1
        assert value(samples, "vigil_release_latency_seconds_sum") == 42.0
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=10)
