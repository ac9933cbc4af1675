"""Backends for the security tests: the real Redis at 127.0.0.1:6379, and memory.

Every Redis test uses its own key prefix (a fresh uuid) and deletes its keys
afterwards, so parallel runs and other helpers' data are untouched. Database 15
is left alone: the stack tests flush it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

REDIS_URL = os.environ.get("VIGIL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis_reachable() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="session")
def redis_url() -> str:
    if not _redis_reachable():
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    import redis

    prefix = f"vigil-test:{uuid.uuid4().hex}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture(params=["memory", "redis"])
def backend_url(request: pytest.FixtureRequest) -> str | None:
    """``None`` for the in-memory backend, else a Redis URL (prefix from ``backend_prefix``)."""
    if request.param == "memory":
        return None
    url: str = request.getfixturevalue("redis_url")
    return url


@pytest.fixture
def backend_prefix(backend_url: str | None, request: pytest.FixtureRequest) -> str:
    if backend_url is None:
        return "unused"
    prefix: str = request.getfixturevalue("redis_prefix")
    return prefix
