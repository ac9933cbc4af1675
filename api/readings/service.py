"""Step 7: storing photos, reading them with the pipeline, and sweeping up lost work.

The photo is written and its upload row committed before any task is queued;
the task is idempotent (one proposal per upload, enforced by a unique key), so
a crashed worker, a redelivered message and the sweep can never lose or
duplicate a reading.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.accounts.tables import User
from api.audit.service import record
from api.context import AppContext
from api.db.base import utcnow
from api.errors import (
    ConflictError,
    ForbiddenError,
    InvalidError,
    NotFoundError,
    TooLargeError,
    UnsupportedError,
)
from api.patients import queries as patient_queries
from api.patients.service import patient_of
from api.patients.tables import SelfTest, TestStatus
from api.products.service import kit_of
from api.products.tables import Product
from api.readings import queries
from api.readings.tables import Proposal, Upload

if TYPE_CHECKING:
    from pipeline.kit import Kit
    from pipeline.reading import Reading

log = logging.getLogger(__name__)

# Photos may be taken offline and sent later, but not in the future.
CLOCK_SKEW = timedelta(minutes=5)
UPLOADABLE = (TestStatus.awaiting_photo, TestStatus.retake)

Reader = Callable[[bytes, "Kit"], "Reading"]
_reader: Reader | None = None


def set_reader(reader: Reader | None) -> None:
    """Replace the pipeline (tests); ``None`` restores the real one."""
    global _reader
    _reader = reader


def run_pipeline(photo: bytes, kit: Kit) -> Reading:
    """The one place the server calls the vision pipeline (imported lazily: the API starts fast)."""
    if _reader is not None:
        return _reader(photo, kit)
    from pipeline.read import read

    return read(photo, kit, band_model=_band_model())


def _band_model() -> Any:
    try:
        from models.registry import current_band_model
    except ImportError:
        return None
    return current_band_model()


def sniff_photo(data: bytes) -> str:
    """The photo's format from its headers (JPEG, PNG, WebP, HEIF), or a 4xx saying why not."""
    from pipeline.decode import PhotoError, probe

    try:
        info = probe(data)
    except PhotoError as exc:
        code = getattr(exc, "code", "")
        if code == "too_large":
            raise TooLargeError(f"photo: {exc}") from None
        if code in ("not_an_image", "unsupported_format"):
            raise UnsupportedError(f"photo: {exc}") from None
        raise InvalidError(f"photo: {exc}") from None
    return f"image/{info.format}"


def read_time_flag(kit_document: dict[str, Any], minutes: float) -> str | None:
    """``"early"`` / ``"late"`` when a photo missed the kit's read-time window."""
    window = kit_document.get("read_time_minutes")
    if not window:
        return None
    if minutes < float(window.get("min", 0)):
        return "early"
    upper = window.get("max")
    if upper is not None and minutes > float(upper):
        return "late"
    return None


def upload_photo(
    session: Session,
    ctx: AppContext,
    user: User,
    test_id: int,
    data: bytes,
    *,
    idempotency_key: str | None,
    taken_at: datetime | None,
) -> tuple[Upload, bool]:
    """Store a photo for the caller's test; returns the upload and whether it is new.

    A retry with the same ``Idempotency-Key`` returns the first upload unchanged.
    """
    test = session.get(SelfTest, test_id)
    if test is None:
        raise NotFoundError(f"no test with id {test_id}")
    if patient_of(session, user).id != test.patient_id:
        raise ForbiddenError("this is not one of your tests")
    if idempotency_key is not None:
        previous = queries.upload_by_key(session, test.id, idempotency_key)
        if previous is not None:
            if previous.photo_sha256 != hashlib.sha256(data).hexdigest():
                raise ConflictError("Idempotency-Key was already used for a different photo")
            return previous, False
    if test.status not in UPLOADABLE:
        raise ConflictError(
            {
                TestStatus.reading: "a photo of this test is being read; wait for the result",
                TestStatus.in_review: "this test's photo is with a clinician; wait for the result",
                TestStatus.released: "this test is finished; its result has been released",
            }.get(TestStatus(test.status), f"no photo can be added in state {test.status}")
        )
    content_type = sniff_photo(data)
    now = utcnow()
    taken = taken_at or now
    if taken.tzinfo is None:
        raise InvalidError("taken_at: give a time zone (e.g. 2024-05-01T10:00:00Z)")
    if taken > now + CLOCK_SKEW:
        raise InvalidError("taken_at: lies in the future")
    product = session.get(Product, test.product_id)
    assert product is not None
    minutes = (taken - test.claimed_at).total_seconds() / 60
    sha = ctx.photos.put(data)  # durable before the row that points at it
    upload = Upload(
        self_test_id=test.id,
        photo_sha256=sha,
        content_type=content_type,
        size_bytes=len(data),
        idempotency_key=idempotency_key,
        taken_at=taken,
        uploaded_at=now,
        queued_at=now,
        minutes_after_claim=round(minutes, 2),
        read_time_flag=read_time_flag(product.kit, minutes),
    )
    session.add(upload)
    test.status = TestStatus.reading
    session.flush()
    record(session, user, "upload", "upload", upload.id, test=test.id, flag=upload.read_time_flag)
    return upload, True


