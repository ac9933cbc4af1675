"""The same-photo check with 10^6 uploads' hashes on PostgreSQL: the full scan it was
(every hash of 30 days read into Python) against the banded look-up of migration 0017.

Run ``python -m benchmarks.bench_same_photo [--uploads 1000000] [--scans 6] [--lookups 200]``.
A fresh database (the schema from the migrations) gets ``--uploads`` uploads of random
64-bit hashes within the last 30 days, COPYed with their bands (foreign-key triggers off:
the check never reads the tests behind them). Half the hashes looked up are a stored hash
with 0 to 6 bits flipped (a photo re-sent), half random (a new photo); both ways are run on
the same hashes and must give the same tests. Prints a table and writes
``benchmarks/results/same_photo.md``.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from api.config import Settings, new_secrets
from api.db import upgrade
from api.db.base import utcnow
from api.db.session import make_engine
from api.readings import photo_bands, queries
from api.readings.unit_check import SAME_PHOTO_BITS, SAME_PHOTO_DAYS, distance, same_photo_test
from api.selftests.tables import Upload
from benchmarks.bench_statistics import fresh_database
from benchmarks.bench_unit_codes import backend_cpu_seconds, cpu_seconds

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "same_photo.md"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/vigil_bench_same_photo"
ASKING_TEST = 0  # no stored upload belongs to it
CHUNK = 100_000


def full_scan(session: Session, test_id: int, photo_hash: str) -> int | None:
    """The check before migration 0017: every other test's hash of 30 days, read and compared."""
    since = utcnow() - timedelta(days=SAME_PHOTO_DAYS)
    rows = [
        (int(test), str(dhash))
        for test, dhash in session.execute(
            select(Upload.self_test_id, Upload.photo_dhash).where(
                Upload.photo_dhash.is_not(None),
                Upload.uploaded_at >= since,
                Upload.self_test_id != test_id,
            )
        )
    ]
    nearest: tuple[int, int] | None = None
    for other_test, other_hash in rows:
        bits = distance(photo_hash, other_hash)
        if bits <= SAME_PHOTO_BITS and (nearest is None or bits < nearest[0]):
            nearest = (bits, other_test)
    return nearest[1] if nearest else None


def load(url: str, uploads: int, rng: random.Random) -> tuple[list[str], float]:
    """COPY ``uploads`` uploads of random hashes (upload i belongs to test i); the hashes and
    the seconds taken (with VACUUM ANALYZE)."""
    engine = make_engine(url)
    hashes = [f"{rng.getrandbits(64):016x}" for _ in range(uploads)]
    now = utcnow()
    started = time.perf_counter()
    raw: Any = engine.raw_connection()  # psycopg's, for COPY
    try:
        cursor = raw.cursor()
        cursor.execute("SET session_replication_role = replica")
        columns = (
            "id, self_test_id, photo_sha256, content_type, size_bytes, taken_at, uploaded_at, "
            "queued_at, attempts, minutes_after_claim, photo_dhash, "
            "photo_band0, photo_band1, photo_band2"
        )
        for first in range(0, uploads, CHUNK):
            rows = io.StringIO()
            for i in range(first, min(first + CHUNK, uploads)):
                at = (
                    now - timedelta(seconds=rng.uniform(0, (SAME_PHOTO_DAYS - 1) * 86400))
                ).isoformat()
                b0, b1, b2 = photo_bands.bands(hashes[i])
                rows.write(
                    f"{i + 1}\t{i + 1}\t{i:064x}\timage/jpeg\t1000\t{at}\t{at}\t{at}\t1\t20"
                    f"\t{hashes[i]}\t{b0}\t{b1}\t{b2}\n"
                )
            with cursor.copy(f"COPY uploads ({columns}) FROM STDIN") as copy:
                copy.write(rows.getvalue())
        cursor.execute("SET session_replication_role = origin")
        raw.commit()
        raw.driver_connection.autocommit = True  # VACUUM runs outside a transaction
        cursor.execute("VACUUM ANALYZE uploads")
    finally:
        raw.close()
        engine.dispose()
    return hashes, time.perf_counter() - started


