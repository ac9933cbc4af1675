"""One cursor pagination for every list the API answers.

A list route takes ``limit`` and ``cursor`` (the ``Pager`` dependency) and answers a
``Page``: ``items``, ``has_more`` and ``next_cursor``, with the next page's URL also in an
RFC 8288 ``Link: <...>; rel="next"`` header. A page is a keyset window: the rows after
the last one shown, in the list's order (``Window.apply`` on a query, ``Window.take`` on
a list held in memory), so rows added meanwhile neither repeat nor go missing.

A cursor is the position of the last row shown (its sort key), sealed with AES-GCM under
a key derived from ``SECRET_KEY`` and bound to the route: clients cannot read ids out of
it, forge one or carry one to another list. A cursor that does not open is a 422
problem document (``invalid_cursor``).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar
from urllib.parse import urlencode

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastapi import Depends, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import Select, tuple_
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.elements import ColumnElement

from api.errors import InvalidError
from api.public_ids import keys

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

T = TypeVar("T")
R = TypeVar("R")
SelectT = TypeVar("SelectT", bound=Select[*tuple[Any, ...]])
# The sort key of a row: ids, codes, times (as the list orders them).
Position = tuple[Any, ...]


class InvalidCursorError(InvalidError):
    code = "invalid_cursor"


class Page(BaseModel, Generic[T]):
    """One page of a list; ask for the next with ``cursor=next_cursor``."""

    items: list[T]
    has_more: bool = Field(description="more items follow this page")
    next_cursor: str | None = Field(
        description="pass as cursor for the next page (on a polled feed's last page: for "
        "what comes later)"
    )


@dataclass(frozen=True)
class Window:
    """Where a page starts (``after`` the last row shown) and how many rows to fetch:
    one more than the page shows, to know whether more follow."""

    after: Position | None
    size: int | None

    def apply(
        self,
        query: SelectT,
        *columns: ColumnElement[Any] | QueryableAttribute[Any],
        descending: bool = False,
    ) -> SelectT:
        """``query`` ordered by ``columns`` (the last one unique), from after ``after``."""
        key = tuple_(*columns) if len(columns) > 1 else columns[0]
        query = query.order_by(*(c.desc() if descending else c.asc() for c in columns))
        if self.after is not None:
            # A plain tuple: each value is bound with its column's type (times on SQLite).
            after = tuple(self.after) if len(columns) > 1 else self.after[0]
            query = query.where(key < after if descending else key > after)
        return query if self.size is None else query.limit(self.size)

    def take(self, items: Sequence[T], position: Callable[[T], Position]) -> list[T]:
        """The window over ``items`` held in memory, already in ``position`` order."""
        start = 0
        if self.after is not None:
            start = next(
                (i for i, item in enumerate(items) if position(item) > self.after), len(items)
            )
        return list(items[start:] if self.size is None else items[start : start + self.size])


# The whole list, in its order (pages and services that want every row).
ALL = Window(None, None)


def _dump(value: Any) -> Any:
    return {"dt": value.isoformat()} if isinstance(value, datetime) else value


def _load(value: Any) -> Any:
    return datetime.fromisoformat(value["dt"]) if isinstance(value, dict) else value


def seal(route: str, position: Position) -> str:
    """The cursor for the rows after ``position`` on ``route``."""
    nonce = os.urandom(12)
    plain = json.dumps([_dump(v) for v in position], separators=(",", ":")).encode()
    sealed = AESGCM(keys().cursors).encrypt(nonce, plain, route.encode())
    return base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")


def open_cursor(route: str, cursor: str) -> Position:
    """The position sealed in ``cursor`` for ``route`` (``InvalidCursorError`` if it is not one)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        plain = AESGCM(keys().cursors).decrypt(raw[:12], raw[12:], route.encode())
        values = json.loads(plain)
    except (binascii.Error, ValueError, InvalidTag):
        raise InvalidCursorError("the cursor is not one this list gave out") from None
    return tuple(_load(v) for v in values)


class Pager:
    """The page a list request asks for; builds the answer and its ``Link`` header."""

    def __init__(self, request: Request, response: Response, limit: int, cursor: str | None):
        self.limit = limit
        self._request = request
        self._response = response
        self._route = request.url.path
        self.after = open_cursor(self._route, cursor) if cursor else None

    @property
    def window(self) -> Window:
        return Window(self.after, self.limit + 1)

    def after_value(self) -> Any:
        """The one sort key of the last row shown, for lists ordered by one column."""
        return self.after[0] if self.after else None

    def page(
        self,
        rows: Sequence[R],
        position: Callable[[R], Position],
        item: Callable[[R], T] | None = None,
        *,
        feed: bool = False,
    ) -> Page[T]:
        """The page of ``rows`` (fetched through ``window``: up to ``limit + 1``).

        ``feed``: a list that grows at its end and is polled (events, reports, readings):
        its last page gives a ``next_cursor`` too, to ask later for what came since."""
        shown = list(rows[: self.limit])
        has_more = len(rows) > self.limit
        resume = has_more or (feed and bool(shown))
        next_cursor = seal(self._route, position(shown[-1])) if resume else None
        if has_more and next_cursor is not None:
            query = [(k, v) for k, v in self._request.query_params.multi_items() if k != "cursor"]
            query.append(("cursor", next_cursor))
            self._response.headers["Link"] = f'<{self._route}?{urlencode(query)}>; rel="next"'
        items = [item(r) for r in shown] if item else shown
        return Page(items=items, has_more=has_more, next_cursor=next_cursor)

    def listed(self, items: Sequence[T]) -> Page[T]:
        """The page of a short list held in memory (regions, a result's versions), by
        position: such lists change rarely, and only at their end."""
        numbered = self.window.take(list(enumerate(items)), _index)
        return self.page(numbered, _index, lambda n: n[1])


def _index(numbered: tuple[int, Any]) -> Position:
    return (numbered[0],)


def pager(
    request: Request,
    response: Response,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="at most this many items per page")
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(max_length=1000, description="next_cursor of the previous page (opaque)"),
    ] = None,
) -> Pager:
    return Pager(request, response, limit, cursor)


PagerDep = Annotated[Pager, Depends(pager)]
