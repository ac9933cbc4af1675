"""The pages' language and time zone: English or Simplified Chinese, in the reader's zone.

The language comes from the ``vigil_lang`` cookie (set by the switch in the page header,
``/language/{lang}``), else from the browser's ``Accept-Language``; the zone from the
``vigil_tz`` cookie (``static/i18n.js`` writes the browser's zone there), else from the
region file (the ``timezone`` property of the national region), else UTC.

Translations are the ``.po`` files under ``review_ui/locales`` (edited by hand, kept in
the repository as text), compiled in memory when first used. ``gettext`` and friends
read the request's choice from a context variable that :class:`LocaleMiddleware` sets,
so the words of route code and of templates follow the same choice.
"""

from __future__ import annotations

import gettext as gettext_module
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.dates import format_date, format_time, get_datetime_format
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from fastapi import Request
from starlette.requests import cookie_parser
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from review_ui.session import page_router, safe_next

LOCALES = Path(__file__).resolve().parent / "locales"
LANG_COOKIE = "vigil_lang"
TZ_COOKIE = "vigil_tz"
# Language tag (``<html lang>``, cookie, switch) -> the catalogue's folder and its name in itself.
LANGUAGES: dict[str, tuple[str, str]] = {"en": ("en", "English"), "zh-CN": ("zh_CN", "简体中文")}
DEFAULT_LANGUAGE = "en"
ONE_YEAR_S = 365 * 24 * 3600


@dataclass(frozen=True)
class PageLocale:
    """One request's language (a tag of :data:`LANGUAGES`) and time zone."""

    lang: str
    zone: ZoneInfo

    @property
    def babel(self) -> Locale:
        return Locale.parse(LANGUAGES[self.lang][0])


_current: ContextVar[PageLocale | None] = ContextVar("page_locale", default=None)
# Outside a request (a task, a doctest): English, UTC.
_FALLBACK = PageLocale(DEFAULT_LANGUAGE, ZoneInfo("UTC"))


def current() -> PageLocale:
    return _current.get() or _FALLBACK


@cache
def translations(lang: str) -> gettext_module.NullTranslations:
    """The catalogue of ``lang`` compiled from its ``.po`` file (English: the message ids)."""
    folder = LANGUAGES[lang][0]
    po = LOCALES / folder / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return gettext_module.NullTranslations()
    with po.open("rb") as file:
        catalog = read_po(file, locale=folder)
    compiled = BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled)


def gettext(message: str) -> str:
    return translations(current().lang).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current().lang).ngettext(singular, plural, n)


def N_(message: str) -> str:  # noqa: N802  (the name extraction tools look for)
    """Marks a message for the catalogue where it is defined; translate it where it is shown."""
    return message


_ = gettext


def choose_language(cookie: str | None, accept_language: str | None) -> str:
    """The cookie's language if it is one we have, else the browser's first we have.

    >>> choose_language(None, "zh-CN,zh;q=0.9,en;q=0.8"), choose_language(None, "fr, en;q=0.5")
    ('zh-CN', 'en')
    >>> choose_language("en", "zh"), choose_language(None, "zh-TW"), choose_language(None, None)
    ('en', 'zh-CN', 'en')
    """
    if cookie in LANGUAGES:
        return cookie
    ranked = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _sep, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            ranked.append((-quality, position, tag.strip().lower()))
    for _q, _p, tag in sorted(ranked):
        # Any Chinese the browser asks for gets the Simplified pages: the only Chinese we have.
        primary = tag.split("-")[0]
        if primary == "zh":
            return "zh-CN"
        if primary == "en":
            return "en"
    return DEFAULT_LANGUAGE


def zone_named(name: str | None) -> ZoneInfo | None:
    """The IANA zone ``name`` (e.g. ``Asia/Shanghai``), or ``None`` if there is no such zone."""
    if not name or len(name) > 64 or ".." in name or name.startswith("/"):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def region_zone(regions: Any, code: str | None = None) -> ZoneInfo:
    """The ``timezone`` property of region ``code`` or its nearest ancestor that has one
    (no code: of the national regions), else UTC."""
    if regions is None:
        return ZoneInfo("UTC")
    for candidate in up_the_tree(regions, code):
        zone = zone_named(regions.region(candidate).extra.get("timezone"))
        if zone is not None:
            return zone
    return ZoneInfo("UTC")


def up_the_tree(regions: Any, code: str | None) -> list[str]:
    """Region ``code``, its parent, ... the national region; then every national region
    (where no region is known, the country's settings apply)."""
    codes = list(regions.lineage(code)) if code and code in regions else []
    return codes + [c for c in regions.codes() if regions.parent(c) is None and c not in codes]


def local_time(value: datetime | None) -> str:
    """``value`` in the reader's zone, written the reader's way, with the zone's offset.

    >>> token = _current.set(PageLocale("zh-CN", ZoneInfo("Asia/Shanghai")))
    >>> local_time(datetime(2026, 3, 1, 6, 5, tzinfo=UTC))
    '2026年3月1日 14:05 (GMT+08:00)'
    >>> _current.reset(token)
    >>> local_time(datetime(2026, 3, 1, 6, 5, tzinfo=UTC))
    'Mar 1, 2026, 6:05\\u202fAM (GMT+00:00)'
    """
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    now = current()
    local = value.astimezone(now.zone)
    # The locale's own date, hour cycle (12 h in English, 24 h in Chinese) and joining.
    day = format_date(local, "medium", locale=now.babel)
    hour = format_time(local, "short", tzinfo=now.zone, locale=now.babel)
    offset = format_time(local, "ZZZZ", tzinfo=now.zone, locale=now.babel)
    joined = str(get_datetime_format("medium", locale=now.babel)).format(hour, day)
    return f"{joined} ({offset})"


def _cookie(scope: Scope, name: str) -> str | None:
    header = _header(scope, b"cookie")
    return cookie_parser(header).get(name) if header else None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class LocaleMiddleware:
    """Sets the request's :class:`PageLocale` for everything that runs for it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        lang = choose_language(_cookie(scope, LANG_COOKIE), _header(scope, b"accept-language"))
        zone = zone_named(_cookie(scope, TZ_COOKIE))
        if zone is None:
            app_state = getattr(scope.get("app"), "state", None)
            ctx = getattr(app_state, "ctx", None)
            zone = region_zone(getattr(ctx, "regions", None))
        token = _current.set(PageLocale(lang, zone))
        try:
            await self.app(scope, receive, send)
        finally:
            _current.reset(token)


router = page_router(tags=["pages"])


@router.get("/language/{lang}")
def switch_language(request: Request, lang: str, next: str = "/") -> Response:
    """The switch in the page header: remember the language, back to the same page."""
    response = RedirectResponse(safe_next(next) or "/", status_code=303)
    if lang in LANGUAGES:
        response.set_cookie(
            LANG_COOKIE,
            lang,
            max_age=ONE_YEAR_S,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
    return response


def switch_links(here: str) -> list[dict[str, str]]:
    """The header's language links, each back to the page ``here`` (a path and query)."""
    return [
        {
            "lang": lang,
            "name": name,
            "href": f"/language/{lang}?{urlencode({'next': here})}",
            "current": "true" if lang == current().lang else "",
        }
        for lang, (_folder, name) in LANGUAGES.items()
    ]
