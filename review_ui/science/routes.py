"""The data scientists' pages (read-only): the registry, the challenger's disagreements with
the photos, and drift per product and lot.

Everything comes from the services the JSON API uses (``api.model_registry``,
``api.datasets``); promotion and rollback stay with the API and ``vigil models``,
where the reason and the evaluation are given.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import Query, Request
from starlette.responses import Response

from api.datasets import drift as drift_service
from api.deps import CtxDep, SessionDep
from api.errors import DomainError
from api.model_registry import service as registry
from api.model_registry import shadow
from api.pagination import Window
from api.public_ids import ShadowPath
from review_ui.images import IMAGE_HEADERS, image_response
from review_ui.session import ScientistPage, page_router
from review_ui.templating import render

router = page_router(prefix="/science", tags=["science pages"])

MODEL = "band-classifier"
SHOWN = 100


@router.get("")
def overview(request: Request, session: SessionDep, user: ScientistPage) -> Response:
    versions = registry.list_versions(session, MODEL)
    return render(
        request,
        "science/overview.html",
        {
            "versions": versions,
            "champion": next((v for v in versions if "champion" in v.aliases), None),
            "challenger": next((v for v in versions if "challenger" in v.aliases), None),
            "history": registry.history(session, MODEL)[:20],
            "shadow_counts": shadow.counts(session),
        },
        user=user,
    )


@router.get("/shadow")
def shadow_page(
    request: Request, session: SessionDep, user: ScientistPage, all: bool = False
) -> Response:
    return render(
        request,
        "science/shadow.html",
        {
            "readings": shadow.readings(session, Window(None, SHOWN), disagreeing_only=not all),
            "counts": shadow.counts(session),
            "all": all,
        },
        user=user,
    )


@router.get("/shadow/{shadow_id}/photo")
def shadow_photo(
    session: SessionDep, ctx: CtxDep, _user: ScientistPage, shadow_id: ShadowPath
) -> Response:
    try:
        data, media_type = shadow.shadow_image(session, ctx, shadow_id, "photo")
    except DomainError as exc:
        return Response(exc.detail, status_code=exc.status_code, media_type="text/plain")
    return image_response(ctx, data, media_type)


@router.get("/shadow/{shadow_id}/window.png")
def shadow_window(
    session: SessionDep, ctx: CtxDep, _user: ScientistPage, shadow_id: ShadowPath
) -> Response:
    try:
        data, media_type = shadow.shadow_image(session, ctx, shadow_id, "window")
    except DomainError as exc:
        return Response(exc.detail, status_code=exc.status_code, media_type="text/plain")
    return Response(data, media_type=media_type, headers=IMAGE_HEADERS)


@router.get("/drift")
def drift_page(
    request: Request,
    session: SessionDep,
    user: ScientistPage,
    weeks: Annotated[int, Query(ge=1, le=104)] = 12,
) -> Response:
    since: date = datetime.now(UTC).date() - timedelta(weeks=weeks)
    report = drift_service.drift(session, since)
    return render(
        request,
        "science/drift.html",
        {"report": report, "weeks": weeks, "rules": drift_service.RULES},
        user=user,
    )
