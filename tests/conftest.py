"""Shared pytest setup: markers only (fixtures live next to the tests that use them)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "stack: needs PostgreSQL at 127.0.0.1:5432 and Redis at 127.0.0.1:6379 "
        "(skipped when they are unreachable)",
    )
