"""Demo seeding: every party present, tests at several stages, idempotent."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from api.accounts.tables import User
from api.config import Settings, new_secrets
from api.context import AppContext
from api.db import upgrade
from api.events.tables import Event
from api.selftests.tables import SelfTest
from vigil.demo import PASSWORD, PATIENTS, describe, seed_demo


@pytest.fixture
def ctx(tmp_path: Path) -> AppContext:
    settings = Settings.model_validate({"mode": "demo", "data_dir": tmp_path, **new_secrets()})
    upgrade(settings)
    return AppContext.from_settings(settings)


def test_seed_without_photos_is_complete_and_idempotent(ctx: AppContext) -> None:
    info = seed_demo(ctx, photos=False)
    assert info.created
    with ctx.database.session() as session:
        roles = dict(session.execute(select(User.role, func.count()).group_by(User.role)).all())
        assert roles == {
            "operator": 1,
            "manufacturer": 1,
            "clinician": 4,
            "cdc_officer": 3,
            "data_scientist": 1,
            "patient": len(PATIENTS),
        }
        assert session.scalar(select(func.count()).select_from(SelfTest)) == len(PATIENTS)
        assert session.scalar(select(func.count()).select_from(Event)) == len(PATIENTS)
    again = seed_demo(ctx, photos=False)
    assert not again.created
    text = describe(info, "http://127.0.0.1:8000")
    assert PASSWORD in text
    assert "/docs" in text
    ctx.database.bind.dispose()  # type: ignore[union-attr]


@pytest.mark.slow
def test_seed_with_photos_reaches_every_stage(ctx: AppContext) -> None:
    pytest.importorskip("datasets.render")
    pytest.importorskip("pipeline.read")
    seed_demo(ctx)
    with ctx.database.session() as session:
        statuses = sorted(session.scalars(select(SelfTest.status)).all())
    assert "released" in statuses
    assert "awaiting_photo" in statuses
    assert {"in_review", "retake"} & set(statuses)
    ctx.database.bind.dispose()  # type: ignore[union-attr]
