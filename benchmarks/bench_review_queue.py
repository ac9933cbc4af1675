"""The clinicians' queue under load: 10,000 items waiting in one clinician's region.

Run ``python -m benchmarks.bench_review_queue [--items 10000] [--other 5000]``. It seeds
the demo parties on a fresh SQLite file, bulk-inserts ``--items`` proposals awaiting a
first or second reading in clinician-north's region (random results, confidences and
ages over three days) plus ``--other`` in another region, then times the pages and API
calls a clinician makes through the real app (``TestClient``, logged in with the page
cookie). Prints a table and writes ``benchmarks/results/review_queue.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "review_queue.md"
REGION_NORTH = "DL-N-01-01"
REGION_SOUTH = "DL-S-02-01"
PASSWORD = "vigil-demo-2024"


def seed(data_dir: Path, items: int, other: int) -> Any:
    """The demo parties, then ``items`` + ``other`` proposals in review (bulk inserts)."""
    import numpy as np
    from sqlalchemy import insert, select

    from api.accounts.tables import User
    from api.batches.schemas import BatchCreate
    from api.batches.service import create_batch
    from api.batches.tables import Unit
    from api.config import Settings, new_secrets
    from api.context import AppContext
    from api.db import upgrade
    from api.db.base import utcnow
    from api.patients.tables import Patient
    from api.public_ids import PRODUCT, encode
    from api.selftests.tables import Proposal, SelfTest, Upload
    from vigil.demo import seed_demo

    settings = Settings.model_validate({"mode": "test", "data_dir": data_dir, **new_secrets()})
    upgrade(settings)
    ctx = AppContext.from_settings(settings)
    seed_demo(ctx, photos=False)
    rng = np.random.default_rng(0)
    total = items + other
    with ctx.database.session() as session:
        maker = session.scalar(select(User).where(User.username == "maker"))
        patient = session.scalar(select(Patient).limit(1))
        assert maker is not None
        assert patient is not None
        from api.products.tables import Product

        product = session.scalar(select(Product).limit(1))
        assert product is not None
        batch = create_batch(
            session,
            ctx,
            maker,
            BatchCreate(
                product_id=encode(PRODUCT, product.id),
                lot_number="BENCH-QUEUE",
                quantity=total,
                expiry_date=date.today() + timedelta(days=365),
            ),
        )
        session.flush()
        units = session.scalars(
            select(Unit.id).where(Unit.batch_id == batch.id).order_by(Unit.serial)
        ).all()
        now = utcnow()
        ages = rng.uniform(0, 3 * 24 * 60, total)  # minutes waiting, up to three days
        results = rng.choice(["negative", "positive", "invalid"], total, p=[0.8, 0.15, 0.05])
        confidence = rng.uniform(0.5, 1.0, total)
        stages = rng.choice([1, 2], total, p=[0.9, 0.1])
        first_test = (session.scalar(select(SelfTest.id).order_by(SelfTest.id.desc())) or 0) + 1
        first_upload = (session.scalar(select(Upload.id).order_by(Upload.id.desc())) or 0) + 1
        tests, uploads, proposals = [], [], []
        for i in range(total):
            proposed = now - timedelta(minutes=float(ages[i]))
            claimed = proposed - timedelta(minutes=20)
            test_id, upload_id = first_test + i, first_upload + i
            tests.append(
                {
                    "id": test_id,
                    "unit_id": units[i],
                    "patient_id": patient.id,
                    "product_id": product.id,
                    "batch_id": batch.id,
                    "region_code": REGION_NORTH if i < items else REGION_SOUTH,
                    "latitude": 0.0,
                    "longitude": 0.0,
                    "claimed_at": claimed,
                    "status": "in_review",
                }
            )
            uploads.append(
                {
                    "id": upload_id,
                    "self_test_id": test_id,
                    "photo_sha256": "0" * 64,
                    "content_type": "image/jpeg",
                    "size_bytes": 1,
                    "taken_at": proposed,
                    "uploaded_at": proposed,
                    "queued_at": proposed,
                    "attempts": 0,
                    "minutes_after_claim": 20.0,
                }
            )
            result = str(results[i])
            proposals.append(
                {
                    "upload_id": upload_id,
                    "self_test_id": test_id,
                    "status": "ok",
                    "result": result,
                    "confidence": float(confidence[i]),
                    "model_version": "bench@1",
                    "reading": {"spec": "rdt-reading/1", "status": "ok", "result": result},
                    "issues": [],
                    "review_stage": int(stages[i]),
                    "created_at": proposed,
                }
            )
        for table, rows in ((SelfTest, tests), (Upload, uploads), (Proposal, proposals)):
            for start in range(0, len(rows), 2000):
                session.execute(insert(table), rows[start : start + 2000])
        session.commit()
    return ctx


def timed(call: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """(median, worst) milliseconds over ``repeat`` calls, after one warm-up call."""
    call()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        response = call()
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code < 400, response.text[:300]
    return statistics.median(times), max(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--other", type=int, default=5_000, help="items in another region")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)

    import re

    from fastapi.testclient import TestClient

    from review_ui.app import create_app

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        ctx = seed(Path(tmp), args.items, args.other)
        seeded = time.perf_counter() - started
        client = TestClient(create_app(context=ctx))
        page = client.get("/login").text
        csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)
        assert csrf is not None
        client.post(
            "/login",
            data={"username": "clinician-north", "password": PASSWORD, "csrf_token": csrf[1]},
        )
        first = client.get("/review").text
        item = re.search(r'href="/review/items/(\d+)', first)
        assert item is not None, "the queue page lists no item"
        waiting = re.search(r"<strong>(\d+)</strong> waiting", first)
        token = client.cookies.get("vigil_session")
        api = {"Authorization": f"Bearer {token}"}
        pages = (-(-args.items // 25)) if args.items else 1
        cases = [
            ("queue page 1 (counts + 25 items)", lambda: client.get("/review")),
            (f"queue page {pages} (last)", lambda: client.get(f"/review?page={pages}")),
            (
                "queue filtered: positive, low confidence, over 1 h",
                lambda: client.get("/review?result=positive&confidence=low&age=60"),
            ),
            ("next item (most urgent)", lambda: client.get("/review/next", follow_redirects=False)),
            ("one item page", lambda: client.get(f"/review/items/{item[1]}")),
            ("API queue, 25 items", lambda: client.get("/api/reviews/queue?limit=25", headers=api)),
            ("API queue counts", lambda: client.get("/api/reviews/queue/counts", headers=api)),
        ]
        rows = [(name, *timed(call, args.repeat)) for name, call in cases]
        client.close()

    lines = [
        f"Review queue benchmark on {platform.node()} ({os.cpu_count()} CPUs), "
        f"{time.strftime('%Y-%m-%d')}: SQLite, {args.items:,} items waiting in the "
        f"clinician's region (+{args.other:,} elsewhere); {args.repeat} timed requests each "
        f"through the app (TestClient), seeded in {seeded:.1f} s.",
        "",
        f"Queue shows {waiting[1] if waiting else '?'} waiting.",
        "",
        "| request | median ms | worst ms |",
        "| --- | ---: | ---: |",
        *(f"| {name} | {median:.1f} | {worst:.1f} |" for name, median, worst in rows),
        "",
        "Run: `python -m benchmarks.bench_review_queue`",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
