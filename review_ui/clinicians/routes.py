"""The clinicians' review queue, one item with its explanation, decisions by key, statistics."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Form, Query, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from api.accounts.schemas import Principal
from api.audit.service import record
from api.batches.tables import Batch
from api.context import AppContext
from api.deps import CtxDep, SessionDep
from api.errors import ConflictError, DomainError, InvalidError, NotFoundError
from api.products.tables import Product
from api.public_ids import PROPOSAL, ProposalPath, decode, encode
from api.reviews import queries as review_queries
from api.reviews import service as reviews
from api.reviews.queries import QueueFilter
from api.reviews.schemas import ReviewIn
from api.scope import Scope, scope_for
from api.selftests.tables import Proposal, Upload
from api.units.service import interpretation
from review_ui.clinicians import views
from review_ui.session import ClinicianPage, page_router
from review_ui.templating import render

router = page_router(tags=["pages"])

DEFAULT_GRACE_SECONDS = 15.0
RESULTS = ("positive", "negative", "invalid")
BROWSER_IMAGES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"})


def grace_seconds(request: Request) -> float:
    """How long a decision stays undoable (``create_app(review_grace_seconds=...)``)."""
    return float(getattr(request.app.state, "review_grace_seconds", DEFAULT_GRACE_SECONDS))


class Filters:
    """The queue filters from the query string; unknown values are ignored, not refused."""

    def __init__(
        self,
        result: str | None = None,
        confidence: str | None = None,
        age: str | None = None,
        stage: str | None = None,
    ) -> None:
        self.result = result if result in RESULTS else None
        self.confidence = confidence if confidence in ("low", "high") else None
        ages = {str(minutes) for minutes, _ in views.AGE_FILTERS}
        self.age = int(age) if age in ages else None
        self.stage = int(stage) if stage in ("1", "2") else None

    @classmethod
    def from_query(cls, request: Request) -> Filters:
        q = request.query_params
        return cls(q.get("result"), q.get("confidence"), q.get("age"), q.get("stage"))

    @classmethod
    def from_string(cls, text: str) -> Filters:
        from urllib.parse import parse_qs

        q = {k: v[-1] for k, v in parse_qs(text).items()}
        return cls(q.get("result"), q.get("confidence"), q.get("age"), q.get("stage"))

    def query(self) -> QueueFilter:
        older = datetime.now(UTC) - timedelta(minutes=self.age) if self.age else None
        return QueueFilter(
            result=self.result, confidence=self.confidence, older_than=older, stage=self.stage
        )

    def params(self) -> dict[str, str]:
        values = {
            "result": self.result,
            "confidence": self.confidence,
            "age": self.age,
            "stage": self.stage,
        }
        return {k: str(v) for k, v in values.items() if v is not None}

    def qs(self, **extra: Any) -> str:
        params = self.params() | {k: str(v) for k, v in extra.items() if v is not None}
        return urlencode(params)

    def active(self) -> bool:
        return bool(self.params())


def _scope(session: Session, ctx: AppContext, user: Principal) -> Scope:
    return scope_for(session, ctx, user)


def pending_undo(session: Session, user: Principal) -> dict[str, Any] | None:
    """The clinician's last decision while it can still be undone."""
    review = review_queries.last_review_by(session, user.id)
    if review is None or review.settled_at is not None:
        return None
    left = (review.settles_at - datetime.now(UTC)).total_seconds()
    if left <= 0:
        return None
    if review.decision == "retake":
        said = "asked for a new photo"
    elif review.decision == "confirm":
        said = f"confirmed {review.result}"
    else:
        said = f"changed the result to {review.result}"
    return {"proposal_id": review.proposal_id, "said": said, "seconds_left": int(left + 0.999)}


