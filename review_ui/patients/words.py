"""What the patient's pages say, in plain words, in the reader's language.

Messages defined at import are marked with ``N_`` (for the catalogue) and translated
with ``_`` where they are shown; the API's own refusals (in English) are shown after a
translated sentence that says which field to check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from api.errors import DomainError
from api.reports.schemas import LinkedResult
from api.selftests.read_time import TooEarlyError
from review_ui.i18n import N_, _, ngettext, up_the_tree

if TYPE_CHECKING:
    from api.products.schemas import KitDescription

FIELD_NAMES = {
    "name": N_("Name"),
    "national_id": N_("National ID number"),
    "phone": N_("Phone number"),
    "email": N_("E-mail address"),
    "channel": N_("How we tell you"),
    "username": N_("User name"),
    "password": N_("Password"),
    "photo": N_("Photo"),
    "code": N_("Code"),
    "minutes_ago": N_("Minutes ago"),
    "one_time_code": N_("Code from the text message"),
    "applied_at": N_("Time the sample was added"),
}

STATUS = {
    "awaiting_photo": N_("Waiting for your photo"),
    "reading": N_("Reading your photo"),
    "retake": N_("A new photo is needed"),
    "in_review": N_("A clinician is checking your result"),
    "released": N_("Result ready"),
    "corrected": N_("Result corrected"),
    "withdrawn": N_("Withdrawn"),
}

# The channels a patient may choose for "your result is ready" (the outbox's channels).
CHANNELS = {"sms": N_("Text message (SMS)"), "email": N_("E-mail")}


def status(value: str) -> str:
    return _(STATUS[value]) if value in STATUS else value


def channel_name(channel: str) -> str:
    """The channel in words, for "we tell you by ..." (SMS by default)."""
    return {"email": _("e-mail"), "sms": _("text message")}.get(channel, _("text message"))


def field_name(field: str) -> str:
    return _(FIELD_NAMES[field]) if field in FIELD_NAMES else field


def validation_message(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    context = error.get("ctx") or {}
    field = (error.get("loc") or ("",))[0]
    if field == "email" and kind == "string_pattern_mismatch":
        return _("type an address like name@example.com")
    if field == "channel":
        return _("choose SMS or e-mail")
    if kind == "string_too_short":
        return _("use at least %(n)s characters") % {"n": context.get("min_length")}
    if kind == "string_too_long":
        return _("use at most %(n)s characters") % {"n": context.get("max_length")}
    if kind == "string_pattern_mismatch":
        return _("use letters, digits and signs without spaces")
    if kind == "missing":
        return _("fill this in")
    return str(error.get("msg", _("not valid"))).lower()


# What to check, per field, before the API's own words (which are English).
CHECK = {
    "national_id": N_("Check your ID number (18 characters, the last a digit or X)"),
    "phone": N_("Check your mobile phone number"),
    "email": N_("Check your e-mail address"),
    "username": N_("Choose another user name"),
    "password": N_("Choose a longer or less common password"),
    "name": N_("Type your name as on your ID card"),
}


# The API's refusals that are whole sentences (no value inside): the catalogue has them, so
# they show translated; others (with the value typed) follow the translated CHECK in English.
API_SENTENCES = (
    N_("give your e-mail address to be told by e-mail"),
    N_("must not be blank"),
    N_("no phone number given"),
    N_("extensions are not supported; give a direct number"),
    N_("no ID number given"),
    N_("15-digit IDs (first generation) are no longer valid; enter the 18-character ID"),
    N_("check digit does not match: a digit was mistyped or two digits were swapped"),
    N_("This is one of the most common passwords; choose another."),
    N_("This is too close to a commonly used password; choose another."),
    N_("This password is built from your own name or user name; choose another."),
)


def _explained(field: str, rest: str) -> str:
    return f"{_(CHECK[field])}: {_(rest)}" if field in CHECK else _(rest)


def field_error(detail: str) -> str:
    """``national_id: bad check digit`` -> ``National ID number: Check your ID number ...``."""
    field, sep, rest = detail.partition(": ")
    if sep and field in FIELD_NAMES:
        return f"{field_name(field)}: {_explained(field, rest)}"
    return detail[:1].upper() + detail[1:]


def field_errors(detail: str) -> dict[str, str]:
    """``national_id: bad check digit`` -> ``{"national_id": "Check ...: bad check digit"}``,
    for the mistake to show beside its field (``form`` when no field is named)."""
    field, sep, rest = detail.partition(": ")
    if sep and field in FIELD_NAMES:
        return {field: _explained(field, rest)}
    return {"form": detail[:1].upper() + detail[1:]}


def code_login_error(exc: DomainError) -> str:
    if exc.code == "one_time_code_required":
        return _("We sent a code by text message to the phone you registered: type it below.")
    if exc.status_code == 401:
        return _("This ID number did not start a test with this code. Check it and try again.")
    return field_error(exc.detail)


def claim_error(exc: DomainError) -> str:
    if exc.status_code == 404:
        return _("We do not know this code. Check it and type it again, or scan it again.")
    if exc.status_code == 422 and exc.detail.startswith("code: "):
        return _("This code is not right (%(why)s). Check it and type it again.") % {
            "why": exc.detail[6:]
        }
    if exc.status_code == 422 and "region" in exc.detail.lower():
        return _("Your location is outside the areas this service covers. Choose where you are.")
    if exc.status_code == 409 and "already been used" in exc.detail:
        return _("This code has already been used: a code serves one test only.")
    return field_error(exc.detail)


def upload_error(exc: DomainError) -> str:
    if isinstance(exc, TooEarlyError):
        minutes = ngettext("%(n)s more minute", "%(n)s more minutes", exc.wait_minutes) % {
            "n": exc.wait_minutes
        }
        return _(
            "It is too early to read your test: the lines may not have appeared yet. "
            "Wait %(minutes)s, then take the photo."
        ) % {"minutes": minutes}
    if exc.status_code == 415:
        return _("This file is not a photo we can read. Take the photo again (JPEG, PNG or HEIC).")
    if exc.status_code == 413:
        return _("The photo is too large. Take it again with the camera's normal settings.")
    if exc.detail.startswith("photo: take or choose"):
        return _("Take or choose a photo of your test first.")
    return field_error(exc.detail)


def steps(kit: KitDescription) -> list[str]:
    """How to do the test, from the kit's own reading time."""
    read_time = kit.read_time_minutes
    wait = (
        _("Wait %(min)s minutes. Read it before %(max)s minutes have passed.")
        % {"min": f"{read_time.min:g}", "max": f"{read_time.max:g}"}
        if read_time is not None and read_time.max is not None
        else _("Wait the time the leaflet says.")
    )
    return [
        _("Do the test as the leaflet in the box says, and add the sample."),
        _("As soon as the sample is on the test, press the button below: the timer starts."),
        wait,
        _("Put the test flat in good light. Take a photo of the whole test with its code."),
    ]