def asked_hashes(stored: list[str], count: int, rng: random.Random) -> list[str]:
    """Half re-sent photos (a stored hash, 0 to 6 bits flipped), half new ones, interleaved."""
    asked = []
    for _ in range(count // 2):
        mask = sum(1 << p for p in rng.sample(range(64), rng.randint(0, SAME_PHOTO_BITS)))
        asked.append(f"{int(rng.choice(stored), 16) ^ mask:016x}")
        asked.append(f"{rng.getrandbits(64):016x}")
    return asked


def timed(
    session: Session, check: Callable[[Session, int, str], int | None], asked: list[str]
) -> tuple[list[int | None], list[float], float, float]:
    """Answers, wall ms per look-up, and CPU s of this process and of the server backend."""
    answers, wall = [], []
    cpu, server = cpu_seconds(), backend_cpu_seconds(session) or 0.0
    for photo_hash in asked:
        started = time.perf_counter()
        answers.append(check(session, ASKING_TEST, photo_hash))
        wall.append((time.perf_counter() - started) * 1000)
        session.rollback()  # each photo is its own worker transaction
    server_after = backend_cpu_seconds(session) or 0.0
    return answers, wall, cpu_seconds() - cpu, server_after - server


def candidates(session: Session, asked: list[str]) -> float:
    since = utcnow() - timedelta(days=SAME_PHOTO_DAYS)
    counts = [
        len(queries.photo_hashes_near(session, h, SAME_PHOTO_BITS, since, ASKING_TEST))
        for h in asked
    ]
    return statistics.mean(counts)


def plan(session: Session, photo_hash: str) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of the banded query, the statement the check sends."""
    sent: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", keep)
    try:
        same_photo_test(session, ASKING_TEST, photo_hash)
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    [(statement, parameters)] = [s for s in sent if "uploads.photo_band0" in s[0]]
    lines = (
        session.connection()
        .exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", parameters)
        .scalars()
        .all()
    )
    session.rollback()
    # The band values' arrays run to hundreds of values: keep each node's head.
    return "\n".join(line if len(line) < 160 else line[:157] + "..." for line in lines)


def sizes(session: Session) -> list[tuple[str, float]]:
    names = ["uploads", *(f"ix_uploads_photo_band{i}_uploaded_at" for i in range(3))]
    return [(n, session.scalar(text(f"SELECT pg_relation_size('{n}')")) / 2**20) for n in names]


def row(name: str, count: int, wall: list[float], cpu: float, server: float) -> str:
    ordered = sorted(wall)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return (
        f"| {name} | {count} | {statistics.median(wall):,.1f} | {p95:,.1f} "
        f"| {cpu / count * 1000:,.2f} | {server / count * 1000:,.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--uploads", type=int, default=1_000_000)
    parser.add_argument("--scans", type=int, default=6, help="look-ups timed the old way")
    parser.add_argument("--lookups", type=int, default=200, help="look-ups timed the new way")
    args = parser.parse_args()
    rng = random.Random(17)
    url, drop = fresh_database(args.database_url)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = {"mode": "test", "data_dir": tmp, "database_url": url, **new_secrets()}
            upgrade(Settings.model_validate(settings))
        stored, load_s = load(url, args.uploads, rng)
        asked = asked_hashes(stored, args.lookups, rng)
        engine = make_engine(url)
        with Session(engine) as session:
            after = timed(session, same_photo_test, asked)
            before = timed(session, full_scan, asked[: args.scans])
            mean_candidates = candidates(session, asked)
            explained = plan(session, asked[0])
            sized = sizes(session)
        engine.dispose()
    finally:
        drop()
    agree = before[0] == after[0][: args.scans]
    found = sum(a is not None for a in after[0])
    table = "\n".join(
        [
            "| look-up | photos | wall ms p50 | wall ms p95 | CPU ms/photo, this process "
            "| CPU ms/photo, PostgreSQL backend |",
            "|---|---:|---:|---:|---:|---:|",
            row("full scan (before 0017)", args.scans, before[1], before[2], before[3]),
            row("three bands (0017)", args.lookups, after[1], after[2], after[3]),
        ]
    )
    text_out = f"""# Same-photo check at 10^6 uploads

`nice -n 5 python -m benchmarks.bench_same_photo --uploads {args.uploads} --scans {args.scans} \
--lookups {args.lookups}` (PostgreSQL on 127.0.0.1; CPython {platform.python_version()}, \
{platform.machine()}; load average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)

{args.uploads:,} uploads of random hashes, all within the {SAME_PHOTO_DAYS} days, COPYed \
with their bands in {load_s:.1f} s (VACUUM ANALYZE included). Half the photos looked up re-send \
a stored photo (0 to {SAME_PHOTO_BITS} bits flipped), half are new; one look-up is one \
`same_photo_test` call in its own transaction, query and distance check. CPU is user + system \
time of this process and of the server process serving its connection (`/proc/<pid>/stat`), \
measured in the same run; the wall clock is shared with other jobs.

{table}

Same tests found both ways on the {args.scans} photos run both ways: {agree}. \
Photos with a same-photo test found by the bands: {found} of {args.lookups}. \
Candidates read back per look-up (then checked in Python): {mean_candidates:.1f} on average.

Sizes on disk (MiB): {", ".join(f"{n} {s:.1f}" for n, s in sized)}.

The banded query's plan for one photo:

```
{explained}
```
"""
    RESULTS.write_text(text_out)
    print(text_out)


if __name__ == "__main__":
    main()