def _error(request: Request, user: Principal, exc: DomainError, **extra: Any) -> Response:
    titles = {404: "Not found", 403: "Not in your region", 409: "This item has moved on"}
    return render(
        request,
        "clinicians/gone.html",
        {
            "title": titles.get(exc.status_code, "Cannot do that"),
            "message": exc.detail[:1].upper() + exc.detail[1:],
            **extra,
        },
        user=user,
        status_code=exc.status_code,
    )


# The queue ---------------------------------------------------------------------


@router.get("/review")
def queue_page(
    request: Request, session: SessionDep, ctx: CtxDep, user: ClinicianPage, page: int = 1
) -> Response:
    filters = Filters.from_query(request)
    scope = _scope(session, ctx, user)
    counts = reviews.counts(session, scope, user, filters.query())
    everything = reviews.counts(session, scope, user) if filters.active() else counts
    paging = views.page_numbers(counts.total, page)
    offset = (int(paging["page"] or 1) - 1) * views.PAGE_SIZE
    items = reviews.queue(
        session, scope, user, filters.query(), limit=views.PAGE_SIZE, offset=offset
    )
    region_names = {code: ctx.regions.name(code) for code in {i.region_code for i in items}}
    context = {
        "counts": counts,
        "everything": everything,
        "items": items,
        "region_names": region_names,
        "paging": paging,
        "filters": filters,
        "age_filters": views.AGE_FILTERS,
        "undo": pending_undo(session, user),
        "message": request.query_params.get("message"),
    }
    template = "clinicians/queue.html"
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "queue-region":
        template = "clinicians/_queue_region.html"
    return render(request, template, context, user=user)


