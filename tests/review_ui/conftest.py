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

import itertools
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
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
REGION_NORTH = "DL-N-01-01"  # the demo's clinician-north works here
REGION_SOUTH = "DL-S-02-01"
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


# Tests in the flow, made through the services ----------------------------------

_serial = itertools.count(700)


def new_patient(session: Session, ctx: AppContext) -> tuple[User, str]:
    """A freshly registered patient and their national ID number."""
    from api.identity import make_test_id
    from api.patients.schemas import PatientRegister
    from api.patients.service import register

    n = next(_serial)
    national_id = make_test_id(n)
    _patient, user = register(
        session,
        ctx,
        PatientRegister(
            name=f"Test Patient {n}",
            national_id=national_id,
            phone=f"+86 139 0000 {n:04d}",
            username=f"patient-{n}",
            password=DEMO_PASSWORD,
        ),
    )
    session.commit()
    return user, national_id


def unused_code(session: Session) -> str:
    from api.batches.tables import Unit, UnitState

    code = session.scalar(
        select(Unit.code).where(Unit.state == UnitState.unused).order_by(Unit.serial).limit(1)
    )
    assert code is not None, "the demo batch ran out of codes"
    return code


def start_test(session: Session, ctx: AppContext, user: User, region: str = REGION_NORTH) -> Any:
    """Claim an unused demo code for ``user`` in ``region``, 20 minutes ago (read time ok)."""
    from api.patients.schemas import Claim
    from api.patients.service import claim

    point = ctx.regions.region(region).geometry.representative_point()  # type: ignore[union-attr]
    test = claim(
        session, ctx, user, Claim(code=unused_code(session), latitude=point.y, longitude=point.x)
    )
    test.claimed_at -= timedelta(minutes=20)
    session.commit()
    return test


def send_photo(session: Session, ctx: AppContext, user: User, test: Any, photo: bytes) -> Any:
    """Upload ``photo`` for ``test`` and read it (in-process); returns the proposal."""
    from api.patients.queries import latest_proposal
    from api.readings import service as readings

    upload, _ = readings.upload_photo(
        session, ctx, user, test.id, photo, idempotency_key=None, taken_at=None
    )
    session.commit()
    readings.process_upload(ctx, upload.id)
    session.expire_all()
    return latest_proposal(session, test.id)


def rendered_photo(code: str, od: dict[str, float], seed: int = 0) -> bytes:
    """A synthetic photo of the demo kit with these line densities (the demo's renderer)."""
    import numpy as np

    from datasets.render import render_photo
    from pipeline.kit import load_kit

    kit = load_kit(REPO / "datasets" / "kits" / "demo" / "kit.json")
    photo = render_photo(kit, np.random.default_rng(seed), od=od, code=code, size=(1600, 1200))
    return bytes(photo.jpeg)


def fake_reading(result: str = "positive", confidence: float = 0.93) -> Any:
    """A reading shaped like the pipeline's, with an explanation to draw."""
    import numpy as np

    from pipeline.reading import Explanation, LineReading, Reading

    t = result == "positive"
    c = result != "invalid"
    profile = np.zeros(150)
    profile[101:106] = 0.5 * c
    profile[61:66] = 0.3 * t
    return Reading(
        status="ok",
        result=result,  # type: ignore[arg-type]
        analytes={"SARS-CoV-2 antigen": "detected" if t else "not detected"},
        lines={
            "T": LineReading(t, 0.3 * t, 0.95, at=0.42 if t else None, expected_at=0.4196),
            "C": LineReading(c, 0.5 * c, 0.99, at=0.69 if c else None, expected_at=0.6949),
        },
        confidence=confidence,
        code=None,
        issues=[],
        model="fake@1",
        explanation=Explanation(
            window=np.full((30, 150, 3), 225, np.uint8), profile=profile, locator="code"
        ),
    )


@pytest.fixture
def review_item(ctx: AppContext, session: Session) -> Iterator[Callable[..., Any]]:
    """``review_item(result, confidence, region)`` -> a proposal in a clinician's queue
    (the pipeline replaced by ``fake_reading``)."""
    from api.readings import service as readings

    def make(result: str = "positive", confidence: float = 0.93, region: str = REGION_NORTH) -> Any:
        readings.set_reader(lambda _photo, _kit: fake_reading(result, confidence))
        user, _ = new_patient(session, ctx)
        test = start_test(session, ctx, user, region)
        return send_photo(session, ctx, user, test, tiny_png())

    yield make
    readings.set_reader(None)


def tiny_png() -> bytes:
    import cv2
    import numpy as np

    ok, buf = cv2.imencode(".png", np.full((48, 64, 3), 200, np.uint8))
    assert ok
    return bytes(buf.tobytes())


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
