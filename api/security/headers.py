"""Response headers every answer carries: no caching of API data, no sniffing, HSTS.

API answers hold positives, personal data and photos: ``Cache-Control: no-store`` keeps
them out of shared and browser caches unless a route chose its own policy (a page's
thumbnail). ``X-Content-Type-Options: nosniff`` on everything stops a browser from
running an upload it was told is an image. HSTS is sent only when the public URL is
https, since a browser remembers it for a year.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HSTS = "max-age=31536000; includeSubDomains"


class SecurityHeaders:
    """Pure ASGI middleware (streams such as the event stream pass through unbuffered)."""

    def __init__(self, app: ASGIApp, *, api_prefix: str, https: bool) -> None:
        self.app = app
        self.api_prefix = api_prefix
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_api = str(scope.get("path", "")).startswith(self.api_prefix + "/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                if is_api:
                    headers.setdefault("Cache-Control", "no-store")
                if self.https:
                    headers.setdefault("Strict-Transport-Security", HSTS)
            await send(message)

        await self.app(scope, receive, with_headers)