@dataclass(frozen=True)
class RegionAdvice:
    """What the health office of a region tells people who test positive.

    From the region file's properties (``isolation_days``, ``hotline``), the nearest
    region up the tree that sets each; without them the advice names neither.
    """

    isolation_days: int | None = None
    hotline: str | None = None

    @classmethod
    def of(cls, regions: Any, code: str | None) -> RegionAdvice:
        found: dict[str, Any] = {}
        for each in up_the_tree(regions, code):
            extra = regions.region(each).extra
            for key in ("isolation_days", "hotline"):
                if key not in found and extra.get(key) not in (None, ""):
                    found[key] = extra[key]
        days = found.get("isolation_days")
        return cls(
            isolation_days=days if isinstance(days, int) and days > 0 else None,
            hotline=str(found["hotline"]) if "hotline" in found else None,
        )


def positive_advice(advice: RegionAdvice) -> str:
    stay = (
        ngettext(
            "Stay at home for %(n)s day and avoid contact with others.",
            "Stay at home for %(n)s days and avoid contact with others.",
            advice.isolation_days,
        )
        % {"n": advice.isolation_days}
        if advice.isolation_days
        else _("Stay at home and avoid contact with others.")
    )
    call = (
        _("Questions? Call the health hotline %(hotline)s.") % {"hotline": advice.hotline}
        if advice.hotline
        else _("Questions? Call your local health office.")
    )
    told = _(
        "Your local health office has been told and may call you. "
        "If you feel very unwell, call a doctor."
    )
    return f"{stay} {told} {call}"


def result_words(
    result: str | None, kit: KitDescription, advice: RegionAdvice | None = None
) -> dict[str, str]:
    """Title, explanation and what to do, for a released result."""
    return item_result_words(result, kit.test_item.name, advice)


def item_result_words(
    result: str | None, item_name: str | None, advice: RegionAdvice | None = None
) -> dict[str, str]:
    """Title, explanation and what to do, for a released result of a test item."""
    item = item_name or _("The virus")
    if result == "positive":
        return {
            "kind": "positive",
            "title": _("Positive"),
            "text": _("%(item)s was found. A clinician has checked your photo.") % {"item": item},
            "advice": positive_advice(advice or RegionAdvice()),
        }
    if result == "negative":
        return {
            "kind": "negative",
            "title": _("Negative"),
            "text": _("%(item)s was not found. A clinician has checked your photo.")
            % {"item": item},
            "advice": _("If you still feel unwell, test again tomorrow or see a doctor."),
        }
    return {
        "kind": "invalid",
        "title": _("The test did not work"),
        "text": _("The control line did not appear, so this test cannot be read."),
        "advice": _("Use a new test and scan its code to start again."),
    }


def result_title(result: str | None) -> str:
    """The short word for a result, as the list of tests shows it."""
    return {"positive": _("Positive"), "negative": _("Negative")}.get(
        result or "", _("Not readable")
    )


def linked_result(opened: LinkedResult, advice: RegionAdvice | None = None) -> dict[str, str]:
    """What a result link shows: the result in words, and whether it was changed since."""
    if opened.status == "withdrawn":
        reason = f" ({opened.reason})." if opened.reason else "."
        return {
            "kind": "invalid",
            "title": _("This result was withdrawn"),
            "text": _("A clinician found that this result had been recorded in error") + reason,
            "advice": _("Use a new test and scan its code to start again."),
            "change": "",
        }
    meaning = item_result_words(opened.result, opened.test_item, advice)
    reason = f" ({opened.reason})." if opened.reason else "."
    meaning["change"] = (
        _("A clinician has corrected this result") + reason if opened.status == "corrected" else ""
    )
    return meaning
