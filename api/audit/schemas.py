from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from api import public_ids
from api.public_ids import AuditId, UserId, encode


class AuditEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: AuditId
    at: datetime
    actor_id: UserId | None
    actor_role: str | None
    action: str
    object_type: str
    object_id: str = Field(description="the record's public id where it has one")
    detail: dict[str, Any]

    @field_serializer("object_id", when_used="json")
    def _public_object_id(self, value: str) -> str:
        # Stored as the record's number; shown as its public id, as everywhere else.
        kind = OBJECT_KINDS.get(self.object_type)
        return encode(kind, int(value)) if kind is not None and value.isdigit() else value

    @field_serializer("detail", when_used="json")
    def _public_detail(self, value: dict[str, Any]) -> dict[str, Any]:
        return public_detail(value)


# The audited records that have public ids, by object_type.
OBJECT_KINDS = {
    "self_test": public_ids.TEST,
    "upload": public_ids.UPLOAD,
    "proposal": public_ids.PROPOSAL,
    "review": public_ids.REVIEW,
    "user": public_ids.USER,
    "patient": public_ids.PATIENT,
    "manufacturer": public_ids.MANUFACTURER,
    "product": public_ids.PRODUCT,
    "batch": public_ids.BATCH,
    "institution": public_ids.INSTITUTION,
    "cdc_office": public_ids.CDC_OFFICE,
    "outbox_delivery": public_ids.DELIVERY,
}

# Detail keys name records by these nouns (the object types, and a test's short name), with
# ``_id``/``_ids`` or a plural ``s``/``es`` after it: ``test``, ``tests``, ``proposal_id``.
_NOUNS = {**OBJECT_KINDS, "test": public_ids.TEST, "document": public_ids.DOCUMENT}
# Keys whose noun is not at their end.
_ALIASES = {"other_test": "test", "tests_shown": "tests"}


def _detail_kind(key: str) -> public_ids.Kind | None:
    key = _ALIASES.get(key, key)
    for suffix in ("_ids", "_id", "es", "s", ""):
        kind = _NOUNS.get(key.removesuffix(suffix)) if key.endswith(suffix) else None
        if kind is not None:
            return kind
    return None


def public_detail(detail: dict[str, Any]) -> dict[str, Any]:
    """``detail`` with the record numbers it holds shown as public ids (a number, or a list
    of them, under a key naming a record that has one); all else as stored."""

    def shown(kind: public_ids.Kind | None, value: Any) -> Any:
        if kind is None or isinstance(value, bool):
            return value
        if isinstance(value, int):
            return encode(kind, value)
        if isinstance(value, list):
            return [shown(kind, item) for item in value]
        return value

    return {key: shown(_detail_kind(key), value) for key, value in detail.items()}


def stored_object_id(public: str) -> str:
    """The ``object_id`` as stored for a public id given as a filter (else as given)."""
    kind = public_ids.KINDS.get(public.partition("_")[0])
    number = public_ids.decode(kind, public) if kind is not None else None
    return public if number is None else str(number)
