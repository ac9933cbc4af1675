"""Jinja2 rendering for every page: the layout's globals, CSRF, security headers."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse

from api import public_ids
from api.accounts.schemas import Principal
from review_ui import i18n
from review_ui.nav import nav_for
from review_ui.session import CSRF_FIELD, CSRF_HEADER, attach_csrf_cookie, csrf_token, home_for

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

# Scripts only from this site (no inline script, no eval); styles may be inline
# (server-rendered SVG charts use style attributes).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    # Pages show personal and medical data: never keep them in shared caches.
    "Cache-Control": "no-store",
}


@cache
def _static_version(path: str) -> str:
    file = STATIC / path
    try:
        return hashlib.sha256(file.read_bytes()).hexdigest()[:12]
    except OSError:
        return "0"


def static_url(path: str) -> str:
    """``/static/<path>`` with a content hash, so browsers never run stale scripts."""
    return f"/static/{path}?v={_static_version(path)}"


def _local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime(fmt) + " UTC"


def _age(value: datetime | None) -> str:
    """'5 min', '3 h', '2 d' since ``value``."""
    if value is None:
        return ""
    seconds = max((datetime.now(UTC) - value).total_seconds(), 0)
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} d"


def confidence(value: float) -> str:
    """A probability as a percentage that never rounds to certainty: 0.9996 is "> 99.9%",
    not "100%" (a reviewer reads 100% as "cannot be wrong"), and 0.0004 is "< 0.1%".

    >>> confidence(0.9996), confidence(0.93), confidence(0.0004), confidence(1.0)
    ('> 99.9%', '93.0%', '< 0.1%', '100.0%')
    """
    percent = 100 * float(value)
    if 99.95 <= percent < 100:
        return "> 99.9%"
    if 0 < percent < 0.05:
        return "< 0.1%"
    return f"{percent:.1f}%"


templates = Jinja2Templates(directory=str(TEMPLATES))
templates.env.globals["static_url"] = static_url
templates.env.globals["CSRF_FIELD"] = CSRF_FIELD
templates.env.globals["CSRF_HEADER"] = CSRF_HEADER
templates.env.filters["utc"] = _local_time
# Links carry public ids, never record numbers: ``{{ test.id|public("tst") }}``.
templates.env.filters["public"] = lambda value, prefix: public_ids.encode(
    public_ids.KINDS[prefix], value
)
templates.env.filters["age"] = _age
templates.env.filters["pct"] = lambda v, digits=0: f"{100 * float(v):.{digits}f}%"
templates.env.filters["confidence"] = confidence
# Words in the reader's language ({{ _("...") }}, {% trans %}), times in their zone.
templates.env.add_extension("jinja2.ext.i18n")
templates.env.install_gettext_callables(  # type: ignore[attr-defined]
    i18n.gettext, i18n.ngettext, newstyle=True
)
templates.env.filters["localtime"] = i18n.local_time


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    user: Principal | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """Render ``template`` (a page or an htmx fragment) with the layout's globals.

    The context gets ``user``, ``nav`` (links for the user's role), ``home``
    and ``csrf_token``; the response gets the security headers and, before
    log-in, the cookie the CSRF token is bound to.
    """
    values: dict[str, Any] = {
        "user": user,
        "nav": nav_for(user),
        "home": home_for(user) if user is not None else "/login",
        "csrf_token": csrf_token(request),
        "current_path": request.url.path,
        "lang": i18n.current().lang,
    }
    values.update(context or {})
    # The language switch comes back to this page: a form's answer (a POST) names the page
    # to come back to as ``here``, else the switch leads to the reader's start page.
    here = values.get("here")
    if here is None:
        query = f"?{request.url.query}" if request.url.query else ""
        here = request.url.path + query if request.method == "GET" else values["home"]
    values["languages"] = i18n.switch_links(here)
    response = templates.TemplateResponse(
        request,
        template,
        values,
        status_code=status_code,
        headers={**PAGE_HEADERS, **(headers or {})},
    )
    attach_csrf_cookie(request, response)
    return response


def error_page(
    request: Request,
    message: str,
    *,
    user: Principal | None = None,
    status_code: int = 404,
    title: str | None = None,
) -> HTMLResponse:
    """The plain error page (``error.html``): a title (default "Not found", translated) and
    one message for the reader."""
    return render(
        request,
        "error.html",
        {"title": title or i18n.gettext("Not found"), "message": message},
        user=user,
        status_code=status_code,
    )
