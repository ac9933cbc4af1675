"""PostgreSQL databases, Redis databases and S3-compatible servers of a test process's own.

Several test runs share one machine's PostgreSQL and Redis (xdist workers, two
worktrees, CI while a developer runs the tests), so nothing here uses a fixed name:
each database is named after the xdist worker and the process id and dropped when
done, and each Redis database is leased with a key that expires if the run dies.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL, make_url

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
# Database 0 is left to whatever else runs on this Redis.
REDIS_DATABASES = range(1, 16)
LEASE_KEY = "vigil-test:lease"
LEASE_SECONDS = 3600  # outlives any test; frees the database of a run that was killed


def postgres_server() -> str:
    """The PostgreSQL server for tests that need PostgreSQL itself (its grants, its
    partitions): ``VIGIL_TEST_DATABASE_URL`` where the run names one, else the production
    stack's (``VIGIL_STACK_DATABASE_URL``, 127.0.0.1:5432 by default). The database name in it
    is a stem: each test makes a database of its own (:func:`own_database_url`)."""
    return os.environ.get("VIGIL_TEST_DATABASE_URL") or os.environ.get(
        "VIGIL_STACK_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/vigil_stack"
    )


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def own_name(base: str, tag: str = "") -> str:
    """``base`` made unique to this process: ``vigil_test_gw1_12345`` (or ``_main_``)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = "_".join(part for part in (base, tag, worker, str(os.getpid())) if part)
    return name[:63]  # PostgreSQL's limit on names


def own_database_url(url: str, tag: str = "") -> str:
    """``url`` pointing at a database of this process's own (same server, same user)."""
    target = make_url(url)
    assert target.database, f"no database name in {url}"
    return render(target.set(database=own_name(target.database, tag)))


def render(url: URL) -> str:
    return url.render_as_string(hide_password=False)


def _admin(url: str) -> tuple[str, Engine]:
    target = make_url(url)
    engine = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    return str(target.database), engine


def create_database(url: str) -> None:
    """Create the database ``url`` names, dropping a leftover of the same name first."""
    name, engine = _admin(url)
    with engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()


def drop_database(url: str) -> None:
    name, engine = _admin(url)
    with engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    engine.dispose()


@contextmanager
def leased_redis_database() -> Iterator[str]:
    """The URL of an empty Redis database nobody else uses until the block ends.

    The lease is a key set only if absent, in a database that holds nothing else;
    at the end the database is emptied and the lease given back.
    """
    import redis

    token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4()}"
    for number in REDIS_DATABASES:
        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=number)
        if client.set(LEASE_KEY, token, nx=True, ex=LEASE_SECONDS):
            if client.dbsize() == 1:
                break
            client.delete(LEASE_KEY)  # someone else's data: leave it alone
        client.close()
    else:
        raise RuntimeError(
            f"no free Redis database among {REDIS_DATABASES.start}-{REDIS_DATABASES.stop - 1}"
        )
    try:
        yield f"redis://{REDIS_HOST}:{REDIS_PORT}/{number}"
    finally:
        forget_everything_but_the_lease(client)
        if client.get(LEASE_KEY) == token.encode():
            client.delete(LEASE_KEY)
        client.close()


def forget_everything_but_the_lease(client: Any) -> None:
    """Empty a leased database (queued messages included) and keep holding it."""
    keys = [key for key in client.scan_iter() if key != LEASE_KEY.encode()]
    if keys:
        client.delete(*keys)


S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@contextmanager
def s3_server() -> Iterator[str]:
    """The endpoint URL of a local S3-compatible server (moto) on a free loopback port.

    boto3 wants credentials even for moto: test ones are set for the block and the
    environment restored after it.
    """
    from moto.server import ThreadedMotoServer

    saved = {name: os.environ.get(name) for name in S3_CREDENTIALS}
    os.environ.update(S3_CREDENTIALS)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