@router.get("/review/next")
def next_page(
    request: Request,
    session: SessionDep,
    ctx: CtxDep,
    user: ClinicianPage,
    after: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """The next item to read: the most urgent, or the one after ``after`` (skip)."""
    filters = Filters.from_query(request)
    scope = _scope(session, ctx, user)
    number = decode(PROPOSAL, after) if after else None
    current = session.get(Proposal, number) if number is not None else None
    found = reviews.next_item(session, scope, user, filters.query(), after=current)
    if found is None and current is not None:
        # Skipped past the end: start again from the top (the skipped ones are still there).
        found = reviews.next_item(session, scope, user, filters.query())
        if found is not None and found.id == current.id:
            found = None
    if found is None:
        message = "Nothing left to read" + (" with these filters." if filters.active() else ".")
        return RedirectResponse(f"/review?{filters.qs(message=message)}", status_code=303)
    query = filters.qs()
    return RedirectResponse(
        f"/review/items/{encode(PROPOSAL, found.id)}" + (f"?{query}" if query else ""),
        status_code=303,
    )


# One item ----------------------------------------------------------------------


def _item_context(
    request: Request, session: Session, ctx: AppContext, user: Principal, proposal_id: int
) -> dict[str, Any]:
    scope = _scope(session, ctx, user)
    proposal, test = reviews.awaiting_reader(session, scope, user, proposal_id)
    upload = session.get(Upload, proposal.upload_id)
    product = session.get(Product, test.product_id)
    batch = session.get(Batch, test.batch_id)
    assert upload is not None
    assert product is not None
    assert batch is not None
    kit = product.kit
    reading = proposal.reading or {}
    explained = views.explain(
        kit,
        reading,
        proposal.explanation,
        f"/review/items/{encode(PROPOSAL, proposal.id)}/window.png",
    )
    filters = Filters.from_query(request)
    counts = reviews.counts(session, scope, user, filters.query())
    quality = (reading.get("quality") or {}).get("issues") or []
    return {
        "proposal": proposal,
        "test": test,
        "upload": upload,
        "product": product,
        "batch": batch,
        "kit": kit,
        "reading": reading,
        "analytes": reading.get("analytes") or {},
        "quality": quality,
        "explained": explained,
        "rules": interpretation(kit).rules,
        "read_time": views.read_time_note(
            upload.read_time_flag, upload.minutes_after_claim, kit.read_time_minutes
        ),
        "region": ctx.regions.name(test.region_code),
        "urgent": reviews.is_urgent(proposal),
        "earlier": reviews.earlier_readings(session, proposal),
        "round": proposal.review_stage or 1,
        "counts": counts,
        "filters": filters,
        "filters_qs": filters.qs(),
        "opened_at": request.query_params.get("opened_at") or f"{time.time():.3f}",
        "undo": pending_undo(session, user),
        "change_reasons": views.CHANGE_REASONS,
        "retake_reasons": views.RETAKE_REASONS,
        "results": RESULTS,
    }


@router.get("/review/items/{proposal_id}")
def item_page(
    request: Request,
    session: SessionDep,
    ctx: CtxDep,
    user: ClinicianPage,
    proposal_id: ProposalPath,
) -> Response:
    try:
        context = _item_context(request, session, ctx, user, proposal_id)
    except DomainError as exc:
        return _error(request, user, exc, filters_qs=Filters.from_query(request).qs())
    return render(request, "clinicians/item.html", context, user=user)


@router.get("/review/items/{proposal_id}/change")
def change_page(
    request: Request,
    session: SessionDep,
    ctx: CtxDep,
    user: ClinicianPage,
    proposal_id: ProposalPath,
    to: str = "",
) -> Response:
    """Changing the model's result (or asking for a retake) asks for a reason."""
    try:
        context = _item_context(request, session, ctx, user, proposal_id)
    except DomainError as exc:
        return _error(request, user, exc, filters_qs=Filters.from_query(request).qs())
    proposal = context["proposal"]
    if to == "retake":
        choice = "retake"
    elif to in RESULTS and to != proposal.result:
        choice = to
    else:
        query = context["filters_qs"]
        return RedirectResponse(
            f"/review/items/{encode(PROPOSAL, proposal_id)}" + (f"?{query}" if query else ""),
            status_code=303,
        )
    context |= {"choice": choice, "error": None, "reason": "", "details": ""}
    return render(request, "clinicians/change.html", context, user=user)


@router.post("/review/items/{proposal_id}/decision")
def decide_page(
    request: Request,
    session: SessionDep,
    ctx: CtxDep,
    user: ClinicianPage,
    proposal_id: ProposalPath,
    choice: Annotated[str, Form(max_length=10)],
    round: Annotated[int | None, Form(ge=1, le=3)] = None,
    reason: Annotated[str, Form(max_length=500)] = "",
    details: Annotated[str, Form(max_length=1500)] = "",
    opened_at: Annotated[float | None, Form()] = None,
    filters: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    chosen = Filters.from_string(filters)
    proposal = session.get(Proposal, proposal_id)
    if proposal is None:
        return _error(request, user, NotFoundError(f"no proposal with id {proposal_id}"))
    text = " ".join(part.strip() for part in (reason, details) if part.strip()) or None
    if choice == "confirm" or (choice in RESULTS and choice == proposal.result):
        body = ReviewIn(decision="confirm", round=round)
    elif choice in RESULTS:
        body = ReviewIn(decision="change", result=choice, reason=text, round=round)
    elif choice == "retake":
        body = ReviewIn(decision="retake", reason=text, round=round)
    else:
        return _error(request, user, InvalidError(f"unknown decision '{choice}'"))
    body.hold_seconds = grace_seconds(request)
    if opened_at is not None:
        body.seconds_spent = max(0.0, time.time() - opened_at)
    scope = _scope(session, ctx, user)
    try:
        with session.begin_nested():  # a refusal undoes what the action wrote
            reviews.decide(session, ctx, user, scope, proposal_id, body)
    except InvalidError as exc:
        try:
            context = _item_context(request, session, ctx, user, proposal_id)
        except DomainError as gone:
            return _error(request, user, gone, filters_qs=chosen.qs())
        context |= {
            "choice": choice,
            "error": exc.detail.split(": ", 1)[-1].capitalize(),
            "reason": reason,
            "details": details,
            "filters": chosen,
            "filters_qs": chosen.qs(),
        }
        return render(request, "clinicians/change.html", context, user=user, status_code=422)
    except DomainError as exc:
        return _error(request, user, exc, filters_qs=chosen.qs())
    query = chosen.qs()
    return RedirectResponse("/review/next" + (f"?{query}" if query else ""), status_code=303)


@router.post("/review/undo")
def undo_page(
    request: Request,
    session: SessionDep,
    ctx: CtxDep,
    user: ClinicianPage,
    filters: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    chosen = Filters.from_string(filters)
    try:
        with session.begin_nested():  # a refusal undoes what the action wrote
            undone = reviews.undo_last(session, ctx, user)
    except ConflictError as exc:
        return _error(request, user, exc, filters_qs=chosen.qs())
    query = chosen.qs()
    return RedirectResponse(
        f"/review/items/{encode(PROPOSAL, undone.proposal_id)}" + (f"?{query}" if query else ""),
        status_code=303,
    )


# Pictures ------------------------------------------------------------------------


def _visible_proposal(
    session: Session, ctx: AppContext, user: Principal, proposal_id: int
) -> tuple[Proposal, Upload]:
    proposal = session.get(Proposal, proposal_id)
    if proposal is None:
        raise NotFoundError(f"no proposal with id {proposal_id}")
    upload = session.get(Upload, proposal.upload_id)
    from api.selftests.tables import SelfTest

    test = session.get(SelfTest, proposal.self_test_id)
    assert upload is not None
    assert test is not None
    _scope(session, ctx, user).check(test.region_code, "this test")
    return proposal, upload


IMAGE_HEADERS = {"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"}


@router.get("/review/items/{proposal_id}/photo")
def item_photo(
    request: Request,
    session: SessionDep,
    ctx: CtxDep,
    user: ClinicianPage,
    proposal_id: ProposalPath,
) -> Response:
    try:
        _proposal, upload = _visible_proposal(session, ctx, user, proposal_id)
    except DomainError as exc:
        return Response(exc.detail, status_code=exc.status_code, media_type="text/plain")
    record(session, user, "view_photo", "upload", upload.id, via="page")
    data = ctx.photos.get(upload.photo_sha256)
    media_type = upload.content_type
    if media_type not in BROWSER_IMAGES:
        data, media_type = _as_jpeg(ctx, data), "image/jpeg"
    return Response(data, media_type=media_type, headers=IMAGE_HEADERS)


def _as_jpeg(ctx: AppContext, data: bytes) -> bytes:
    """HEIC and other formats browsers cannot show, re-encoded (upright) as JPEG."""
    import cv2

    ok, jpeg = cv2.imencode(".jpg", ctx.vision.decode_photo(data), [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise InvalidError("photo: cannot be shown")
    return bytes(jpeg.tobytes())


@router.get("/review/items/{proposal_id}/window.png")
def item_window(
    request: Request,
    session: SessionDep,
    ctx: CtxDep,
    user: ClinicianPage,
    proposal_id: ProposalPath,
) -> Response:
    try:
        proposal, _upload = _visible_proposal(session, ctx, user, proposal_id)
    except DomainError as exc:
        return Response(exc.detail, status_code=exc.status_code, media_type="text/plain")
    sha = (proposal.explanation or {}).get("window_sha256")
    if not sha or not ctx.photos.exists(sha):
        return Response("no window image for this reading", status_code=404)
    return Response(ctx.photos.get(sha), media_type="image/png", headers=IMAGE_HEADERS)


# Statistics ------------------------------------------------------------------------


@router.get("/review/stats")
def stats_page(
    request: Request, session: SessionDep, user: ClinicianPage, days: int = 30
) -> Response:
    days = days if days in (1, 7, 30, 90, 365) else 30
    stats = reviews.reviewer_stats(session, user, datetime.now(UTC) - timedelta(days=days))
    return render(
        request,
        "clinicians/stats.html",
        {"stats": stats, "days": days, "periods": (1, 7, 30, 90, 365)},
        user=user,
    )