def enqueue(ctx: AppContext, upload_id: int) -> None:
    """Queue the reading of an upload (in-process when no broker is configured).

    In-process reading uses this request's own context rather than the Celery
    app's process-wide one, so several apps in one process (tests, embedded
    servers) never read an upload against another app's database.
    """
    if ctx.settings.eager_tasks:
        try:
            process_upload(ctx, upload_id)
        except Exception:  # a failed reading must not fail the upload: the sweep retries it
            log.exception("could not read upload %s; the sweep will retry", upload_id)
        return
    from api.readings.tasks import read_upload

    try:
        read_upload.delay(upload_id)
    except Exception:  # a broker outage must not fail the upload: the sweep queues it again
        log.exception("could not queue upload %s; the sweep will retry", upload_id)


def process_upload(ctx: AppContext, upload_id: int) -> str:
    """Read one upload and keep the proposal. Safe to run twice or concurrently.

    Returns ``"proposed"``, ``"skipped"`` (already read) or ``"missing"``.
    """
    with ctx.database.session() as session:
        upload = session.get(Upload, upload_id)
        if upload is None:
            return "missing"
        if queries.proposal_for_upload(session, upload_id) is not None:
            return "skipped"
        test = session.get(SelfTest, upload.self_test_id)
        product = session.get(Product, test.product_id) if test else None
        assert test is not None
        assert product is not None
        kit = kit_of(product)
        photo = ctx.photos.get(upload.photo_sha256)
        # End the read transaction while the pipeline runs (seconds): on SQLite it holds
        # the write lock. Rolling back also expires the rows, so the writes below see
        # the test's state as it is after the reading, not before.
        session.rollback()
        reading = run_pipeline(photo, kit)
        document = reading.to_json()
        explanation = keep_explanation(ctx, reading)
        proposal = Proposal(
            upload_id=upload.id,
            self_test_id=test.id,
            status=reading.status,
            result=reading.result if reading.status == "ok" else None,
            confidence=float(reading.confidence),
            model_version=reading.model,
            reading=document,
            issues=[{"code": i.code, "message": i.message} for i in reading.issues],
            explanation=explanation,
        )
        session.add(proposal)
        latest = patient_queries.latest_upload(session, test.id)
        # An older upload's late reading must not override a newer photo's state.
        if latest is not None and latest.id == upload.id and test.status == TestStatus.reading:
            test.status = TestStatus.retake if reading.status == "retake" else TestStatus.in_review
            if test.status == TestStatus.in_review:
                proposal.review_stage = 1  # into the clinicians' queue
        try:
            session.flush()
        except IntegrityError:
            session.rollback()
            return "skipped"
        record(
            session,
            None,
            "proposal",
            "proposal",
            proposal.id,
            upload=upload.id,
            status=proposal.status,
            result=proposal.result,
            model=proposal.model_version,
        )
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            return "skipped"
        return "proposed"


def keep_explanation(ctx: AppContext, reading: Reading) -> dict[str, Any] | None:
    """What a clinician needs to check ``reading``, stored once at proposal time.

    The rectified window goes to the photo store as a PNG (content-addressed,
    so a re-read stores nothing new); the profile and the line positions go
    into the returned JSON. Returns ``None`` when the reading explains nothing.
    """
    found = reading.explanation
    lines = {
        name: {
            "present": bool(line.present),
            "intensity": round(float(line.intensity), 4),
            "at": None if line.at is None else round(float(line.at), 4),
            "expected_at": None if line.expected_at is None else round(float(line.expected_at), 4),
        }
        for name, line in reading.lines.items()
    }
    window_sha = None
    window_size = None
    if found.window is not None and found.window.size:
        import cv2

        ok, png = cv2.imencode(".png", found.window)
        if ok:
            window_sha = ctx.photos.put(png.tobytes())
            window_size = [int(found.window.shape[1]), int(found.window.shape[0])]
    profile = None
    if found.profile is not None and len(found.profile):
        profile = [round(float(v), 4) for v in found.profile]
    if window_sha is None and profile is None and not lines:
        return None
    return {
        "window_sha256": window_sha,
        "window_size": window_size,
        "profile": profile,
        "lines": lines,
        "locator": found.locator,
        "px_per_mm": None if found.px_per_mm is None else round(float(found.px_per_mm), 3),
    }


def sweep(ctx: AppContext, older_than: timedelta | None = None) -> list[int]:
    """Queue again every upload left without a proposal for ``older_than``; returns their ids."""
    if older_than is None:
        older_than = timedelta(seconds=ctx.settings.sweep_after_seconds)
    now = utcnow()
    with ctx.database.session() as session:
        stuck = queries.stuck_uploads(session, now - older_than)
        ids = []
        for upload in stuck:
            upload.queued_at = now
            upload.attempts += 1
            ids.append(upload.id)
        if ids:
            record(session, None, "sweep", "upload", ",".join(map(str, ids))[:64], count=len(ids))
        session.commit()
    for upload_id in ids:
        enqueue(ctx, upload_id)
    return ids


def upload_view(session: Session, upload: Upload) -> dict[str, Any]:
    test = session.get(SelfTest, upload.self_test_id)
    assert test is not None
    proposal = queries.proposal_for_upload(session, upload.id)
    reasons: list[str] = []
    if proposal is not None and proposal.status == "retake":
        reasons = [str(issue.get("message", "")) for issue in proposal.issues]
    return {
        "id": upload.id,
        "test_id": test.id,
        "photo_sha256": upload.photo_sha256,
        "size_bytes": upload.size_bytes,
        "taken_at": upload.taken_at,
        "uploaded_at": upload.uploaded_at,
        "minutes_after_claim": upload.minutes_after_claim,
        "read_time_flag": upload.read_time_flag,
        "test_status": test.status,
        "proposal_status": proposal.status if proposal else None,
        "retake_reasons": reasons,
    }
