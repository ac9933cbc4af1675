"""Helpers for the page tests (imported by ``conftest.py`` and by the tests themselves)."""

from __future__ import annotations

import itertools
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.accounts.tables import User
from api.context import AppContext

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "screenshots"
DEMO_PASSWORD = "vigil-demo-2024"
REGION_NORTH = "DL-N-01-01"  # the demo's clinician-north works here
REGION_SOUTH = "DL-S-02-01"
PHONE = {"width": 360, "height": 740}
LAPTOP = {"width": 1280, "height": 860}


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
    from api.readings import service as readings
    from api.selftests.queries import latest_proposal

    readings.upload_photo(session, ctx, user, test.id, photo, idempotency_key=None, taken_at=None)
    session.commit()  # the reading runs in-process after the commit
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


def tiny_png() -> bytes:
    import cv2
    import numpy as np

    ok, buf = cv2.imencode(".png", np.full((48, 64, 3), 200, np.uint8))
    assert ok
    return bytes(buf.tobytes())


@contextmanager
def serving(app: Any, name: str = "live-server") -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread on a free loopback port; yields its base URL.

    The socket is bound here and handed to uvicorn, so no other process (another
    xdist worker, another test run) can take the port between choosing and listening.
    """
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError(f"{name} did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def log_in(page: Any, username: str, password: str = DEMO_PASSWORD) -> None:
    """Log in through the form; leaves the page on the account's home."""
    page.goto("/login")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login" not in url)


def save_screenshot(page: Any, name: str) -> Path:
    """Save the whole page as ``test-artifacts/screenshots/<name>.png``."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


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


class Phones:
    """The SMS gateway, as the patients' phones see it (``ctx.notifier``)."""

    def __init__(self) -> None:
        self.texts: list[tuple[str, str]] = []

    def send(self, channel: str, address: str, text: str) -> None:
        assert channel == "sms"
        self.texts.append((address, text))

    def last_code(self) -> str:
        """The code in the latest text (a sign-up's or a log-in's)."""
        _address, text = self.texts[-1]
        return text.split("code is ")[1].split(".")[0]
