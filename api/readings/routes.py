from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, File, Form, Header, Query, Response, UploadFile, status

from api.accounts.tables import Role
from api.audit.service import record
from api.deps import (
    CtxDep,
    DataScientist,
    Operator,
    PatientUser,
    ScopeDep,
    SessionDep,
    TestViewer,
)
from api.errors import NotFoundError
from api.pagination import Page, PagerDep
from api.patients.service import get_test
from api.public_ids import UPLOAD, TestPath, UploadPath, encode
from api.readings import service
from api.readings.schemas import ReadingRecord, SweepOut, UploadOut
from api.selftests.tables import Upload
from api.uploads import read_limited

router = APIRouter(tags=["readings"])


@router.post(
    "/tests/{test_id}/photos",
    response_model=UploadOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Step 7: upload the photo of the used test (multipart; safe to retry)",
    responses={200: {"model": UploadOut, "description": "a retry: the first upload"}},
)
def upload_photo(
    session: SessionDep,
    ctx: CtxDep,
    user: PatientUser,
    test_id: TestPath,
    response: Response,
    photo: Annotated[UploadFile, File(description="JPEG, PNG, WebP or HEIC photo")],
    taken_at: Annotated[
        datetime | None, Form(description="when the photo was taken (default: now)")
    ] = None,
    idempotency_key: Annotated[
        str | None,
        Header(min_length=8, max_length=200, description="same key = same upload, on retry"),
    ] = None,
) -> UploadOut:
    """The photo is stored and committed, then its reading is queued. The answer shows the
    upload as committed (``reading``); follow ``Location`` for the pipeline's proposal (a
    retake comes with its reasons)."""
    data = read_limited(photo, ctx.settings.max_upload_bytes, "photo")
    upload, created = service.upload_photo(
        session, ctx, user, test_id, data, idempotency_key=idempotency_key, taken_at=taken_at
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/api/uploads/{encode(UPLOAD, upload.id)}"
    return UploadOut(**service.upload_view(session, upload))


def _upload(session: SessionDep, user: object, scope: ScopeDep, upload_id: int) -> Upload:
    upload = session.get(Upload, upload_id)
    if upload is None:
        raise NotFoundError("no such upload")
    get_test(session, user, scope, upload.self_test_id)  # type: ignore[arg-type]
    return upload


@router.get("/uploads/{upload_id}", response_model=UploadOut, summary="An upload and its state")
def get_upload(
    session: SessionDep, user: TestViewer, scope: ScopeDep, upload_id: UploadPath
) -> UploadOut:
    return UploadOut(**service.upload_view(session, _upload(session, user, scope, upload_id)))


@router.get("/uploads/{upload_id}/photo", response_class=Response, summary="The photo of an upload")
def get_photo(
    session: SessionDep, ctx: CtxDep, user: TestViewer, scope: ScopeDep, upload_id: UploadPath
) -> Response:
    upload = _upload(session, user, scope, upload_id)
    if user.role != Role.patient:
        record(session, user, "view_photo", "upload", upload.id)
    return Response(ctx.photos.get(upload.photo_sha256), media_type=upload.content_type)


@router.post(
    "/readings/sweep",
    response_model=SweepOut,
    summary="Queue again the uploads left without a proposal (also runs periodically)",
)
def sweep(
    ctx: CtxDep,
    _operator: Operator,
    # At most ten years: a larger one overflowed ``timedelta`` (a 500 the fuzzer found).
    older_than_seconds: Annotated[int | None, Query(ge=0, le=10 * 366 * 24 * 3600)] = None,
) -> SweepOut:
    older = timedelta(seconds=older_than_seconds) if older_than_seconds is not None else None
    return SweepOut(requeued=service.sweep(ctx, older))


@router.get(
    "/readings/export",
    response_model=Page[ReadingRecord],
    summary="Proposals with the clinicians' decisions, for model monitoring (no personal data)",
)
def export_readings(
    session: SessionDep, _user: DataScientist, page: PagerDep
) -> Page[ReadingRecord]:
    rows = service.export_readings(session, page.after_value(), page.limit + 1)
    return page.page(rows, lambda r: (r.proposal_id,), feed=True)
