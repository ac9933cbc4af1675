"""Demo data for ``vigil serve --demo``: every party, and tests at each stage of the flow.

Everything is created through the server's own services, as the API would, so
the demo exercises the real rules (validation, scope, audit, reports, events).
Seeding is idempotent: a database that already has the demo operator is left
alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.accounts import service as accounts
from api.accounts.tables import Role, User
from api.batches.schemas import BatchCreate
from api.batches.service import create_batch
from api.batches.tables import Unit
from api.context import AppContext
from api.identity import make_test_id
from api.organisations.schemas import (
    CdcOfficeCreate,
    InstitutionCreate,
    ManufacturerReview,
    ManufacturerSignUp,
)
from api.organisations.service import create_cdc_office, create_institution, review, sign_up
from api.patients.schemas import Claim, PatientRegister
from api.patients.service import claim, register
from api.products.service import register as register_product
from api.public_ids import PRODUCT, encode
from api.readings import service as readings
from api.reviews.schemas import ReviewIn
from api.reviews.service import decide
from api.scope import scope_for

log = logging.getLogger(__name__)

PASSWORD = "vigil-demo-2024"
DEMO_KIT = Path(__file__).resolve().parent.parent / "datasets" / "kits" / "demo"
# Two districts in different provinces of the fictional Demoland map.
REGION_A = "DL-N-01-01"
REGION_B = "DL-S-02-01"
NATIONAL = "DL"

# (patient, region, line densities of the photo, how far the flow goes)
PATIENTS: tuple[tuple[str, str, dict[str, float], str], ...] = (
    ("Wang Fang", REGION_A, {"T": 0.45, "C": 0.8}, "released"),
    ("Li Na", REGION_B, {"T": 0.0, "C": 0.8}, "released"),
    ("Zhang Wei", REGION_A, {"T": 0.3, "C": 0.7}, "in_review"),
    ("Liu Yang", REGION_B, {"T": 0.0, "C": 0.75}, "in_review"),
    ("Chen Jie", REGION_A, {"T": 0.0, "C": 0.8}, "retake"),
    ("Zhao Min", REGION_B, {}, "claimed"),
)


@dataclass
class DemoInfo:
    """What was seeded, for the start-up message."""

    created: bool
    logins: dict[str, str] = field(default_factory=dict)
    codes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def seed_demo(ctx: AppContext, *, photos: bool = True) -> DemoInfo:
    """Fill an empty database with the demo parties and tests; no-op when already seeded.

    ``photos=False`` skips rendering and reading photos (fast; tests stop at the scan).
    """
    with ctx.database.session() as session:
        if session.scalar(select(User).where(User.username == "operator")) is not None:
            return DemoInfo(created=False, logins=_logins(), notes=["demo data already present"])
        info = _seed(session, ctx, photos)
        session.commit()
    return info


def _logins() -> dict[str, str]:
    names = (
        "operator", "maker", "clinician-north", "clinician-north-2", "clinician-south",
        "clinician-south-2", "cdc-north", "cdc-south", "cdc-national", "scientist", "patient1",
    )  # fmt: skip
    return dict.fromkeys(names, PASSWORD)


def _user(session: Session, username: str, role: Role, display: str, **links: Any) -> User:
    return accounts.create_user(
        session, username=username, password=PASSWORD, role=role, display_name=display, **links
    )


def _seed(session: Session, ctx: AppContext, photos: bool) -> DemoInfo:
    info = DemoInfo(created=True, logins=_logins())
    operator = _user(session, "operator", Role.operator, "Platform Operator")
    manufacturer, maker = sign_up(
        session,
        ManufacturerSignUp(
            name="Demo Diagnostics Co.",
            business_licence_no="91110000-DEMO01",
            device_certificates=["DL-MDR-2024-0001"],
            contact_email="regulatory@demo-diagnostics.example",
            username="maker",
            password=PASSWORD,
        ),
    )
    review(session, operator, manufacturer.id, ManufacturerReview(decision="approve"))
    product = register_product(
        session,
        ctx,
        maker,
        kit_bytes=(DEMO_KIT / "kit.json").read_bytes(),
        template_bytes=(DEMO_KIT / "template.png").read_bytes(),
        registration_certificate_no="DL-MDR-2024-0001",
    )
    batch = create_batch(
        session,
        ctx,
        maker,
        BatchCreate(
            product_id=encode(PRODUCT, product.id),
            lot_number="DEMO-LOT-001",
            quantity=200,
            expiry_date=date.today() + timedelta(days=365),
        ),
    )
    session.flush()
    codes = list(
        session.scalars(select(Unit.code).where(Unit.batch_id == batch.id).order_by(Unit.serial))
    )

    clinicians = {}
    for region, suffix in ((REGION_A, "north"), (REGION_B, "south")):
        name = ctx.regions.name(region)
        institution = create_institution(
            session,
            ctx,
            operator,
            InstitutionCreate(
                name=f"{name} General Hospital",
                region_code=region,
                address=f"1 Hospital Road, {name}",
            ),
        )
        office = create_cdc_office(
            session, ctx, operator, CdcOfficeCreate(name=f"{name} CDC", region_code=region)
        )
        clinicians[region] = _user(
            session,
            f"clinician-{suffix}",
            Role.clinician,
            f"Dr {name}",
            institution_id=institution.id,
        )
        # A second reader per region: double-read items need another clinician to finish.
        _user(
            session,
            f"clinician-{suffix}-2",
            Role.clinician,
            f"Dr {name} (second reader)",
            institution_id=institution.id,
        )
        _user(session, f"cdc-{suffix}", Role.cdc_officer, f"{name} CDC", cdc_office_id=office.id)
    national = create_cdc_office(
        session, ctx, operator, CdcOfficeCreate(name="National CDC", region_code=NATIONAL)
    )
    _user(session, "cdc-national", Role.cdc_officer, "National CDC", cdc_office_id=national.id)
    _user(session, "scientist", Role.data_scientist, "Data Scientist")
    session.commit()

    for number, (name, region, od, stage) in enumerate(PATIENTS, start=1):
        _patient, user = register(
            session,
            ctx,
            PatientRegister(
                name=name,
                national_id=make_test_id(number),
                phone=f"+86 138 0013 {8000 + number:04d}",
                username=f"patient{number}",
                password=PASSWORD,
            ),
        )
        code = codes[number - 1]
        lat, lon = _point_in(ctx, region)
        test = claim(session, ctx, user, Claim(code=code, latitude=lat, longitude=lon))
        # Photos are taken within the kit's read-time window (15-30 minutes).
        test.claimed_at -= timedelta(minutes=20)
        session.commit()
        if stage == "claimed" or not photos:
            continue
        # Like a patient, take another photo when the pipeline asks for one (up to 3).
        for attempt in range(3):
            flaw = "blur" if stage == "retake" else None
            photo = _render(code, od, flaw=flaw, seed=number + 100 * attempt)
            if photo is None:
                info.notes.append("datasets.render is not available: demo tests stop at the scan")
                break
            key = f"demo-{number}-{attempt}"
            upload, _ = readings.upload_photo(
                session, ctx, user, test.id, photo, idempotency_key=key, taken_at=None
            )
            session.commit()
            try:
                readings.process_upload(ctx, upload.id)
            except Exception:  # the demo must start even if the pipeline fails on a photo
                log.exception("demo photo %s could not be read; the sweep will retry", upload.id)
                break
            session.refresh(test)
            if stage == "retake" or test.status != "retake":
                break
        session.expire_all()
        if stage == "released" and test.status == "in_review":
            clinician = clinicians[region]
            from api.selftests.queries import latest_proposal

            proposal = latest_proposal(session, test.id)
            assert proposal is not None
            decide(
                session,
                ctx,
                clinician,
                scope_for(session, ctx, clinician),
                proposal.id,
                ReviewIn(decision="confirm"),
            )
            session.commit()
    info.codes = codes[len(PATIENTS) : len(PATIENTS) + 5]
    info.notes.append(
        "patient1 can also log in with the code of their kit and national ID "
        f"{make_test_id(1)} (POST /api/auth/patient-token)"
    )
    return info


def _point_in(ctx: AppContext, region: str) -> tuple[float, float]:
    geometry = ctx.regions.region(region).geometry
    assert geometry is not None
    point = geometry.representative_point()
    return point.y, point.x


def _render(code: str, od: dict[str, float], flaw: str | None, seed: int) -> bytes | None:
    try:
        import numpy as np

        from datasets.render import render_photo
        from pipeline.kit import load_kit
    except ImportError:
        return None
    kit = load_kit(DEMO_KIT / "kit.json")
    photo = render_photo(
        kit, np.random.default_rng(seed), od=od, code=code, flaw=flaw, size=(1600, 1200)
    )
    return photo.jpeg


def describe(info: DemoInfo, base_url: str) -> str:
    """The start-up message: where to go and how to log in."""
    lines = [
        f"Vigil demo at {base_url}",
        f"  API documentation: {base_url}/docs",
        f"  Event stream:      {base_url}/api/events/stream",
        f"Demo log-ins (password '{PASSWORD}' for every account):",
        "  " + ", ".join(info.logins),
    ]
    if info.codes:
        lines.append("Unused kit codes to scan: " + ", ".join(info.codes))
    lines += [f"Note: {note}" for note in info.notes]
    return "\n".join(lines)
