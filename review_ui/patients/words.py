"""What the patient's pages say, in plain words."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from api.errors import DomainError
from api.reports.schemas import LinkedResult
from api.selftests.read_time import TooEarlyError

if TYPE_CHECKING:
    from api.products.schemas import KitDescription

FIELD_NAMES = {
    "name": "Name",
    "national_id": "National ID number",
    "phone": "Phone number",
    "username": "User name",
    "password": "Password",
    "photo": "Photo",
    "code": "Code",
    "minutes_ago": "Minutes ago",
    "one_time_code": "Code from the text message",
    "applied_at": "Time the sample was added",
}

STATUS = {
    "awaiting_photo": "Waiting for your photo",
    "reading": "Reading your photo",
    "retake": "A new photo is needed",
    "in_review": "A clinician is checking your result",
    "released": "Result ready",
}


def validation_message(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    context = error.get("ctx") or {}
    if kind == "string_too_short":
        return f"use at least {context.get('min_length')} characters"
    if kind == "string_too_long":
        return f"use at most {context.get('max_length')} characters"
    if kind == "string_pattern_mismatch":
        return "use letters, digits and signs without spaces"
    return str(error.get("msg", "not valid")).lower()


def field_error(detail: str) -> str:
    """``national_id: bad check digit`` -> ``National ID number: bad check digit``."""
    field, sep, rest = detail.partition(": ")
    if sep and field in FIELD_NAMES:
        return f"{FIELD_NAMES[field]}: {rest}"
    return detail[:1].upper() + detail[1:]


def field_errors(detail: str) -> dict[str, str]:
    """``national_id: bad check digit`` -> ``{"national_id": "bad check digit"}``, for the
    mistake to show beside its field (``form`` when no field is named)."""
    field, sep, rest = detail.partition(": ")
    if sep and field in FIELD_NAMES:
        return {field: rest}
    return {"form": detail[:1].upper() + detail[1:]}


def code_login_error(exc: DomainError) -> str:
    if exc.code == "one_time_code_required":
        return "We sent a code to the phone registered with this test: type it below."
    if exc.status_code == 401:
        return "This ID number did not start a test with this code. Check it and try again."
    return field_error(exc.detail)


def claim_error(exc: DomainError) -> str:
    if exc.status_code == 404:
        return "We do not know this code. Check it and type it again, or scan it again."
    if exc.status_code == 422 and exc.detail.startswith("code: "):
        return f"This code is not right ({exc.detail[6:]}). Check it and type it again."
    if exc.status_code == 422 and "region" in exc.detail.lower():
        return "Your location is outside the areas this service covers. Choose where you are."
    return field_error(exc.detail)


def upload_error(exc: DomainError) -> str:
    if isinstance(exc, TooEarlyError):
        minutes = "1 more minute" if exc.wait_minutes == 1 else f"{exc.wait_minutes} more minutes"
        return (
            f"It is too early to read your test: the lines may not have appeared yet. "
            f"Wait {minutes}, then take the photo."
        )
    if exc.status_code == 415:
        return "This file is not a photo we can read. Take the photo again (JPEG, PNG or HEIC)."
    if exc.status_code == 413:
        return "The photo is too large. Take it again with the camera's normal settings."
    return field_error(exc.detail)


def steps(kit: KitDescription) -> list[str]:
    """How to do the test, from the kit's own reading time."""
    read_time = kit.read_time_minutes
    wait = (
        f"Wait {read_time.min:g} minutes. Read it before {read_time.max:g} minutes have passed."
        if read_time is not None and read_time.max is not None
        else "Wait the time the leaflet says."
    )
    return [
        "Do the test as the leaflet in the box says, and add the sample.",
        "As soon as the sample is on the test, press the button below: the timer starts.",
        wait,
        "Put the test flat in good light. Take a photo of the whole test with its code.",
    ]


def result_words(result: str | None, kit: KitDescription) -> dict[str, str]:
    """Title, explanation and what to do, for a released result."""
    return item_result_words(result, kit.test_item.name)


def item_result_words(result: str | None, item_name: str | None) -> dict[str, str]:
    """Title, explanation and what to do, for a released result of a test item."""
    item = item_name or "The virus"
    if result == "positive":
        return {
            "kind": "positive",
            "title": "Positive",
            "text": f"{item} was found. A clinician has checked your photo.",
            "advice": "Stay at home and avoid contact with others. Your local health office "
            "has been told and may call you. If you feel very unwell, call a doctor.",
        }
    if result == "negative":
        return {
            "kind": "negative",
            "title": "Negative",
            "text": f"{item} was not found. A clinician has checked your photo.",
            "advice": "If you still feel unwell, test again tomorrow or see a doctor.",
        }
    return {
        "kind": "invalid",
        "title": "The test did not work",
        "text": "The control line did not appear, so this test cannot be read.",
        "advice": "Use a new test and scan its code to start again.",
    }


def linked_result(opened: LinkedResult) -> dict[str, str]:
    """What a result link shows: the result in words, and whether it was changed since."""
    if opened.status == "withdrawn":
        return {
            "kind": "invalid",
            "title": "This result was withdrawn",
            "text": "A clinician found that this result had been recorded in error"
            + (f" ({opened.reason})." if opened.reason else "."),
            "advice": "Use a new test and scan its code to start again.",
            "change": "",
        }
    meaning = item_result_words(opened.result, opened.test_item)
    meaning["change"] = (
        "A clinician has corrected this result" + (f" ({opened.reason})." if opened.reason else ".")
        if opened.status == "corrected"
        else ""
    )
    return meaning
