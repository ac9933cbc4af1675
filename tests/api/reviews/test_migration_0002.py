"""Revision 0002 keeps the meaning of data written before it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine

from api.db.migrate import alembic_config


def test_reviews_and_waiting_proposals_are_carried_over(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    config = alembic_config(f"sqlite:///{path}")
    command.upgrade(config, "0001")
    db = sqlite3.connect(path)  # foreign keys off: only the rows this revision touches
    now = "2024-05-01 10:00:00.000000"
    db.executescript(
        f"""
        INSERT INTO self_tests (id, unit_id, patient_id, product_id, batch_id, region_code,
            latitude, longitude, claimed_at, status)
        VALUES (1, 1, 1, 1, 1, 'R', 0, 0, '{now}', 'released'),
               (2, 2, 1, 1, 1, 'R', 0, 0, '{now}', 'in_review');
        INSERT INTO proposals (id, upload_id, self_test_id, status, result, confidence,
            model_version, reading, issues, created_at)
        VALUES (1, 1, 1, 'ok', 'positive', 0.9, 'm', '{{}}', '[]', '{now}'),
               (2, 2, 2, 'ok', 'negative', 0.9, 'm', '{{}}', '[]', '{now}');
        INSERT INTO reviews (id, proposal_id, self_test_id, reviewer_id, decision, result,
            created_at)
        VALUES (1, 1, 1, 1, 'confirm', 'positive', '{now}');
        """
    )
    db.commit()
    db.close()
    # A plain engine leaves SQLite's foreign keys off: the rows above have no parents.
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        command.upgrade(alembic_config(f"sqlite:///{path}", connection), "head")
    engine.dispose()
    db = sqlite3.connect(path)
    review = db.execute(
        "SELECT round, effect, settles_at, settled_at FROM reviews WHERE id = 1"
    ).fetchone()
    assert review == (1, "release", now, now)
    stages = dict(db.execute("SELECT id, review_stage FROM proposals").fetchall())
    assert stages == {1: None, 2: 1}
    db.close()
