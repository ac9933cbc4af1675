"""Fixtures for the web pages.

Two kinds of tests:

* fast ones with FastAPI's ``TestClient`` (``pages``): the demo data without
  photos, seeded once into a session database; each test runs in a
  transaction that is rolled back.
* browser ones (``live_server``, ``browser``, ``page``): ONE live server per
  test session (uvicorn in a thread, a fresh SQLite data folder, the full demo
  with photos read by the real pipeline) driven by Debian's Chromium through
  Playwright. No browser is ever downloaded. Screenshots go to
  ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from review_ui_helpers import (
    LAPTOP,
    REGION_NORTH,
    PageClient,
    check_page,
    fake_reading,
    log_in,
    new_patient,
    save_screenshot,
    send_photo,
    serving,
    start_test,
    tiny_png,
)
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

import api.accounts.service as accounts_service
import api.app as api_app
from api.config import Settings, new_secrets
from api.context import AppContext
from api.db.migrate import upgrade_connection
from api.db.session import Database, make_engine
from api.security.ratelimit import DEFAULT_POLICY, Throttle
from review_ui.app import create_app

CHROMIUM = "/usr/bin/chromium"
LIVE_GRACE_SECONDS = 2.0
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist with ``--dist loadgroup``, every test of the one live server
    runs on one worker: the server (the full demo, read by the real pipeline) is seeded
    once, not once per worker."""
    for item in items:
        if "live_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("live-server"))


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing() -> Iterator[None]:
    """Cheap argon2 parameters for the demo accounts; verification reads them from the hash."""
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    original = accounts_service.hash_password
    accounts_service.hash_password = cheap.hash
    yield
    accounts_service.hash_password = original


@pytest.fixture(scope="session", autouse=True)
def one_api_router() -> Iterator[None]:
    """Every test builds its own app, but all apps get the same routes: build the router
    once per process. FastAPI analyses each route's dependencies when a router is first
    included (about half a second here), then reuses that for the same router."""
    original = api_app.api_router
    api_app.api_router = functools.cache(original)
    yield
    api_app.api_router = original


@pytest.fixture(scope="session")
def keys() -> dict[str, Any]:
    return new_secrets()


# Fast tests: TestClient over a rolled-back transaction -------------------


@pytest.fixture(scope="session")
def seeded_engine(
    tmp_path_factory: pytest.TempPathFactory, keys: dict[str, Any], cheap_password_hashing: None
) -> Iterator[Engine]:
    """A database with the schema and the demo parties (no photos), committed once."""
    from vigil.demo import seed_demo

    folder = tmp_path_factory.mktemp("pages-db")
    engine = make_engine(f"sqlite:///{folder / 'pages.db'}")
    with engine.begin() as conn:
        upgrade_connection(conn)
    settings = Settings(mode="test", data_dir=folder, database_url=str(engine.url), **keys)
    seed_demo(AppContext(settings=settings, database=Database(engine)), photos=False)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(seeded_engine: Engine) -> Iterator[Connection]:
    conn = seeded_engine.connect()
    outer = conn.begin()
    try:
        yield conn
    finally:
        outer.rollback()
        conn.close()


@pytest.fixture
def ctx(tmp_path: Path, keys: dict[str, Any], connection: Connection) -> AppContext:
    settings = Settings(
        mode="test",
        data_dir=tmp_path,
        database_url=str(connection.engine.url),
        celery_broker_url=None,
        event_poll_seconds=0.02,
        **keys,
    )
    return AppContext(settings=settings, database=Database(connection))


@pytest.fixture
def session(ctx: AppContext) -> Iterator[Session]:
    with ctx.database.session() as session:
        yield session


@pytest.fixture
def pages(ctx: AppContext) -> Iterator[PageClient]:
    with TestClient(create_app(context=ctx)) as client:
        yield PageClient(client)


@pytest.fixture
def review_item(ctx: AppContext, session: Session) -> Callable[..., Any]:
    """``review_item(result, confidence, region)`` -> a proposal in a clinician's queue
    (the pipeline replaced by ``fake_reading``)."""

    def make(result: str = "positive", confidence: float = 0.93, region: str = REGION_NORTH) -> Any:
        ctx.vision.reader = lambda _photo, _kit: fake_reading(result, confidence)
        user, _ = new_patient(session, ctx)
        test = start_test(session, ctx, user, region)
        return send_photo(session, ctx, user, test, tiny_png())

    return make


# Browser tests: one live server, one browser -------------------------------


@dataclass
class LiveServer:
    base_url: str
    ctx: AppContext
    data_dir: Path
    notes: dict[str, Any] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return self.base_url + path


@pytest.fixture(scope="session")
def live_server(
    tmp_path_factory: pytest.TempPathFactory, keys: dict[str, Any], cheap_password_hashing: None
) -> Iterator[LiveServer]:
    """``vigil serve --demo`` in a thread: fresh data folder, full demo, real pipeline."""
    from api.db import upgrade
    from vigil.demo import seed_demo

    data_dir = tmp_path_factory.mktemp("live")
    settings = Settings(
        mode="test", data_dir=data_dir, event_poll_seconds=0.2, celery_broker_url=None, **keys
    )
    upgrade(settings)
    ctx = AppContext.from_settings(settings)
    seed_demo(ctx)
    # Every browser here comes from 127.0.0.1, and the tests sharing this server log in more
    # than the per-address allowance (20 a minute) when they run close together, which made
    # a log-in fail now and then. In the field these are many addresses; the per-address
    # limit has its own tests (tests/api/security, the log-in and sign-up page tests).
    ctx.throttle = Throttle.from_url(
        None,
        secret=b"live-server-throttle-key",
        policy=replace(DEFAULT_POLICY, address_attempts=100_000),
    )
    # A short grace period: held review decisions take effect within the tests' waits.
    app = create_app(context=ctx, review_grace_seconds=LIVE_GRACE_SECONDS)
    try:
        with serving(app) as base_url:
            yield LiveServer(base_url=base_url, ctx=ctx, data_dir=data_dir)
    finally:
        ctx.database.bind.dispose()  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one test module: Playwright's sync API holds an event loop in this
    thread while it runs, which later asyncio-based tests must not find."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser: Any, live_server: LiveServer) -> Iterator[Callable[..., Any]]:
    """``new_page(viewport=LAPTOP)``: a page in a fresh browser context (own cookies)."""
    contexts = []

    def make(viewport: dict[str, int] | None = None, **options: Any) -> Any:
        context = browser.new_context(
            base_url=live_server.base_url, viewport=viewport or LAPTOP, **options
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: Callable[..., Any]) -> Any:
    return new_page()


@pytest.fixture
def login() -> Callable[..., None]:
    return log_in


@pytest.fixture
def screenshot() -> Callable[[Any, str], Path]:
    return save_screenshot


@pytest.fixture
def page_checks() -> Callable[[Any], None]:
    return check_page
