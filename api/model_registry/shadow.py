"""Shadow mode: the challenger reads each live photo beside the champion.

Its readings go to ``shadow_readings`` only: never to a proposal, a clinician's
queue, a patient or a report. The data scientists list where it disagrees.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from api.context import AppContext
from api.errors import NotFoundError
from api.model_registry import queries
from api.model_registry.schemas import ShadowOut
from api.model_registry.tables import ShadowReading
from api.pagination import ALL, Window

if TYPE_CHECKING:
    from models.band_model import BandModel
    from pipeline.kit import Kit
    from pipeline.reading import Reading

log = logging.getLogger(__name__)


def _said(status: str, result: str | None) -> tuple[str, str | None]:
    # by_eye keeps the model's best guess as a hint: only an "ok" result is an answer.
    return status, result if status == "ok" else None


def read_beside(
    ctx: AppContext,
    proposal_id: int,
    champion: Reading,
    photo: bytes,
    kit: Kit,
    challenger: BandModel,
) -> bool:
    """Read ``photo`` with the challenger and keep it beside proposal ``proposal_id``.

    Returns whether a shadow reading was stored. A failure is logged, never raised:
    the champion's proposal is already stored and must not depend on the challenger.
    """
    if challenger.version == champion.model:
        return False
    try:
        reading = ctx.vision.read(photo, kit, band_model=challenger)
        with ctx.database.transaction() as session:
            # Named by the challenger, not the reading: a pipeline that raised answers
            # by_eye under no model, and that is the challenger's answer too.
            if queries.shadow_of(session, proposal_id, challenger.version) is not None:
                return False  # a task run twice
            session.add(
                ShadowReading(
                    proposal_id=proposal_id,
                    model_version=challenger.version,
                    champion_version=champion.model,
                    status=reading.status,
                    result=reading.result,
                    confidence=float(reading.confidence),
                    reading=reading.to_json(),
                    agrees=_said(reading.status, reading.result)
                    == _said(champion.status, champion.result),
                )
            )
        return True
    except Exception:
        log.exception("the challenger's shadow reading of proposal %s failed", proposal_id)
        return False


def _out(row: ShadowReading, session: Session) -> ShadowOut:
    proposal, upload = queries.proposal_and_upload(session, row.proposal_id)
    return ShadowOut(
        id=row.id,
        proposal_id=row.proposal_id,
        challenger=row.model_version,
        champion=row.champion_version,
        champion_status=proposal.status,
        champion_result=proposal.result,
        champion_confidence=proposal.confidence,
        challenger_status=row.status,
        challenger_result=row.result,
        challenger_confidence=row.confidence,
        agrees=row.agrees,
        photo_sha256=upload.photo_sha256,
        window_sha256=(proposal.explanation or {}).get("window_sha256"),
        at=row.created_at,
    )


def readings(
    session: Session, window: Window = ALL, *, disagreeing_only: bool = True
) -> list[ShadowOut]:
    """Shadow readings, newest first (by default only where the challenger disagrees)."""
    rows = queries.shadow_readings(session, disagreeing_only=disagreeing_only, window=window)
    return [_out(row, session) for row in rows]


def counts(session: Session) -> dict[str, dict[str, int]]:
    """Per challenger version: readings and disagreements."""
    return queries.shadow_counts(session)


def shadow_image(session: Session, ctx: AppContext, shadow_id: int, kind: str) -> tuple[bytes, str]:
    """The photo (``kind="photo"``) or the champion's straightened window of a shadow
    reading, with its media type."""
    row = session.get(ShadowReading, shadow_id)
    if row is None:
        raise NotFoundError(f"no shadow reading {shadow_id}")
    proposal, upload = queries.proposal_and_upload(session, row.proposal_id)
    if kind == "photo":
        return ctx.photos.get(upload.photo_sha256), upload.content_type
    sha = (proposal.explanation or {}).get("window_sha256")
    if not sha or not ctx.photos.exists(sha):
        raise NotFoundError(f"shadow reading {shadow_id} has no window image")
    return ctx.photos.get(sha), "image/png"
