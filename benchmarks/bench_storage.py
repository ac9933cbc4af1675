"""Photo storage: put and get of photo-sized blobs on the folder store and an S3 store.

Run ``python -m benchmarks.bench_storage [--photos 20] [--megabytes 4]``. Stores
``--photos`` random blobs of ``--megabytes`` (a 12-MP JPEG is 3 to 5 MB) in a
folder store on the local disk (fsync before rename) and in an S3 store served by
moto on loopback, then reads them back; prints the median and 95th-percentile
milliseconds per blob and writes ``benchmarks/results/storage.md``. moto is a
Python test server, not S3: its figures bound the client's overhead, not a real
store's speed.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from api.storage import BlobStore, open_store

ROOT = Path(__file__).resolve().parent.parent


def timings(blobs: list[bytes], store: BlobStore) -> tuple[list[float], list[float]]:
    puts, gets, digests = [], [], []
    for blob in blobs:
        start = time.perf_counter()
        digests.append(store.put(blob))
        puts.append(time.perf_counter() - start)
    for digest, blob in zip(digests, blobs, strict=True):
        start = time.perf_counter()
        assert store.get(digest) == blob
        gets.append(time.perf_counter() - start)
    return puts, gets


def moto_store() -> tuple[BlobStore, Callable[[], None]]:
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log line per request

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="bench")
    return open_store("s3://bench/photos", endpoint_url=endpoint), server.stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=20)
    parser.add_argument("--megabytes", type=float, default=4.0)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "storage.md"))
    args = parser.parse_args()
    blobs = [os.urandom(int(args.megabytes * 1e6)) for _ in range(args.photos)]

    rows = []
    with tempfile.TemporaryDirectory(dir=ROOT) as scratch:
        s3, stop = moto_store()
        try:
            for name, store in [("folder (local disk, fsync)", open_store(Path(scratch))),
                                ("S3 via boto3 (moto on loopback)", s3)]:  # fmt: skip
                for operation, seconds in zip(("put", "get"), timings(blobs, store), strict=True):
                    ms = sorted(1000 * s for s in seconds)
                    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
                    rate = args.megabytes * len(ms) / (sum(ms) / 1000)
                    row = (
                        name,
                        operation,
                        f"{statistics.median(ms):.1f}",
                        f"{p95:.1f}",
                        f"{rate:.0f}",
                    )
                    rows.append(row)
                    print(" | ".join(row))
        finally:
            stop()
    machine = (
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs"
    )
    table = "".join(f"| {' | '.join(row)} |\n" for row in rows)
    out = Path(args.out)
    out.write_text(
        "# Photo storage\n\n"
        f"`python -m benchmarks.bench_storage` ({args.photos} random blobs of "
        f"{args.megabytes:g} MB, one at a time; {machine}, shared machine). moto is a "
        "Python test server, not S3: its figures bound the client's overhead from above "
        "and say nothing of a real store's speed.\n\n"
        "| store | operation | median ms | 95th pct ms | MB/s |\n|---|---|---:|---:|---:|\n" + table
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
