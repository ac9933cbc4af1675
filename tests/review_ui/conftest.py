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

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import Session

import api.accounts.service as accounts_service
from api.accounts.tables import User
from api.config import Settings, new_secrets
from api.context import AppContext
from api.db.migrate import upgrade_connection
from api.db.session import Database, make_engine
from review_ui.app import create_app

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DEMO_PASSWORD = "vigil-demo-2024"
PHONE = {"width": 360, "height": 740}
LAPTOP = {"width": 1280, "height": 860}


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing() -> Iterator[None]:
    """Cheap argon2 parameters for the demo accounts; verification reads them from the hash."""
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    original = accounts_service.hash_password
    accounts_service.hash_password = cheap.hash
    yield
    accounts_service.hash_password = original


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


CSRF_INPUT = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


@dataclass
class PageClient:
    """A TestClient that logs in through the form and sends the page's CSRF token."""

    client: TestClient
    csrf: str | None = None

    def get(self, url: str, **kwargs: Any) -> Any:
        response = self.client.get(url, **kwargs)
        found = CSRF_INPUT.search(response.text) if response.status_code < 500 else None
        if found:
            self.csrf = found.group(1)
        return response

    def post(self, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        data = dict(data or {})
        if self.csrf and "csrf_token" not in data and "files" not in kwargs:
            data["csrf_token"] = self.csrf
        elif self.csrf and "files" in kwargs:
            data.setdefault("csrf_token", self.csrf)
        kwargs.setdefault("follow_redirects", False)
        return self.client.post(url, data=data, **kwargs)

    def log_in(self, username: str, password: str = DEMO_PASSWORD) -> Any:
        self.client.cookies.clear()
        self.get("/login")
        response = self.post("/login", {"username": username, "password": password})
        assert response.status_code == 303, response.text
        self.csrf = None
        return response


def user_named(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    assert user is not None, username
    return user


# Browser tests: one live server, one browser -------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    import uvicorn

    from api.db import upgrade
    from api.readings import service as readings_service
    from vigil.demo import seed_demo

    readings_service.set_reader(None)  # the real pipeline
    data_dir = tmp_path_factory.mktemp("live")
    settings = Settings(
        mode="test", data_dir=data_dir, event_poll_seconds=0.2, celery_broker_url=None, **keys
    )
    upgrade(settings)
    ctx = AppContext.from_settings(settings)
    seed_demo(ctx)
    port = free_port()
    config = uvicorn.Config(
        create_app(context=ctx), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(base_url=f"http://127.0.0.1:{port}", ctx=ctx, data_dir=data_dir)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        ctx.database.bind.dispose()  # type: ignore[union-attr]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
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


def log_in(page: Any, username: str, password: str = DEMO_PASSWORD) -> None:
    """Log in through the form; leaves the page on the account's home."""
    page.goto("/login")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login" not in url)


@pytest.fixture
def login() -> Callable[..., None]:
    return log_in


def save_screenshot(page: Any, name: str) -> Path:
    """Save the whole page as ``test-artifacts/screenshots/<name>.png``."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture
def screenshot() -> Callable[[Any, str], Path]:
    return save_screenshot


# What every page must hold: labelled controls, no sideways scrolling at 360 px.
_UNLABELLED_JS = """
() => Array.from(document.querySelectorAll('input, select, textarea, button, [role=button]'))
  .filter(el => el.type !== 'hidden' && !el.closest('[hidden]') && !el.closest('template'))
  .filter(el => {
    const name = (el.getAttribute('aria-label') || '').trim()
      || (el.labels && Array.from(el.labels).map(l => l.textContent).join('').trim())
      || (el.getAttribute('aria-labelledby') || '').split(/\\s+/).filter(Boolean)
           .map(id => (document.getElementById(id) || {}).textContent || '').join('').trim()
      || (el.getAttribute('title') || '').trim()
      || ((el.tagName === 'BUTTON' || el.getAttribute('role') === 'button')
          ? el.textContent.trim() : '')
      || (el.type === 'submit' || el.type === 'button' ? (el.value || '').trim() : '');
    return !name;
  })
  .map(el => el.outerHTML.slice(0, 120))
"""


def check_page(page: Any) -> None:
    """Assert the page has labels on every control, one <main>, and no horizontal scroll."""
    unlabelled = page.evaluate(_UNLABELLED_JS)
    assert unlabelled == [], f"controls without an accessible name on {page.url}: {unlabelled}"
    assert page.locator("main").count() == 1
    assert page.locator("h1").count() >= 1, f"no heading on {page.url}"
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{page.url} scrolls sideways by {overflow}px"


@pytest.fixture
def page_checks() -> Callable[[Any], None]:
    return check_page
