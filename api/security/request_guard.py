"""Refuse hostile request shapes before a route or the database sees them.

Two layers, each a 4xx problem document instead of a 500 further down:

- :class:`BodyGuard`, an ASGI middleware: a body larger than the limit is refused
  from its ``Content-Length`` before a byte is read, and a streamed body is counted
  as it arrives (413); a JSON body is checked for depth (``json_guard``) before
  FastAPI parses it, whose parser would otherwise fail on 100,000 levels with a 400.
- :func:`refuse_hostile_values`, a router dependency run after routing: NUL characters
  anywhere in path, query, form or JSON strings (PostgreSQL refuses them in text, so
  they would be a 500 there and pass on SQLite), identifiers beyond 64 bits in any
  ``id`` or ``*_id`` parameter (every database integer column is 64-bit at most),
  and ``NaN``/``Infinity`` in JSON numbers (Python's parser accepts them). All 422.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import InvalidError, problem_response
from api.security.json_guard import JsonShapeError, check_json_shape

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


class BodyGuard:
    """Limit request bodies to ``max_bytes`` before reading them; check JSON depth.

    Raising :class:`~starlette.exceptions.HTTPException` from ``receive`` is what
    FastAPI passes on unchanged while it reads a body (any other error there becomes
    a 400), so an over-long stream ends as a 413 problem document.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, max_json_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_json_bytes = max_json_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        is_json = b"json" in headers.get(b"content-type", b"").split(b";")[0]
        limit = self.max_json_bytes if is_json else self.max_bytes
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            response = problem_response(413, "too_large", _too_large(limit))
            await response(scope, receive, send)
            return
        await self.app(scope, _counted(receive, limit, is_json), send)


def _counted(receive: Receive, limit: int, is_json: bool) -> Receive:
    seen = 0
    json_body = bytearray()

    async def guarded() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] != "http.request":
            return message
        chunk = message.get("body", b"")
        seen += len(chunk)
        if seen > limit:
            raise HTTPException(413, _too_large(limit))
        if is_json:
            json_body.extend(chunk)
            if not message.get("more_body", False):
                try:
                    check_json_shape(bytes(json_body), max_bytes=limit)
                except JsonShapeError as exc:
                    raise HTTPException(422, str(exc)) from None
        return message

    return guarded


def _too_large(limit: int) -> str:
    return f"the request body is larger than {limit:,} bytes"


async def refuse_hostile_values(request: Request) -> None:
    """Router dependency: 422 for NUL characters, over-long ids and non-finite numbers."""
    for name, value in request.path_params.items():
        _check_parameter(f"path.{name}", name, str(value))
    for name, value in request.query_params.multi_items():
        _check_parameter(f"query.{name}", name, value)
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if "json" in content_type:
        try:
            body = await request.json()  # cached: FastAPI reads the same parsed body
        except ValueError:
            return  # not JSON: the route's own validation answers
        _check_json("body", None, body)
    elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form()  # cached likewise
        for name, item in form.multi_items():
            if not isinstance(item, UploadFile):
                _check_parameter(f"body.{name}", name, item)


def _is_id(name: str | None) -> bool:
    return name is not None and (name == "id" or name.endswith("_id"))


def _check_parameter(path: str, name: str, value: str) -> None:
    if "\x00" in value or "\x00" in name:
        raise InvalidError(f"{path}: must not contain NUL characters")
    digits = value.strip().lstrip("+-")
    if _is_id(name) and digits.isascii() and digits.isdigit():
        _check_int(path, int(value))


def _check_int(path: str, value: int) -> None:
    if not INT64_MIN <= value <= INT64_MAX:
        raise InvalidError(f"{path}: out of range (a 64-bit integer)")


def _check_json(path: str, name: str | None, value: Any) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidError(f"{path}: must not contain NUL characters")
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        if _is_id(name):
            _check_int(path, value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidError(f"{path}: must be a finite number")
    elif isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                raise InvalidError(f"{path}: keys must not contain NUL characters")
            _check_json(f"{path}.{key}", key, item)
    elif isinstance(value, list):
        _check_items(path, name, value)


def _check_items(path: str, name: str | None, items: Iterable[Any]) -> None:
    # A list under ``*_ids`` holds ids too.
    item_name = name[:-1] if name is not None and name.endswith("_ids") else None
    for index, item in enumerate(items):
        _check_json(f"{path}.{index}", item_name, item)
