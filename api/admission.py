"""Admission: at most so many requests of one server process at work at once.

A request's database work runs on anyio's worker threads, and the request keeps its
pooled connection from its first query (in a dependency, on one thread) until its
session ends (on another). When more requests start than there are connections,
threads block waiting for a connection while the requests that hold every connection
wait for a thread: a burst of 120 uploads to two API processes stalled all of them
until the pool's timeout. Requests past the limit wait here instead, before anything
of theirs runs, holding neither a thread nor a connection. Event streams are exempt:
they stay open for hours and take a connection only for each short poll.
"""

from __future__ import annotations

import anyio
from starlette.types import ASGIApp, Receive, Scope, Send

from api.db.session import POOL_CONNECTIONS

#: Requests at work at once: the pool less a margin for the process's own background
#: loops (settling reviews, sweeping, event polls), which take connections too.
ADMITTED = POOL_CONNECTIONS - 8


class AdmissionLimit:
    """ASGI middleware letting at most ``limit`` HTTP requests in at once, in arrival order."""

    def __init__(self, app: ASGIApp, limit: int = ADMITTED) -> None:
        self.app = app
        self.limit = limit
        self._slots: anyio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].endswith("/stream"):
            await self.app(scope, receive, send)
            return
        if self._slots is None:  # made inside the server's event loop
            self._slots = anyio.Semaphore(self.limit, fast_acquire=True)
        async with self._slots:
            await self.app(scope, receive, send)
