"""Fixtures for the server's tests.

Each test runs inside one database transaction that is rolled back at the end
(SQLAlchemy's "join an external transaction" recipe: sessions work in
savepoints). The database is SQLite unless ``VIGIL_TEST_DATABASE_URL`` names
another, e.g. ``postgresql+psycopg://postgres@127.0.0.1:5432/vigil_test``; each
test process then creates and drops a database of its own, named after that one.
Objects are built through the services, as the API builds them.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session
from stack_services import create_database, drop_database, own_database_url

import api.accounts.service as accounts_service
import api.app as api_app
from api import public_ids
from api.accounts.tables import Role, User
from api.app import create_app
from api.batches.schemas import BatchCreate
from api.batches.service import create_batch
from api.batches.tables import Batch, Unit
from api.config import Settings, new_secrets
from api.context import AppContext
from api.db.migrate import upgrade_connection
from api.db.session import Database, make_engine
from api.organisations.schemas import (
    CdcOfficeCreate,
    InstitutionCreate,
    ManufacturerReview,
    ManufacturerSignUp,
)
from api.organisations.service import create_cdc_office, create_institution, review, sign_up
from api.organisations.tables import CdcOffice, Institution, Manufacturer
from api.patients.schemas import PatientRegister
from api.patients.service import register
from api.products.service import register as register_product
from api.products.tables import Product
from api.readings import service as readings_service
from api.vision import Vision
from pipeline.reading import LineReading, QualityIssue, Reading

REPO = Path(__file__).resolve().parents[2]
DEMO_KIT = REPO / "datasets" / "kits" / "demo"
REGIONS_FILE = REPO / "api" / "regions" / "demo_regions.geojson"


def pytest_configure(config: pytest.Config) -> None:
    # Registered here, not in a tests/conftest.py: that would put tests/ on sys.path,
    # where tests/api would shadow the api package under a plain ``pytest`` run.
    config.addinivalue_line(
        "markers",
        "stack: needs PostgreSQL at 127.0.0.1:5432 and Redis at 127.0.0.1:6379 "
        "(skipped when they are unreachable)",
    )


def database_url(tmp_dir: Path) -> str:
    """SQLite in ``tmp_dir``, or a database of this process's own on the server that
    ``VIGIL_TEST_DATABASE_URL`` names (its name + xdist worker + pid: parallel workers
    and concurrent runs never share one)."""
    url = os.environ.get("VIGIL_TEST_DATABASE_URL")
    return own_database_url(url) if url else f"sqlite:///{tmp_dir / 'test.db'}"


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    url = database_url(tmp_path_factory.mktemp("db"))
    postgres = url.startswith("postgresql")
    if postgres:
        create_database(url)
    engine = make_engine(url)
    with engine.begin() as conn:
        upgrade_connection(conn)  # the schema comes from the migrations, as in production
    yield engine
    engine.dispose()
    if postgres:
        drop_database(url)


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    conn = engine.connect()
    outer = conn.begin()
    try:
        yield conn
    finally:
        outer.rollback()
        conn.close()


@pytest.fixture(scope="session", autouse=True)
def fast_password_hashing() -> Iterator[None]:
    """Cheap argon2 parameters for test accounts; verification reads them from the hash."""
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
def keys() -> dict[str, str]:
    return new_secrets()


@pytest.fixture(scope="session")
def region_index() -> Any:
    from api.regions.geo import RegionIndex

    return RegionIndex.from_geojson(json.loads(REGIONS_FILE.read_text(encoding="utf-8")))


@pytest.fixture
def settings(tmp_path: Path, keys: dict[str, str]) -> Settings:
    return Settings(
        mode="test",
        data_dir=tmp_path,
        database_url=database_url(tmp_path),
        celery_broker_url=None,
        event_poll_seconds=0.02,
        **keys,
    )


@pytest.fixture
def ctx(
    settings: Settings, connection: Connection, region_index: Any, fake_reader: FakeReader
) -> AppContext:
    return AppContext(
        settings=settings,
        database=Database(connection),
        _regions=region_index,
        vision=Vision(reader=fake_reader),
    )


@pytest.fixture
def session(ctx: AppContext) -> Iterator[Session]:
    with ctx.database.session() as session:
        yield session


@pytest.fixture
def client(ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(context=ctx)) as client:
        yield client


# The pipeline, replaced --------------------------------------------------


def reading(result: str = "positive", *, model: str = "fake@1") -> Reading:
    """A pipeline reading as the real pipeline shapes it."""
    if result == "retake":
        return Reading.retake(
            [QualityIssue("blur", "The photo is blurred: hold the phone still.")], model=model
        )
    if result == "by_eye":  # the model could not read it; a clinician reads it by eye
        return Reading(
            status="by_eye",  # type: ignore[arg-type]  # pipeline's Status gains it with issue 7
            result=None,
            analytes={},
            lines={},
            confidence=0.3,
            code=None,
            issues=[],
            model=model,
        )
    t_present = result == "positive"
    c_present = result != "invalid"
    return Reading(
        status="ok",
        result=result,  # type: ignore[arg-type]
        analytes={"SARS-CoV-2 antigen": "detected" if t_present else "not detected"},
        lines={
            "T": LineReading(present=t_present, intensity=0.3 * t_present, p_present=0.9),
            "C": LineReading(present=c_present, intensity=0.5 * c_present, p_present=0.99),
        },
        confidence=0.93,
        code=None,
        issues=[],
        model=model,
    )


@dataclass
class FakeReader:
    """Returns queued readings in order, then ``default``; counts its calls."""

    default: str = "positive"
    queue: list[str] = field(default_factory=list)
    calls: int = 0
    fail: bool = False
    code: str | None = None  # the unit code the photo shows (None: none readable)
    photo_hash: str | None = None  # the same-photo hash the pipeline gives the photo

    def __call__(self, photo: bytes, kit: Any) -> Reading:
        self.calls += 1
        if self.fail:
            raise RuntimeError("pipeline crashed")
        found = reading(self.queue.pop(0) if self.queue else self.default)
        return dataclasses.replace(found, code=self.code, photo_hash=self.photo_hash)


@pytest.fixture
def fake_reader() -> FakeReader:
    """Most tests need a proposal, not the vision: the real pipeline has its own tests,
    and the end-to-end tests switch it back on with ``real_pipeline``."""
    return FakeReader()


@pytest.fixture
def real_pipeline(ctx: AppContext) -> None:
    pytest.importorskip("pipeline.read")
    ctx.vision.reader = None


@pytest.fixture
def png() -> Callable[..., bytes]:
    """Makes small, valid PNG photos (the fake pipeline does not look at them)."""
    return png_photo


def png_photo(width: int = 96, height: int = 64, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(".png", image)
    assert ok
    return buf.tobytes()


# A world built through the services --------------------------------------


def region_points(geojson: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """A point (lat, lon) inside each region, away from its borders."""
    from shapely.geometry import shape

    points = {}
    for feature in geojson["features"]:
        code = feature["properties"]["code"]
        point = shape(feature["geometry"]).representative_point()
        points[code] = (point.y, point.x)
    return points


@dataclass
class World:
    ctx: AppContext
    session: Session
    operator: User
    manufacturer: Manufacturer
    maker: User
    product: Product
    batch: Batch
    codes: list[str]
    region_a: str
    region_b: str
    point_a: tuple[float, float]
    point_b: tuple[float, float]
    institution_a: Institution
    institution_b: Institution
    clinician_a: User
    clinician_b: User
    cdc_a: User
    cdc_b: User
    cdc_national: User
    office_a: CdcOffice
    office_b: CdcOffice
    office_national: CdcOffice
    scientist: User
    patient_a: User
    patient_b: User
    national_id_a: str
    national_id_b: str
    tokens: dict[int, str] = field(default_factory=dict)

    def headers(self, user: User | None) -> dict[str, str]:
        if user is None:
            return {}
        if user.id not in self.tokens:
            token, _ = accounts_service.issue_token(self.session, self.ctx, user)
            self.session.commit()
            self.tokens[user.id] = token
        return {"Authorization": f"Bearer {self.tokens[user.id]}"}

    def users(self) -> dict[str, User]:
        return {
            "operator": self.operator,
            "manufacturer": self.maker,
            "clinician_a": self.clinician_a,
            "clinician_b": self.clinician_b,
            "cdc_a": self.cdc_a,
            "cdc_b": self.cdc_b,
            "cdc_national": self.cdc_national,
            "scientist": self.scientist,
            "patient_a": self.patient_a,
            "patient_b": self.patient_b,
        }


def make_user(session: Session, username: str, role: Role, **links: Any) -> User:
    return accounts_service.create_user(
        session,
        username=username,
        password="correct horse battery",
        role=role,
        display_name=username,
        **links,
    )


def make_manufacturer(
    session: Session, operator: User, *, licence: str = "BL-0001", approve: bool = True
) -> tuple[Manufacturer, User]:
    manufacturer, maker = sign_up(
        session,
        ManufacturerSignUp(
            name=f"Maker {licence}",
            business_licence_no=licence,
            device_certificates=["REG-2024-001", "REG-2024-002"],
            contact_email="qa@maker.example",
            username=f"maker-{licence}",
            password="correct horse battery",
        ),
    )
    if approve:
        review(session, operator, manufacturer.id, ManufacturerReview(decision="approve"))
    return manufacturer, maker


def demo_kit_files() -> tuple[bytes, bytes]:
    return (DEMO_KIT / "kit.json").read_bytes(), (DEMO_KIT / "template.png").read_bytes()


def pick_regions(index: Any, geojson: dict[str, Any]) -> tuple[str, str, str]:
    """Two leaf regions sharing only the top region, and that top (national) code."""
    codes = [f["properties"]["code"] for f in geojson["features"]]
    leaves = [c for c in codes if not index.descendants(c)]
    a = leaves[0]
    # B shares no region with A but the top one: no office below the top covers both.
    common = {c: len(set(index.ancestors(c)) & set(index.ancestors(a))) for c in leaves}
    b = min((c for c in leaves if c != a), key=lambda c: common[c])
    roots = [c for c in codes if not index.ancestors(c)]
    return a, b, roots[0]


@pytest.fixture
def world_builder() -> Callable[..., World]:
    """``build_world(ctx, session)``, for tests that bring their own database."""
    return build_world


@pytest.fixture
def world(ctx: AppContext, session: Session) -> World:
    return build_world(ctx, session)


def build_world(ctx: AppContext, session: Session, quantity: int = 20) -> World:
    geojson = json.loads(REGIONS_FILE.read_text(encoding="utf-8"))
    points = region_points(geojson)
    index = ctx.regions
    region_a, region_b, national = pick_regions(index, geojson)
    parent_a = index.ancestors(region_a)[0] if index.ancestors(region_a) else region_a

    operator = make_user(session, "operator", Role.operator)
    manufacturer, maker = make_manufacturer(session, operator)
    kit_bytes, template_bytes = demo_kit_files()
    registered = register_product(
        session,
        ctx,
        maker,
        kit_bytes=kit_bytes,
        template_bytes=template_bytes,
        registration_certificate_no="REG-2024-001",
    )
    product = session.get_one(Product, registered.id)
    created = create_batch(
        session,
        ctx,
        maker,
        BatchCreate(
            product_id=public_ids.encode(public_ids.PRODUCT, product.id),
            lot_number="LOT-A1",
            quantity=quantity,
            expiry_date=date.today() + timedelta(days=365),
        ),
    )
    session.flush()
    # The rows, not the services' read models: tests change them (expiry) directly.
    batch = session.get_one(Batch, created.id)
    codes = list(
        session.scalars(
            Unit.__table__.select().with_only_columns(Unit.code).where(Unit.batch_id == batch.id)
        )
    )

    def institution(region: str, name: str) -> Institution:
        return create_institution(
            session,
            ctx,
            operator,
            InstitutionCreate(name=name, region_code=region, address="1 Main St"),
        )

    def office(region: str, name: str) -> CdcOffice:
        return create_cdc_office(
            session, ctx, operator, CdcOfficeCreate(name=name, region_code=region)
        )

    institution_a = institution(region_a, "Hospital A")
    institution_b = institution(region_b, "Hospital B")
    office_a = office(parent_a, "CDC A (parent region)")
    office_b = office(region_b, "CDC B")
    office_national = office(national, "National CDC")
    national_ids = (make_id(1), make_id(2))
    patients = []
    for i, nid in enumerate(national_ids):
        _patient, user = register(
            session,
            ctx,
            PatientRegister(
                name=f"Patient {i}",
                national_id=nid,
                phone=make_phone(i),
                username=f"patient{i}",
                password="correct horse battery",
            ),
        )
        patients.append(user)
    world = World(
        ctx=ctx,
        session=session,
        operator=operator,
        manufacturer=manufacturer,
        maker=maker,
        product=product,
        batch=batch,
        codes=codes,
        region_a=region_a,
        region_b=region_b,
        point_a=points[region_a],
        point_b=points[region_b],
        institution_a=institution_a,
        institution_b=institution_b,
        clinician_a=make_user(
            session, "clinician-a", Role.clinician, institution_id=institution_a.id
        ),
        clinician_b=make_user(
            session, "clinician-b", Role.clinician, institution_id=institution_b.id
        ),
        cdc_a=make_user(session, "cdc-a", Role.cdc_officer, cdc_office_id=office_a.id),
        cdc_b=make_user(session, "cdc-b", Role.cdc_officer, cdc_office_id=office_b.id),
        cdc_national=make_user(
            session, "cdc-national", Role.cdc_officer, cdc_office_id=office_national.id
        ),
        office_a=office_a,
        office_b=office_b,
        office_national=office_national,
        scientist=make_user(session, "scientist", Role.data_scientist),
        patient_a=patients[0],
        patient_b=patients[1],
        national_id_a=national_ids[0],
        national_id_b=national_ids[1],
    )
    session.commit()
    return world


def make_id(n: int) -> str:
    from api.identity import make_test_id

    return make_test_id(n)


def make_phone(n: int) -> str:
    return f"+86 138 0013 {8000 + n:04d}"


Call = Callable[..., Any]


@dataclass
class Flow:
    """Steps of the flow through the services, for tests that need a test in some state."""

    world: World

    def claim(
        self,
        patient: User | None = None,
        code_index: int = 0,
        where: str = "a",
        sample_minutes_ago: float | None = 20,
    ) -> Any:
        """A claimed test whose sample went on ``sample_minutes_ago`` (a photo sent now is
        within the demo kit's read window); ``None``: the patient never said."""
        from api.patients.schemas import Claim
        from api.patients.service import claim
        from api.selftests import lifecycle

        w = self.world
        lat, lon = w.point_a if where == "a" else w.point_b
        who = patient or w.patient_a
        test = claim(
            w.session, w.ctx, who, Claim(code=w.codes[code_index], latitude=lat, longitude=lon)
        )
        if sample_minutes_ago is not None:
            at = test.claimed_at - timedelta(minutes=sample_minutes_ago)
            lifecycle.sample_applied(w.session, who, test, at)
        w.session.commit()
        return test

    def upload(self, test: Any, patient: User | None = None, **kwargs: Any) -> Any:
        w = self.world
        kwargs.setdefault("idempotency_key", None)
        kwargs.setdefault("taken_at", None)
        upload, _ = readings_service.upload_photo(
            w.session, w.ctx, patient or w.patient_a, test.id, png_photo(seed=test.id), **kwargs
        )
        w.session.commit()  # the reading runs in-process after the commit
        w.session.expire_all()
        return upload

    def decide(
        self, test: Any, decision: str = "confirm", clinician: User | None = None, **kw: Any
    ) -> Any:
        from api.reviews.schemas import ReviewIn
        from api.reviews.service import decide
        from api.scope import scope_for
        from api.selftests.queries import latest_proposal

        w = self.world
        clinician = clinician or (
            w.clinician_a if test.region_code == w.region_a else w.clinician_b
        )
        proposal = latest_proposal(w.session, test.id)
        assert proposal is not None
        scope = scope_for(w.session, w.ctx, clinician)
        review, _ = decide(
            w.session, w.ctx, clinician, scope, proposal.id, ReviewIn(decision=decision, **kw)
        )
        w.session.commit()
        return review

    def released(
        self, result: str, code_index: int, where: str = "a", patient: User | None = None
    ) -> Any:
        """A test taken to release with ``result`` (the fake pipeline proposes it)."""
        reader = self.world.ctx.vision.reader
        assert isinstance(reader, FakeReader)
        reader.queue.append(result)
        test = self.claim(patient, code_index, where)
        self.upload(test, patient)
        self.decide(test)
        return test


@pytest.fixture
def flow(world: World) -> Flow:
    return Flow(world)


@pytest.fixture
def flow_builder() -> Callable[[World], Flow]:
    """``Flow(world)``, for tests that build their own world (``world_builder``)."""
    return Flow
