"""Refused API requests (401, 403, 429) in the audit log: failed log-ins, probing, lock-outs.

A refused request changes nothing, so its own transaction is rolled back; this
middleware writes the entry afterwards in a transaction of its own. It names the route
template (``/api/tests/{test_id}``), never the path, query or body (which may hold kit
codes, user names or ID numbers), and the client address only as a keyed hash: enough
to see one address guessing, no personal data in clear.

A client refused many times would write as many entries (and take the audit chain's
lock each time), so per process each (action, route, address) is written at most once
a ``window_s`` for each status, with ``repeats`` counting the refusals folded into it.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.audit.service import record
from api.context import AppContext

log = logging.getLogger(__name__)

REFUSED = {401: "refused", 403: "refused", 429: "rate_limited"}
LOG_INS = ("/auth/token", "/auth/patient-token")
ADDRESS_PURPOSE = "audit:address"


class RefusalLog:
    """ASGI middleware recording the API's 401, 403 and 429 answers (see the module)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        ctx: AppContext,
        api_prefix: str,
        window_s: float = 60.0,
        max_keys: int = 10_000,
    ) -> None:
        self.app = app
        self.ctx = ctx
        self.api_prefix = api_prefix
        self.window_s = window_s
        self.max_keys = max_keys
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str, str], tuple[float, int]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.api_prefix):
            await self.app(scope, receive, send)
            return
        answered: dict[str, int] = {}

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered["status"] = message["status"]
            await send(message)

        await self.app(scope, receive, watch)
        status = answered.get("status")
        if status in REFUSED:
            await anyio.to_thread.run_sync(self._record, scope, status)

    def _record(self, scope: Scope, status: int) -> None:
        # FastAPI names the route as its domain router defined it, without the API prefix.
        route = getattr(scope.get("route"), "path_format", None) or "(no route)"
        if not route.startswith(self.api_prefix + "/"):
            route = self.api_prefix + route
        action = REFUSED[status]
        if status == 401 and route.endswith(LOG_INS):
            action = "log_in_failed"
        client = scope.get("client")
        address = self.ctx.cipher.lookup_hash(client[0] if client else "-", ADDRESS_PURPOSE)[:16]
        repeats = self._due((f"{action}:{status}", route, address))
        if repeats is None:
            return
        detail: dict[str, Any] = {"status": status, "method": scope["method"], "address": address}
        if repeats:
            detail["repeats"] = repeats
        try:
            with self.ctx.database.transaction() as session:
                record(session, None, action, "request", route[:64], **detail)
        except Exception as exc:  # the answer is sent already; the log must not fail it
            log.warning("could not record a refused request: %s", type(exc).__name__)

    def _due(self, key: tuple[str, str, str]) -> int | None:
        """``None`` if ``key`` was written within the window (counted), else the refusals
        folded since it last was."""
        now = time.monotonic()
        with self._lock:
            last = self._seen.get(key)
            if last is not None and now - last[0] < self.window_s:
                self._seen[key] = (last[0], last[1] + 1)
                return None
            if len(self._seen) >= self.max_keys:
                self._seen.clear()  # bounded memory; at worst a few extra entries
            self._seen[key] = (now, 0)
            return last[1] if last is not None else 0
