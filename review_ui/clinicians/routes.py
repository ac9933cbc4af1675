"""The clinicians' review queue, one item with its explanation, decisions by key, statistics."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, cast
from urllib.parse import urlencode

from fastapi import Form, Query, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from api.accounts.schemas import Principal
from api.audit.service import record
from api.context import AppContext
from api.deps import CtxDep, SessionDep
from api.errors import ConflictError, DomainError, InvalidError, NotFoundError
from api.public_ids import PROPOSAL, TEST, USER, ProposalPath, decode, encode
from api.reviews import items as review_items
from api.reviews import service as reviews
from api.reviews.schemas import Result, ReviewIn
from api.reviews.service import QueueFilter
from api.scope import Scope, scope_for
from api.units.service import interpretation
from review_ui.clinicians import views
from review_ui.images import IMAGE_HEADERS, image_response
from review_ui.session import ClinicianPage, OperatorPage, page_router
from review_ui.templating import render

router = page_router(tags=["pages"])

DEFAULT_GRACE_SECONDS = 15.0
RESULTS = ("positive", "negative", "invalid")


def grace_seconds(request: Request) -> float:
    """How long a decision stays undoable (``create_app(review_grace_seconds=...)``)."""
    return float(getattr(request.app.state, "review_grace_seconds", DEFAULT_GRACE_SECONDS))


def grace(request: Request) -> timedelta:
    """The same, for a gold-standard reading: it is held (and undoable) like a real one."""
    return timedelta(seconds=grace_seconds(request))


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
        session,
        scope,
        user,
        filters.query(),
        limit=views.PAGE_SIZE,
        offset=offset,
        blind_setting=ctx.settings.blind_second_reader,
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
        "urgent_rule": reviews.POLICY.urgent_rule(),
        "undo": review_items.undoable(session, user, grace(request)),
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
    try:
        current = review_items.proposal_of(session, number) if number is not None else None
    except NotFoundError:
        current = None
    found = reviews.next_item(session, scope, user, filters.query(), after=current)
    if found is None and current is not None:
        # Skipped past the end: start again from the top (the skipped ones are still there).
        found = reviews.next_item(session, scope, user, filters.query())
        if found is not None and found.id == current.id:
            found = None
    # A gold-standard item comes in its turn, as if proposed when it was seeded (not again
    # straight after it was skipped).
    skipped_gold = current is not None and reviews.gold_waiting(session, scope, user, current.id)
    gold = None if skipped_gold else reviews.gold_waiting(session, scope, user)
    chosen = found.id if found is not None else None
    if gold is not None and (
        found is None or (not reviews.is_urgent(found) and gold.created_at <= found.created_at)
    ):
        chosen = gold.proposal_id
    if chosen is None:
        message = "Nothing left to read" + (" with these filters." if filters.active() else ".")
        return RedirectResponse(f"/review?{filters.qs(message=message)}", status_code=303)
    query = filters.qs()
    return RedirectResponse(
        f"/review/items/{encode(PROPOSAL, chosen)}" + (f"?{query}" if query else ""),
        status_code=303,
    )


# One item ----------------------------------------------------------------------


def _item_context(
    request: Request, session: Session, ctx: AppContext, user: Principal, proposal_id: int
) -> dict[str, Any]:
    scope = _scope(session, ctx, user)
    item = review_items.review_item(
        session, scope, user, proposal_id, ctx.settings.blind_second_reader
    )
    proposal, test, product = item.proposal, item.test, item.product
    kit = product.kit
    # A blind reader sees the photo and the measured profile, not what the model made of them.
    reading = {} if item.blind else (proposal.reading or {})
    kept = views.without_findings(proposal.explanation) if item.blind else proposal.explanation
    window_url = f"/review/items/{encode(PROPOSAL, proposal.id)}/window.png"
    explained = views.explain(kit, reading, kept, window_url)
    filters = Filters.from_query(request)
    counts = reviews.counts(session, scope, user, filters.query())
    quality = (reading.get("quality") or {}).get("issues") or []
    return {
        "proposal": proposal,
        "test": test,
        "upload": item.upload,
        "product": product,
        "batch": item.batch,
        "blind": item.blind,
        "unit_code": item.unit_code,
        "kit": kit,
        "reading": reading,
        "analytes": reading.get("analytes") or {},
        "quality": quality,
        "explained": explained,
        "rules": interpretation(kit).rules,
        "read_time": item.read_time,
        "read_time_error": None,
        "region": ctx.regions.name(test.region_code),
        "urgent": not item.gold and reviews.is_urgent(proposal),
        "urgent_rule": reviews.POLICY.urgent_rule(),
        "low_confidence": reviews.POLICY.low_confidence,
        # Where the window is in the photo: the viewer zooms toward it.
        "window_box": (proposal.explanation or {}).get("window_box"),
        "earlier": reviews.earlier_readings(session, proposal) if item.round == 3 else [],
        "round": item.round,
        "counts": counts,
        "filters": filters,
        "filters_qs": filters.qs(),
        "opened_at": request.query_params.get("opened_at") or f"{time.time():.3f}",
        "undo": review_items.undoable(session, user, grace(request)),
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
    read_time_ok: Annotated[str, Form(max_length=1)] = "",
    blind: Annotated[str, Form(max_length=1)] = "",
) -> Response:
    chosen = Filters.from_string(filters)
    try:
        proposal = review_items.proposal_of(session, proposal_id)
    except NotFoundError as exc:
        return _error(request, user, exc)
    text = " ".join(part.strip() for part in (reason, details) if part.strip()) or None
    timing_ok = read_time_ok == "1"
    if choice in RESULTS and blind:
        # A blind reader gives the result they read; the server compares it with the model's.
        body = ReviewIn(decision="confirm", result=choice, round=round, read_time_ok=timing_ok)
    elif choice == "confirm" or (choice in RESULTS and choice == proposal.result):
        body = ReviewIn(decision="confirm", round=round, read_time_ok=timing_ok)
    elif choice in RESULTS:
        body = ReviewIn(
            decision="change", result=choice, reason=text, round=round, read_time_ok=timing_ok
        )
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
            gold = reviews.gold_waiting(session, scope, user, proposal_id)
            if gold is not None:
                reviews.read_gold(session, user, gold, body)  # scored, never released
            else:
                reviews.decide(session, ctx, user, scope, proposal_id, body)
    except InvalidError as exc:
        try:
            context = _item_context(request, session, ctx, user, proposal_id)
        except DomainError as gone:
            return _error(request, user, gone, filters_qs=chosen.qs())
        if exc.detail.startswith("read_time_ok: "):
            # Back to the item: the timing is confirmed by its own key there.
            context["read_time_error"] = exc.detail.split(": ", 1)[1].capitalize() + "."
            return render(request, "clinicians/item.html", context, user=user, status_code=422)
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
    # On to the item after this one: the one the page fetched beforehand (review.js).
    query = chosen.qs(after=encode(PROPOSAL, proposal_id))
    return RedirectResponse(f"/review/next?{query}", status_code=303)


@router.post("/review/undo")
def undo_page(
    request: Request,
    session: SessionDep,
    user: ClinicianPage,
    filters: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    chosen = Filters.from_string(filters)
    try:
        with session.begin_nested():  # a refusal undoes what the action wrote
            undone = reviews.withdraw_last(session, user, grace(request))
    except ConflictError as exc:
        return _error(request, user, exc, filters_qs=chosen.qs())
    query = chosen.qs()
    return RedirectResponse(
        f"/review/items/{encode(PROPOSAL, undone.proposal_id)}" + (f"?{query}" if query else ""),
        status_code=303,
    )


# Pictures ------------------------------------------------------------------------


@router.get("/review/items/{proposal_id}/photo")
def item_photo(
    request: Request,
    session: SessionDep,
    ctx: CtxDep,
    user: ClinicianPage,
    proposal_id: ProposalPath,
) -> Response:
    try:
        _proposal, upload = review_items.visible_proposal(
            session, _scope(session, ctx, user), proposal_id
        )
    except DomainError as exc:
        return Response(exc.detail, status_code=exc.status_code, media_type="text/plain")
    record(session, user, "view_photo", "upload", upload.id, via="page")
    data = ctx.photos.get(upload.photo_sha256)
    return image_response(ctx, data, upload.content_type)


@router.get("/review/items/{proposal_id}/window.png")
def item_window(
    request: Request,
    session: SessionDep,
    ctx: CtxDep,
    user: ClinicianPage,
    proposal_id: ProposalPath,
) -> Response:
    try:
        proposal, _upload = review_items.visible_proposal(
            session, _scope(session, ctx, user), proposal_id
        )
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


# The readers' lead (an operator) ----------------------------------------------------------

PERIODS = (1, 7, 30, 90, 365)


def _team(
    request: Request, session: Session, user: Principal, *, status_code: int = 200, **extra: Any
) -> Response:
    days = request.query_params.get("days", "30")
    days_n = int(days) if days in {str(p) for p in PERIODS} else 30
    after = request.query_params.get("after")
    after_id = decode(USER, after) if after else None
    rows = reviews.team_stats(
        session,
        datetime.now(UTC) - timedelta(days=days_n),
        after_id=after_id,
        limit=views.PAGE_SIZE + 1,
    )
    more = len(rows) > views.PAGE_SIZE
    rows = rows[: views.PAGE_SIZE]
    context = {
        "rows": rows,
        "days": days_n,
        "periods": PERIODS,
        "next_after": encode(USER, rows[-1].reviewer_id) if more else None,
        "policy": reviews.POLICY,
        "message": request.query_params.get("message"),
        "error": None,
        "results": RESULTS,
        "test_ref": "",
        "known": "",
    } | extra
    return render(request, "clinicians/team.html", context, user=user, status_code=status_code)


@router.get("/review/team")
def team_page(request: Request, session: SessionDep, user: OperatorPage) -> Response:
    """Each clinician's speed, agreement and gold scores, with warnings, for their lead."""
    return _team(request, session, user)


@router.post("/review/team/gold")
def seed_gold_page(
    request: Request,
    session: SessionDep,
    user: OperatorPage,
    test_ref: Annotated[str, Form(max_length=64)] = "",
    known: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    test_id = decode(TEST, test_ref.strip())
    try:
        if test_id is None:
            raise InvalidError("test: give the test's id as shown on its pages (tst_…)")
        if known not in RESULTS:
            raise InvalidError("known result: choose positive, negative or invalid")
        with session.begin_nested():  # a refusal undoes what the action wrote
            reviews.seed_gold(session, user, test_id, cast(Result, known))
    except DomainError as exc:
        return _team(
            request,
            session,
            user,
            status_code=exc.status_code,
            error=exc.detail.split(": ", 1)[-1].capitalize() + ".",
            test_ref=test_ref,
            known=known,
        )
    message = f"Seeded: test {test_ref.strip()} comes back to its region's readers, known {known}."
    return RedirectResponse(f"/review/team?{urlencode({'message': message})}", status_code=303)
