"""The API and pages at size: requests per second and latency with 10^6 tests stored.

Run ``python -m benchmarks.bench_api_at_size [--tests 1000000] [--seconds 20]
[--requests 400] [--concurrency 8] [--api-workers 2]``.

It migrates a fresh PostgreSQL database, seeds the demo parties and bulk-loads
``--tests`` self-tests with ``COPY`` through :mod:`benchmarks.bench_statistics`'s loader
(the statistics' daily aggregates recounted after it; 5 % of the tests wait in the
clinicians' queue), adds a batch of fresh codes to claim, then starts the real app
(``uvicorn review_ui.app:create_app --factory``, ``--api-workers`` processes on
loopback, uploads queued to Redis with no worker reading them) and drives each
request in turn with ``--concurrency`` async ``httpx`` clients for at most
``--seconds`` seconds or ``--requests`` requests: code look-up, claim, photo upload
(one per claimed test), the review queue, the CDC statistics, the positives list, the
review page and the CDC page. Prints requests per second and p50/p95/p99 latency, and
writes ``benchmarks/results/api_at_size.md``. The load generator shares the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from benchmarks.bench_statistics import FIRST_ID, aggregate, fresh_database, load, make_context
from vigil.demo import REGION_A

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "api_at_size.md"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/vigil_bench_api"
REDIS_URL = "redis://127.0.0.1:6379/13"
QUEUE = "vigil-bench-api"
PASSWORD = "vigil-demo-2024"  # vigil.demo.PASSWORD
TARGET_MS = 200.0


@dataclass(frozen=True)
class Measured:
    what: str
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fresh_codes(ctx: Any, quantity: int) -> list[str]:
    """A new batch of ``quantity`` unused codes (the ones the load claims)."""
    from sqlalchemy import select

    from api.accounts.tables import User
    from api.batches.schemas import BatchCreate
    from api.batches.service import create_batch
    from api.batches.tables import Unit
    from api.products.tables import Product
    from api.public_ids import PRODUCT, encode

    with ctx.database.session() as session:
        maker = session.scalar(select(User).where(User.username == "maker"))
        product = session.scalar(select(Product).order_by(Product.id))
        assert maker is not None and product is not None  # noqa: PT018
        batch = create_batch(
            session,
            ctx,
            maker,
            BatchCreate(
                product_id=encode(PRODUCT, product.id),
                lot_number="BENCH-SIZE",
                quantity=quantity,
                expiry_date=date.today() + timedelta(days=365),
            ),
        )
        session.flush()
        codes = list(session.scalars(select(Unit.code).where(Unit.batch_id == batch.id)))
        session.commit()
    return codes


def stack_env(ctx: Any, url: str, data_dir: Path) -> dict[str, str]:
    """The environment the app and workers of the stack share (the seeding's secrets)."""
    settings = ctx.settings
    return {
        **os.environ,
        "VIGIL_MODE": "test",
        "VIGIL_DATA_DIR": str(data_dir),
        "DATABASE_URL": url,
        "CELERY_BROKER_URL": REDIS_URL,
        "CELERY_QUEUE": QUEUE,
        "SECRET_KEY": settings.secret_key,
        "PII_KEYS": settings.pii_keys,
        "LOOKUP_KEY": settings.lookup_key,
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": "1",
    }


def start_app(env: dict[str, str], workers: int) -> tuple[subprocess.Popen[bytes], str]:
    """``workers`` uvicorn processes serving the API and pages; (process, base URL)."""
    port = free_port()
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", "review_ui.app:create_app", "--factory"),
            *("--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)),
            *("--log-level", "warning", "--no-access-log"),
        ],
        env=env,
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server, base
        except OSError:
            time.sleep(0.5)
    server.kill()
    raise RuntimeError("the app did not start")


async def drive(
    what: str,
    call: Callable[[int], Awaitable[Any]],
    *,
    concurrency: int,
    seconds: float,
    requests: int,
) -> Measured:
    """``call(i)`` for i = 0, 1, ... from ``concurrency`` clients until the time or the
    count runs out, or ``call`` answers ``None``; a status of 400 or more is an error."""
    latencies: list[float] = []
    errors = 0
    issued = 0
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal issued, errors
        while issued < requests and time.perf_counter() < deadline:
            i = issued
            issued += 1
            begun = time.perf_counter()
            response = await call(i)
            if response is None:
                break  # nothing left to send
            latencies.append(1000 * (time.perf_counter() - begun))
            if response.status_code >= 400:
                errors += 1
                if errors == 1:
                    print(f"  {what}: {response.status_code} {response.text[:200]}", flush=True)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return Measured(what, len(latencies), errors, time.perf_counter() - started, latencies)


async def log_in(http: Any, username: str) -> tuple[dict[str, str], dict[str, str]]:
    """(bearer headers, page cookies) for ``username``."""
    token = await http.post("/api/auth/token", data={"username": username, "password": PASSWORD})
    token.raise_for_status()
    bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
    http.cookies.clear()
    page = await http.get("/login")
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert csrf is not None
    await http.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": csrf[1]},
        cookies=dict(page.cookies),
    )
    session = http.cookies.get("vigil_session", "")
    http.cookies.clear()
    return bearer, {"vigil_session": session}


