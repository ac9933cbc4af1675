"""Server throughput: unit codes issued per second, photos read per second with two workers.

Run ``python -m benchmarks.bench_server``. Part 1 creates a 100,000-unit batch
through the batch service (codes drawn, units inserted, committed) on SQLite
and, when reachable, on PostgreSQL. Part 2 needs PostgreSQL and Redis on
127.0.0.1 and the vision pipeline: it starts ``celery -A api.worker worker
--concurrency=2``, uploads ``--photos`` synthetic photos over HTTP and times
from the first upload to the last proposal. The table is printed and written to
``benchmarks/results/server.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/vigil_bench"
REDIS_URL = "redis://127.0.0.1:6379/14"


def reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def fresh_postgres(url: str) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{target.database}"')
    admin.dispose()


def demo_context(data_dir: Path, database_url: str | None, broker: str | None = None) -> Any:
    from api.config import Settings, new_secrets
    from api.context import AppContext
    from api.db import upgrade
    from vigil.demo import seed_demo

    if database_url and database_url.startswith("postgresql"):
        fresh_postgres(database_url)
    settings = Settings.model_validate(
        {
            "mode": "test",
            "data_dir": data_dir,
            "database_url": database_url,
            "celery_broker_url": broker,
            "celery_queue": "vigil-bench",
            **new_secrets(),
        }
    )
    upgrade(settings)
    ctx = AppContext.from_settings(settings)
    seed_demo(ctx, photos=False)
    return ctx


def codes_per_second(database_url: str | None, quantity: int) -> float:
    from sqlalchemy import select

    from api.accounts.tables import User
    from api.batches.schemas import BatchCreate
    from api.batches.service import create_batch
    from api.products.tables import Product
    from api.public_ids import PRODUCT, encode

    with tempfile.TemporaryDirectory() as tmp:
        ctx = demo_context(Path(tmp), database_url)
        with ctx.database.session() as session:
            maker = session.scalar(select(User).where(User.username == "maker"))
            product = session.scalar(select(Product))
            assert maker is not None and product is not None  # noqa: PT018
            start = time.perf_counter()
            create_batch(
                session,
                ctx,
                maker,
                BatchCreate(
                    product_id=encode(PRODUCT, product.id),
                    lot_number="BENCH",
                    quantity=quantity,
                    expiry_date=date.today() + timedelta(days=100),
                ),
            )
            session.commit()
            elapsed = time.perf_counter() - start
        ctx.database.bind.dispose()
    return quantity / elapsed


def photos_per_second(n: int) -> float:
    import numpy as np
    from fastapi.testclient import TestClient

    from api.app import create_app
    from datasets.render import render_photo
    from pipeline.kit import load_kit
    from vigil.demo import PASSWORD

    kit = load_kit(ROOT / "datasets" / "kits" / "demo" / "kit.json")
    with tempfile.TemporaryDirectory() as tmp:
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()
        ctx = demo_context(Path(tmp), PG_URL, REDIS_URL)
        env = {
            **os.environ,
            "VIGIL_MODE": "test",
            "VIGIL_DATA_DIR": tmp,
            "DATABASE_URL": PG_URL,
            "CELERY_BROKER_URL": REDIS_URL,
            "CELERY_QUEUE": "vigil-bench",
            "PYTHONPATH": str(ROOT),
        }
        worker = subprocess.Popen(
            [
                *(sys.executable, "-m", "celery", "-A", "api.worker", "worker"),
                *("--concurrency=2", "--loglevel=WARNING", "--without-gossip", "--without-mingle"),
            ],
            env=env,
            cwd=ROOT,
        )
        try:
            with TestClient(create_app(context=ctx)) as client:
                token = client.post(
                    "/api/auth/token", data={"username": "patient1", "password": PASSWORD}
                ).json()["access_token"]
                headers = {"Authorization": f"Bearer {token}"}
                from sqlalchemy import select

                from api.batches.tables import Unit

                with ctx.database.session() as session:
                    free = list(
                        session.scalars(select(Unit.code).where(Unit.state == "unused").limit(n))
                    )
                region = ctx.regions.region("DL-N-01-01").geometry
                assert region is not None
                point = region.representative_point()
                photos = []
                tests = []
                for i, code in enumerate(free):
                    test = client.post(
                        "/api/tests",
                        headers=headers,
                        json={"code": code, "latitude": point.y, "longitude": point.x},
                    ).json()
                    tests.append(test["id"])
                    od = {"T": 0.4 if i % 2 else 0.0, "C": 0.8}
                    rng = np.random.default_rng(i)
                    photos.append(render_photo(kit, rng, od=od, code=code, size=(2048, 1536)).jpeg)
                time.sleep(3)  # let the workers start before the clock does
                start = time.perf_counter()
                uploads = []
                for test_id, photo in zip(tests, photos, strict=True):
                    response = client.post(
                        f"/api/tests/{test_id}/photos",
                        headers=headers,
                        files={"photo": ("photo.jpg", photo, "image/jpeg")},
                    )
                    uploads.append(response.json()["id"])
                pending = set(uploads)
                while pending:
                    for upload_id in list(pending):
                        body = client.get(f"/api/uploads/{upload_id}", headers=headers).json()
                        if body["proposal_status"]:
                            pending.discard(upload_id)
                    time.sleep(0.05)
                elapsed = time.perf_counter() - start
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=30)
        ctx.database.bind.dispose()
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quantity", type=int, default=100_000)
    parser.add_argument("--photos", type=int, default=24)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rate = codes_per_second(f"sqlite:///{tmp}/bench.db", args.quantity)
    rows.append((f"codes issued, {args.quantity:,}-unit batch, SQLite", f"{rate:,.0f} /s"))
    if reachable(5432):
        rate = codes_per_second(PG_URL, args.quantity)
        rows.append((f"codes issued, {args.quantity:,}-unit batch, PostgreSQL", f"{rate:,.0f} /s"))
    try:
        import pipeline.read  # noqa: F401
    except ImportError as exc:
        rows.append(("photos upload -> proposal, 2 workers", f"skipped: {exc}"))
    else:
        if reachable(5432) and reachable(6379):
            rate = photos_per_second(args.photos)
            rows.append(
                (f"photos upload -> proposal, 2 workers, {args.photos} photos", f"{rate:.2f} /s")
            )
        else:
            rows.append(("photos upload -> proposal, 2 workers", "skipped: no PostgreSQL/Redis"))
    table = ["| measure | result |", "| --- | --- |"] + [f"| {a} | {b} |" for a, b in rows]
    header = f"Server benchmark on {platform.node()} ({os.cpu_count()} CPUs), {date.today()}"
    text = "\n".join([header, "", *table, ""])
    print(text)
    out = ROOT / "benchmarks" / "results" / "server.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
