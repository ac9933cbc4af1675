"""The data scientists' pages: registry overview, the challenger's disagreements with their
photos, drift per lot; nobody else sees them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from review_ui_helpers import fake_reading, tiny_png
from sqlalchemy.orm import Session

from api.context import AppContext
from api.model_registry import shadow
from api.public_ids import SHADOW, encode
from models.band_model import BandModel

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "band-classifier@1.onnx"


def test_only_scientists_see_the_pages(pages: Any) -> None:
    paths = ("/science", "/science/shadow", "/science/drift")
    for username in ("operator", "maker", "cdc-national", "clinician-south", "patient2"):
        pages.log_in(username)
        for path in paths:
            assert pages.get(path).status_code == 403, (username, path)
    pages.log_in("scientist")
    for path in paths:
        assert pages.get(path).status_code == 200, path
    assert pages.get("/science/drift?weeks=0").status_code == 422


def test_disagreements_show_both_readings_and_the_photo(
    pages: Any, ctx: AppContext, session: Session, review_item: Any
) -> None:
    agreed = review_item("positive")
    differed = review_item("positive")
    challenger = BandModel.from_file(SHIPPED, "band-classifier@7")
    kit = None  # the stand-in reader does not look at the kit
    champion = fake_reading("positive")
    ctx.vision.reader = lambda _p, _k: fake_reading("positive")
    assert shadow.read_beside(ctx, agreed.id, champion, tiny_png(), kit, challenger)  # type: ignore[arg-type]
    ctx.vision.reader = lambda _p, _k: fake_reading("negative")
    assert shadow.read_beside(ctx, differed.id, champion, tiny_png(), kit, challenger)  # type: ignore[arg-type]
    # Run twice (a redelivered task): kept once.
    assert not shadow.read_beside(ctx, differed.id, champion, tiny_png(), kit, challenger)  # type: ignore[arg-type]

    pages.log_in("scientist")
    page = pages.get("/science/shadow")
    assert page.status_code == 200
    assert page.text.count('class="disagrees"') == 1
    assert 'class="agrees"' not in page.text
    assert "band-classifier@7: ok negative" in page.text  # the stand-in read as the challenger
    (row,) = shadow.readings(session)
    assert row.proposal_id == differed.id
    shown = encode(SHADOW, row.id)
    assert f"/science/shadow/{shown}/photo" in page.text
    photo = pages.get(f"/science/shadow/{shown}/photo")
    assert photo.status_code == 200
    assert photo.headers["content-type"] == "image/png"
    assert pages.get(f"/science/shadow/{shown}/window.png").status_code == 200
    assert pages.get(f"/science/shadow/{encode(SHADOW, 999999)}/photo").status_code == 404
    assert pages.get(f"/science/shadow/{row.id}/photo").status_code == 404  # not a public id
    assert pages.get("/science/shadow?all=true").text.count('class="agrees"') == 1

    overview = pages.get("/science")
    assert "1</strong> disagreements of 2 readings" in overview.text

    # A clinician sees the champion's proposal only.
    pages.log_in("clinician-north")
    assert pages.get(f"/science/shadow/{row.id}/photo").status_code == 403


def test_drift_page_lists_the_lot(pages: Any, review_item: Any) -> None:
    review_item("positive")
    pages.log_in("scientist")
    page = pages.get("/science/drift")
    assert page.status_code == 200
    assert "lot " in page.text
    assert page.text.count('class="total"') >= 1
