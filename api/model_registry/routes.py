"""The model registry for data scientists (thin: the service does the work)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Response, UploadFile, status
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from api.deps import DataScientist, SessionDep
from api.errors import InvalidError
from api.model_registry import service, shadow
from api.model_registry.schemas import (
    AliasChangeOut,
    ModelVersionOut,
    PromoteIn,
    ReasonIn,
    ShadowOut,
    VersionRegister,
)
from api.pagination import Page, PagerDep

router = APIRouter(prefix="/models", tags=["models"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such model version"}}


@router.get(
    "/versions", response_model=Page[ModelVersionOut], summary="Model versions, oldest first"
)
def list_versions(
    session: SessionDep, _user: DataScientist, page: PagerDep, name: str | None = None
) -> Page[ModelVersionOut]:
    rows = service.list_versions(session, name, page.window)
    return page.page(rows, lambda v: (v.created_at, v.id))


@router.post(
    "/versions",
    response_model=ModelVersionOut,
    status_code=status.HTTP_201_CREATED,
    summary="Register an ONNX band model with its metrics and provenance",
    responses={
        409: {"description": "the file or the version is already registered"},
        413: {"description": "the file is too large"},
        422: {"description": "not a usable band model, or bad metadata"},
    },
)
def register(
    session: SessionDep,
    user: DataScientist,
    file: Annotated[UploadFile, File(description="the ONNX file")],
    metadata: Annotated[str, Form(description="VersionRegister as JSON")] = "{}",
) -> ModelVersionOut:
    try:
        body = VersionRegister.model_validate(json.loads(metadata))
    except (ValueError, ValidationError) as exc:
        raise InvalidError(f"metadata: {exc}"[:500]) from None
    out = service.register(session, user, file.file.read(service.MAX_MODEL_BYTES + 1), body)
    return out


@router.get(
    "/versions/{version_id}",
    response_model=ModelVersionOut,
    summary="One model version",
    responses=NOT_FOUND,
)
def get_version(session: SessionDep, _user: DataScientist, version_id: str) -> ModelVersionOut:
    return service.version_out(session, version_id)


@router.get(
    "/versions/{version_id}/file",
    summary="The version's ONNX file",
    response_class=Response,
    responses={**NOT_FOUND, 200: {"content": {"application/octet-stream": {}}}},
)
def version_file(session: SessionDep, _user: DataScientist, version_id: str) -> Response:
    name, data = service.version_file(session, version_id)
    headers = {"Content-Disposition": f'attachment; filename="{name}.onnx"'}
    return Response(data, media_type="application/octet-stream", headers=headers)


@router.post(
    "/versions/{version_id}/promotion",
    response_model=AliasChangeOut,
    status_code=status.HTTP_201_CREATED,
    summary="Make this version the champion, if the safety rule allows (recorded either way)",
    responses={
        **NOT_FOUND,
        409: {
            "description": "refused by the safety rule (the decision says why), or already "
            "the champion"
        },
        422: {"description": "no evaluation, or one of other files"},
    },
)
def promote(
    session: SessionDep, user: DataScientist, version_id: str, body: PromoteIn
) -> AliasChangeOut | JSONResponse:
    # A refused attempt is recorded too: the answer is a 409 document, not a raised error,
    # so the request's session commits the record.
    out = service.promote(session, user, version_id, body)
    if out.accepted:
        return out
    return JSONResponse(
        {
            "type": "about:blank",
            "title": "Promotion refused",
            "status": 409,
            "detail": (out.decision or {}).get("summary", "refused"),
            "change": out.model_dump(mode="json"),
        },
        status_code=409,
        media_type="application/problem+json",
    )


@router.post(
    "/versions/{version_id}/challenger",
    response_model=AliasChangeOut,
    summary="Make this version the challenger (runs beside the champion, never shown)",
    responses=NOT_FOUND,
)
def set_challenger(
    session: SessionDep, user: DataScientist, version_id: str, body: ReasonIn
) -> AliasChangeOut:
    out = service.set_challenger(session, user, version_id, body.reason)
    return out


@router.get(
    "/shadow",
    response_model=Page[ShadowOut],
    summary="The challenger's shadow readings where it disagrees with the champion (newest "
    "first); all=true for every one",
)
def shadow_readings(
    session: SessionDep, _user: DataScientist, page: PagerDep, all: bool = False
) -> Page[ShadowOut]:
    rows = shadow.readings(session, page.window, disagreeing_only=not all)
    return page.page(rows, lambda r: (r.id,))


@router.post(
    "/{name}/rollback",
    response_model=AliasChangeOut,
    summary="Make the previous champion the champion again",
    responses={409: {"description": "no champion, or none before it"}},
)
def rollback(session: SessionDep, user: DataScientist, name: str, body: ReasonIn) -> AliasChangeOut:
    out = service.rollback(session, user, name, body.reason)
    return out


@router.get(
    "/{name}/history",
    response_model=Page[AliasChangeOut],
    summary="Every change of the aliases, refused promotions included (newest first)",
)
def history(
    session: SessionDep, _user: DataScientist, page: PagerDep, name: str
) -> Page[AliasChangeOut]:
    return page.listed(service.history(session, name))
