"""Small helpers the staff pages share: readable validation messages, bounded file reads."""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import UploadFile
from pydantic import ValidationError

from api.errors import DomainError
from api.uploads import read_limited

# Field names as people read them on the forms.
FIELD_LABELS = {
    "name": "Name",
    "business_licence_no": "Business licence number",
    "device_certificates": "Device registration certificates",
    "contact_email": "Contact e-mail",
    "username": "User name",
    "password": "Password",
    "display_name": "Display name",
    "region_code": "Region",
    "address": "Address",
    "lot_number": "Lot number",
    "quantity": "Quantity",
    "expiry_date": "Expiry date",
    "product_id": "Product",
    "institution_id": "Medical institution",
    "cdc_office_id": "CDC office",
    "reason": "Reason",
}


def validation_messages(error: ValidationError) -> list[str]:
    """One line per problem, naming the field as the form does."""
    messages = []
    for item in error.errors():
        field = next((str(part) for part in item["loc"] if isinstance(part, str)), "")
        label = FIELD_LABELS.get(field, field.replace("_", " ").capitalize())
        message = str(item["msg"]).removeprefix("Value error, ")
        messages.append(f"{label}: {message}" if label else message)
    return messages


def domain_message(error: DomainError) -> str:
    """A service's refusal as a sentence."""
    detail = str(error.detail)
    return detail[:1].upper() + detail[1:]


def lines(text: str) -> list[str]:
    """The non-empty lines (or comma-separated items) of a text area."""
    items: Iterable[str] = text.replace(",", "\n").splitlines()
    return [item.strip() for item in items if item.strip()]


def read_files(
    files: Iterable[UploadFile | str | None], limit: int, what: str
) -> list[tuple[str, bytes]]:
    """(filename, bytes) of every chosen file; a file input left empty is skipped."""
    out = []
    for file in files:
        if file is None or isinstance(file, str) or not file.filename:
            continue
        out.append((file.filename, read_limited(file, limit, what)))
    return out
