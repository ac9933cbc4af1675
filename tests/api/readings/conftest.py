"""A worker's context on a database of the test's own, SQLite or PostgreSQL."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from stack_services import create_database, drop_database, own_database_url, postgres_server

from api.config import Settings
from api.context import AppContext
from api.db.migrate import upgrade_connection
from api.db.session import Database, make_engine
from api.vision import Vision


@pytest.fixture(params=["sqlite", "postgresql"])
def worker_ctx(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    keys: dict[str, str],
    region_index: Any,
    fake_reader: Any,
) -> Iterator[AppContext]:
    """A context on an engine, as a worker's, for a migrated database of this test's own."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'task.db'}"
    else:
        url = own_database_url(postgres_server(), "task_statements")
        create_database(url)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            upgrade_connection(conn)
        settings = Settings(mode="test", data_dir=tmp_path, database_url=url, **keys)
        yield AppContext(
            settings=settings,
            database=Database(engine),
            _regions=region_index,
            vision=Vision(reader=fake_reader),
        )
    finally:
        engine.dispose()
        if request.param == "postgresql":
            drop_database(url)


@pytest.fixture
def photos_show(worker_ctx: AppContext, fake_reader: Any) -> Callable[[dict[str, Any]], None]:
    """``photos_show({photo_sha256: (unit code, photo hash) or an exception})``: what the
    stand-in pipeline finds in each stored photo, or raises for it."""

    def show(shown: dict[str, Any]) -> None:
        def read(photo: bytes, kit: Any) -> Any:
            found = shown[hashlib.sha256(photo).hexdigest()]
            if isinstance(found, Exception):
                raise found
            code, photo_hash = found
            return dataclasses.replace(fake_reader(photo, kit), code=code, photo_hash=photo_hash)

        worker_ctx.vision.reader = read

    return show