async def measure(
    base: str, codes: list[str], point: tuple[float, float], photo: bytes, args: Any
) -> list[tuple[Measured, Measured]]:
    """Each request in turn, first from one client (its latency), then from
    ``--concurrency`` clients (what the processes answer when saturated); ``point``
    (latitude, longitude) is where tests are claimed."""
    import httpx

    limits = httpx.Limits(max_connections=args.concurrency * 2)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http:
        token = await http.post(
            "/api/auth/token", data={"username": "patient1", "password": PASSWORD}
        )
        patient = {"Authorization": f"Bearer {token.json()['access_token']}"}
        clinician, clinician_page = await log_in(http, "clinician-north")
        cdc, cdc_page = await log_in(http, "cdc-national")
        unused = iter(codes)
        claimed: list[str] = []
        uploaded = iter(claimed)  # each claimed test gets one photo, in claim order

        async def look_up(i: int) -> Any:
            return await http.get(f"/api/units/{codes[i % len(codes)]}")

        async def claim(_i: int) -> Any:
            body = {"code": next(unused), "latitude": point[0], "longitude": point[1]}
            response = await http.post("/api/tests", json=body, headers=patient)
            if response.status_code < 400:
                claimed.append(response.json()["id"])
            return response

        async def upload(_i: int) -> Any:
            test = next(uploaded, None)
            if test is None:
                return None  # every claimed test has its photo
            files = {"photo": ("photo.jpg", photo, "image/jpeg")}
            return await http.post(f"/api/tests/{test}/photos", files=files, headers=patient)

        def get(path: str, headers: dict[str, str] | None = None, **kw: Any) -> Any:
            return lambda _i: http.get(path, headers=headers, **kw)

        year = f"since={date.today() - timedelta(days=364)}&until={date.today()}"
        cases = [
            ("code look-up", look_up),
            ("claim", claim),
            ("photo upload", upload),
            ("review queue (API, 25 items)", get("/api/reviews/queue?limit=25", clinician)),
            ("CDC statistics (API, 30 days)", get("/api/statistics", cdc)),
            ("CDC statistics (API, 365 days)", get(f"/api/statistics?{year}", cdc)),
            ("positives list (API, 25)", get("/api/cdc/positives?limit=25", cdc)),
            ("review page", get("/review", cookies=clinician_page)),
            ("CDC page", get("/cdc", cookies=cdc_page)),
        ]
        found = []
        light = {"concurrency": 1, "seconds": args.seconds / 2, "requests": args.requests // 4}
        heavy = {"concurrency": args.concurrency, "seconds": args.seconds}
        for what, call in cases:
            one = await drive(what, call, **light)
            many = await drive(what, call, **heavy, requests=args.requests)
            found.append((one, many))
            print(
                f"{what:<32} 1 client p50 {one.quantile(0.5):7.1f} p95 {one.quantile(0.95):7.1f}"
                f" ms | {args.concurrency} clients {many.requests / many.seconds:6.1f}/s"
                f" p95 {many.quantile(0.95):7.1f} ms  errors {one.errors + many.errors}",
                flush=True,
            )
    return found


def report(found: list[tuple[Measured, Measured]], tests: int, loaded_s: float, args: Any) -> str:
    lines = [
        f"API at size on {platform.node()} ({os.cpu_count()} CPUs, shared with other work), "
        f"{date.today().isoformat()}: PostgreSQL with {tests:,} tests stored (COPY + aggregates "
        f"in {loaded_s:.0f} s), `uvicorn review_ui.app:create_app` with {args.api_workers} "
        "worker processes on loopback, the load generator (async httpx) on the same machine. "
        f"Each request: first one client (at most {args.seconds / 2:.0f} s or "
        f"{args.requests // 4} requests: the latency), then {args.concurrency} clients (at "
        f"most {args.seconds:.0f} s or {args.requests} requests: requests/s when saturated, "
        "where latency is mostly waiting for a free process). Uploads are queued to Redis, "
        "not read.",
        "",
        f"| request | 1 client p50 ms | 1 client p95 ms | p95 < {TARGET_MS:.0f} ms | "
        f"{args.concurrency} clients req/s | p50 ms | p95 ms | requests | errors |",
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for one, many in found:
        p95 = one.quantile(0.95)
        lines.append(
            f"| {one.what} | {one.quantile(0.5):.1f} | {p95:.1f} | "
            f"{'yes' if p95 < TARGET_MS else 'no'} | {many.requests / many.seconds:.1f} | "
            f"{many.quantile(0.5):.1f} | {many.quantile(0.95):.1f} | "
            f"{one.requests} + {many.requests} | {one.errors + many.errors} |"
        )
    lines += ["", "Run: `python -m benchmarks.bench_api_at_size " + " ".join(sys.argv[1:]) + "`"]
    return "\n".join(lines) + "\n"


def photo_jpeg(code: str) -> bytes:
    """One 2048x1536 rendered demo-kit photo (about what a phone sends after resizing)."""
    import numpy as np

    from datasets.render import render_photo
    from pipeline.kit import load_kit

    kit = load_kit(ROOT / "datasets" / "kits" / "demo" / "kit.json")
    rng = np.random.default_rng(0)
    return bytes(render_photo(kit, rng, od={"T": 0.4, "C": 0.8}, code=code, size=(2048, 1536)).jpeg)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--api-workers", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    url, drop = fresh_database(args.database_url)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ctx = make_context(url, Path(tmp))
            try:
                started = time.perf_counter()
                load(ctx, FIRST_ID, args.tests)
                aggregate(ctx)
                loaded_s = time.perf_counter() - started
                print(f"{args.tests:,} tests loaded in {loaded_s:.0f} s", flush=True)
                codes = fresh_codes(ctx, args.requests + args.requests // 4)
                inside = ctx.regions.region(REGION_A).geometry.representative_point()
            finally:
                ctx.database.bind.dispose()
            server, base = start_app(stack_env(ctx, url, Path(tmp)), args.api_workers)
            try:
                point = (inside.y, inside.x)
                found = asyncio.run(measure(base, codes, point, photo_jpeg(codes[0]), args))
            finally:
                server.send_signal(signal.SIGTERM)
                server.wait(timeout=30)
    finally:
        drop()
        redis.Redis.from_url(REDIS_URL).flushdb()
    text = report(found, args.tests, loaded_s, args)
    print(text)
    if not args.no_write:
        RESULTS.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
