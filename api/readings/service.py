"""Step 7: storing photos, reading them with the pipeline, and sweeping up lost work.

The photo is written and its upload row committed before any task is queued;
the task is idempotent (one proposal per upload, enforced by a unique key), so
a crashed worker, a redelivered message and the sweep can never lose or
duplicate a reading.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from api import worker
from api.accounts.schemas import Caller
from api.audit.service import record
from api.batches.tables import Unit
from api.context import AppContext
from api.db.base import utcnow
from api.db.hooks import after_commit
from api.errors import (
    ConflictError,
    InvalidError,
    NotFoundError,
)
from api.metrics import observe_reading
from api.model_registry import service as model_registry
from api.model_registry import shadow
from api.model_registry.tables import BAND_MODEL
from api.patients.service import patient_of
from api.products.service import kit_of
from api.products.tables import Product
from api.readings import queries, unit_check
from api.readings.schemas import ReadingRecord
from api.selftests import lifecycle, read_time
from api.selftests import queries as test_queries
from api.selftests.tables import Proposal, SelfTest, TestStatus, Upload

if TYPE_CHECKING:
    import numpy as np

    from models.band_model import BandModel
    from pipeline.kit import Kit
    from pipeline.reading import Reading

log = logging.getLogger(__name__)

# The Celery task that reads one upload (api.readings.tasks.read_upload).
READ_UPLOAD = "vigil.read_upload"


def upload_photo(
    session: Session,
    ctx: AppContext,
    user: Caller,
    test_id: int,
    data: bytes,
    *,
    idempotency_key: str | None,
    taken_at: datetime | None,
) -> tuple[Upload, bool]:
    """Store a photo for the caller's test; returns the upload and whether it is new.

    A retry with the same ``Idempotency-Key`` returns the first upload unchanged. A photo
    taken before the kit's read window opened (timed from the sample) is refused with
    the minutes to wait (``TooEarlyError``); one taken after it closed is flagged late.
    """
    test = session.get(SelfTest, test_id)
    if test is None:
        raise NotFoundError(f"no test with id {test_id}")
    if patient_of(session, user).id != test.patient_id:
        raise NotFoundError(f"no test with id {test_id}")  # not yours: as if absent
    if idempotency_key is not None:
        previous = queries.upload_by_key(session, test.id, idempotency_key)
        if previous is not None:
            if previous.photo_sha256 != hashlib.sha256(data).hexdigest():
                raise ConflictError("Idempotency-Key was already used for a different photo")
            return previous, False
    lifecycle.require(test, lifecycle.Step.photo_received)  # before the photo is stored
    content_type = ctx.vision.probe(data)
    now = utcnow()
    taken = taken_at or now
    if taken.tzinfo is None:
        raise InvalidError("taken_at: give a time zone (e.g. 2024-05-01T10:00:00Z)")
    if taken > now + lifecycle.CLOCK_SKEW:
        raise InvalidError("taken_at: lies in the future")
    product = session.get(Product, test.product_id)
    assert product is not None
    window = product.kit.read_time_minutes
    since_start = read_time.minutes_since_start(test, taken)
    from_sample = test.sample_applied_at is not None
    if from_sample and (held := read_time.too_early(window, since_start)) is not None:
        raise held  # without a sample time the window is a guess: flagged, not held
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
        minutes_after_sample=round(since_start, 2) if from_sample else None,
        read_time_flag=read_time.flag(window, since_start),
    )
    session.add(upload)
    lifecycle.photo_received(test)
    session.flush()
    record(session, user, "upload", "upload", upload.id, test=test.id, flag=upload.read_time_flag)
    after_commit(session, partial(enqueue, ctx, upload.id))
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
    try:
        worker.app.send_task(READ_UPLOAD, args=[upload_id])
    except Exception:  # a broker outage must not fail the upload: the sweep queues it again
        log.exception("could not queue upload %s; the sweep will retry", upload_id)


def process_upload(ctx: AppContext, upload_id: int) -> str:
    """Read one upload and keep the proposal. Safe to run twice or concurrently.

    Returns ``"proposed"``, ``"skipped"`` (already read), ``"missing"`` or ``"failed"``
    (logged; left without a proposal, so the sweep queues it again).
    """
    return process_uploads(ctx, [upload_id])[upload_id]


# At most this many uploads are read by one task, the one it was queued for and others
# already waiting (``api.worker.take_waiting``): the first photo's proposal waits for the
# others' reads (about 30 ms each) before the batch is written back.
READ_BATCH = 8


@dataclass(frozen=True)
class _Read:
    """A photo read and checked, waiting to be written back (``_write_back``)."""

    upload_id: int
    test_id: int
    reading: Reading
    status: str
    issues: list[dict[str, str]]
    explanation: dict[str, Any] | None
    check: unit_check.UnitCheck | None
    decoded: str | None
    photo: bytes
    kit: Kit
    challenger: BandModel | None
    seconds: float
    cpu_seconds: float


def process_uploads(ctx: AppContext, upload_ids: Sequence[int]) -> dict[int, str]:
    """Read several uploads and keep their proposals; each one's outcome, as
    ``process_upload`` gives it.

    The inputs come in one query and the proposals are written back in one transaction (one
    commit, one take of the audit chain's lock): each statement is a round trip paid by the
    worker, and with several photos waiting most are paid once for all. Each photo keeps
    what one photo has: its own proposal and audit entries, its test moved only if still
    waiting for this photo. A photo that cannot be read fails alone; if the transaction
    fails (a proposal kept meanwhile by another run of the same upload, one photo's data
    refused), each photo is written back in a transaction of its own. A lost database
    connection (``OperationalError``) is raised: it is no photo's fault, the task retries.
    """
    outcomes: dict[int, str] = {}
    to_read = []
    # One query for the inputs, the models' files included, with no transaction around it
    # (on PostgreSQL: no BEGIN and ROLLBACK).
    with ctx.database.reads() as session:
        found = queries.reading_inputs(session, upload_ids, BAND_MODEL)
        for upload_id in dict.fromkeys(upload_ids):  # queued twice (the sweep): read once
            inputs = found.get(upload_id)
            if inputs is None:
                outcomes[upload_id] = "missing"
            elif inputs.read_before:
                outcomes[upload_id] = "skipped"
            else:
                kit = kit_of(ctx, inputs.product)
                # The database's champion reads (the shipped model when there is none yet);
                # a challenger, if named, reads the same photo afterwards, in the shadow.
                models = model_registry.runtime_models(session, named=inputs.models)
                to_read.append((upload_id, inputs, kit, *models))
    reads = []
    for upload_id, inputs, kit, champion, challenger in to_read:
        try:
            reads.append(_read(ctx, upload_id, inputs, kit, champion, challenger))
        except Exception:  # this photo only: the sweep queues it again
            log.exception("could not read upload %s; the sweep will retry", upload_id)
            outcomes[upload_id] = "failed"
    return outcomes | _keep(ctx, reads)


def _read(
    ctx: AppContext,
    upload_id: int,
    inputs: queries.ReadingInputs,
    kit: Kit,
    champion: BandModel | None,
    challenger: BandModel | None,
) -> _Read:
    """Read one photo and check its unit; no transaction is open meanwhile (on SQLite one
    would hold the write lock)."""
    photo = ctx.photos.get(inputs.photo_sha256)
    started, cpu_started = time.perf_counter(), time.process_time()
    reading = ctx.vision.read(photo, kit, band_model=champion)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    explanation = keep_explanation(ctx, reading, kit, photo)
    check, decoded = unit_check.code_check(kit, reading.code, inputs.unit_code)
    status = reading.status
    issues = [{"code": i.code, "message": i.message} for i in reading.issues]
    if check == "other_unit" and decoded is not None:
        # Refused whatever it shows: the result would be another unit's.
        status = "retake"
        issues = [
            {
                "code": "other_unit",
                "message": unit_check.other_unit_message(decoded, inputs.unit_code),
            }
        ]
    return _Read(
        upload_id,
        inputs.test_id,
        reading,
        status,
        issues,
        explanation,
        check,
        decoded,
        photo,
        kit,
        challenger,
        seconds,
        cpu_seconds,
    )


def _keep(ctx: AppContext, reads: list[_Read]) -> dict[int, str]:
    """Write ``reads`` back together or, if that fails, each by itself; their outcomes."""
    if not reads:
        return {}
    try:
        proposals = _write_back(ctx, reads)
    except OperationalError:
        raise  # the database, not a photo: the task's retry redoes them all
    except Exception as error:
        if len(reads) > 1:  # the photo at fault fails alone
            return {k: v for read in reads for k, v in _keep(ctx, [read]).items()}
        if isinstance(error, IntegrityError):
            return {reads[0].upload_id: "skipped"}  # another run kept its proposal first
        log.exception("could not keep the reading of upload %s", reads[0].upload_id)
        return {reads[0].upload_id: "failed"}
    for read, proposal in zip(reads, proposals, strict=True):
        # Counted once, when kept.
        observe_reading(proposal.status, proposal.result, read.seconds, read.cpu_seconds)
        if read.challenger is not None:
            shadow.read_beside(
                ctx, proposal.id, read.reading, read.photo, read.kit, read.challenger
            )
    return {read.upload_id: "proposed" for read in reads}


def _write_back(ctx: AppContext, reads: list[_Read]) -> list[Proposal]:
    """Keep each read's proposal, its test's new state and their audit entries, in one
    transaction; the proposals, in the order of ``reads``."""
    with ctx.database.session() as session:
        # The write-back commits without waiting for the disk (PostgreSQL: ~0.4 ms here, more
        # on slower disks, per transaction and worker). What a server crash can lose of it is
        # recomputed from the stored photo: the upload, committed durably before it was
        # queued, is left without a proposal, and the sweep queues it again. The WAL is
        # written in order, so any later durable commit (a clinician's review of this
        # proposal, the next audit entry, a shadow reading) makes this one durable too: no
        # kept row can name a lost one. Every other transaction commits synchronously.
        queries.commit_without_waiting(session)
        queries.set_photo_dhashes(
            session, {read.upload_id: read.reading.photo_hash for read in reads}
        )
        tests = queries.tests_and_latest_uploads(session, {read.test_id for read in reads})
        # Looked up before any proposal is added (a query would flush each by itself). The
        # photos written back together see each other's hashes: the same photo sent for two
        # tests flags both.
        same_photo = unit_check.same_photo_tests(
            session, [(read.test_id, read.reading.photo_hash) for read in reads]
        )
        proposals = []
        for read, other_test in zip(reads, same_photo, strict=True):
            proposal = Proposal(
                upload_id=read.upload_id,
                self_test_id=read.test_id,
                status=read.status,
                # by_eye keeps the model's best attempt, shown as a hint only
                result=read.reading.result if read.status in lifecycle.READABLE else None,
                confidence=float(read.reading.confidence),
                model_version=read.reading.model,
                reading=read.reading.to_json(),
                issues=read.issues,
                explanation=read.explanation,
                unit_check=read.check,
                same_photo_test_id=other_test,
            )
            # An older upload's late reading must not override a newer photo's state, nor
            # may a reading finished after the test was withdrawn move it.
            test, latest_id = tests[read.test_id]
            if latest_id == read.upload_id and test.status == TestStatus.reading:
                lifecycle.proposed(test, proposal)  # before the insert: one statement, not two
            session.add(proposal)
            proposals.append(proposal)
        session.flush()  # one INSERT for all: their ids, for the audit entries
        for read, proposal in zip(reads, proposals, strict=True):
            record(
                session,
                None,
                "proposal",
                "proposal",
                proposal.id,
                upload=read.upload_id,
                status=proposal.status,
                result=proposal.result,
                model=proposal.model_version,
            )
            audit_unit(session, proposal, read.decoded)
        session.commit()
    return proposals


def unit_code_of(session: Session, test: SelfTest) -> str:
    unit = session.get(Unit, test.unit_id)
    assert unit is not None
    return unit.code


def audit_unit(session: Session, proposal: Proposal, decoded: str | None) -> None:
    """Each doubt about the unit goes to the audit log, with the test it concerns."""
    test_id, upload_id = proposal.self_test_id, proposal.upload_id
    if proposal.unit_check == "other_unit":
        record(session, None, "wrong_unit", "upload", upload_id, test=test_id, code=decoded)
    elif proposal.unit_check == "no_code":
        record(session, None, "unit_unverified", "upload", upload_id, test=test_id)
    if proposal.same_photo_test_id is not None:
        record(
            session,
            None,
            "same_photo",
            "upload",
            upload_id,
            test=test_id,
            other_test=proposal.same_photo_test_id,
        )


def keep_explanation(
    ctx: AppContext, reading: Reading, kit: Kit, photo: bytes
) -> dict[str, Any] | None:
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
    box = None if found.homography is None else window_box(kit, found.homography, photo)
    return {
        "window_sha256": window_sha,
        "window_size": window_size,
        "window_box": box,
        "profile": profile,
        "lines": lines,
        "locator": found.locator,
        "px_per_mm": None if found.px_per_mm is None else round(float(found.px_per_mm), 3),
    }


def window_box(kit: Kit, homography: np.ndarray, photo: bytes) -> list[float] | None:
    """Where the result window is in the upright photo, as fractions of its width and height
    ``[left, top, right, bottom]``: the review page zooms the photo toward it. Fractions, not
    pixels, so that it holds for the photo as the browser shows it (HEIC re-encoded)."""
    from pipeline.decode import PhotoError, probe
    from pipeline.rectify import window_corners

    try:
        info = probe(photo)
    except PhotoError:
        return None
    corners = window_corners(kit, homography)
    xs, ys = corners[:, 0] / info.width, corners[:, 1] / info.height
    box = (xs.min(), ys.min(), xs.max(), ys.max())
    return [round(min(max(float(v), 0.0), 1.0), 4) for v in box]


def sweep(ctx: AppContext, older_than: timedelta | None = None) -> list[int]:
    """Queue again every upload left without a proposal for ``older_than``; returns their ids."""
    if older_than is None:
        older_than = timedelta(seconds=ctx.settings.sweep_after_seconds)
    now = utcnow()
    with ctx.database.transaction() as session:
        stuck = queries.stuck_uploads(session, now - older_than)
        ids = []
        for upload in stuck:
            upload.queued_at = now
            upload.attempts += 1
            ids.append(upload.id)
            after_commit(session, partial(enqueue, ctx, upload.id))
        if ids:
            record(session, None, "sweep", "upload", ",".join(map(str, ids))[:64], count=len(ids))
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
        "minutes_after_sample": upload.minutes_after_sample,
        "read_time_flag": upload.read_time_flag,
        "test_status": test.status,
        "proposal_status": proposal.status if proposal else None,
        "retake_reasons": reasons,
    }


def latest_upload(session: Session, test_id: int) -> Upload | None:
    return test_queries.latest_upload(session, test_id)


def export_readings(session: Session, after_id: int | None, limit: int) -> list[ReadingRecord]:
    """Proposals with their deciding reading, for model monitoring (no personal data)."""
    rows = queries.proposals_with_reviews(session, after_id, limit)
    flags = queries.read_time_flags(session, [p.upload_id for p, _r in rows])
    return [
        ReadingRecord(
            proposal_id=p.id,
            upload_id=p.upload_id,
            model_version=p.model_version,
            status=p.status,
            proposed_result=p.result,
            confidence=p.confidence,
            reviewed_decision=r.decision if r else None,
            reviewed_result=r.result if r else None,
            read_time_flag=flags.get(p.upload_id),
            unit_check=p.unit_check,
            reading=p.reading,
            created_at=p.created_at,
        )
        for p, r in rows
    ]
