"""Opaque public identifiers: what clients see instead of sequential database ids.

A sequential id in a URL tells whoever sees it how many tests a region has run, and lets
them walk the neighbours. Inside, records keep their integer primary keys; at the edge
each ``(kind, id)`` is one AES block (an 8-byte tag naming the kind, then the id) under
a key derived from the server's ``SECRET_KEY``, written as ``<prefix>_<26 base32>``,
e.g. ``tst_3k5...``. AES is a keyed permutation: ids are stable, look random, and
without the key one cannot count, guess or forge them; a block that does not decrypt
to the kind's tag (a typo, a made-up id, an id of another kind) is refused.

The annotated types carry the rule to the edges:

- ``TestId`` etc. in response schemas: the field holds the integer; JSON shows the
  public id (Python dumps keep the integer, so services may pass them on).
- ``TestRef`` etc. in request bodies and query strings: a public id, validated into
  the integer (422 when malformed or of another kind).
- ``TestPath`` etc. as path parameters: the same, but 404 (a wrong id names nothing).

>>> configure("a secret")
>>> public = encode(TEST, 42)
>>> public.startswith("tst_"), len(public), decode(TEST, public)
(True, 30, 42)
>>> decode(BATCH, public) is None
True
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from fastapi import Depends, Path
from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from api.errors import NotFoundError

_BODY = 26  # 16 bytes in base32, without padding


@dataclass(frozen=True)
class Kind:
    """One kind of record: its public prefix and what to call it in errors."""

    prefix: str
    noun: str

    @property
    def pattern(self) -> str:
        return rf"^{self.prefix}_[a-z2-7]{{{_BODY}}}$"


TEST = Kind("tst", "test")
UPLOAD = Kind("upl", "upload")
PROPOSAL = Kind("prp", "proposal")
REVIEW = Kind("rev", "review")
REPORT = Kind("rpt", "report")
BATCH = Kind("bat", "batch")
PRODUCT = Kind("prd", "product")
USER = Kind("usr", "account")
PATIENT = Kind("pat", "patient")
MANUFACTURER = Kind("mfr", "manufacturer")
DOCUMENT = Kind("doc", "document")
INSTITUTION = Kind("ins", "institution")
CDC_OFFICE = Kind("cdc", "CDC office")
DELIVERY = Kind("dlv", "delivery")
EVENT = Kind("evt", "event")
AUDIT = Kind("aud", "audit entry")
SHADOW = Kind("shd", "shadow reading")
CODE_BINDING = Kind("cbd", "code binding")
# By prefix: for pages, whose templates name the kind of the id they link to.
KINDS = {
    kind.prefix: kind
    for kind in (
        *(TEST, UPLOAD, PROPOSAL, REVIEW, REPORT, BATCH, PRODUCT, USER, PATIENT),
        *(MANUFACTURER, DOCUMENT, INSTITUTION, CDC_OFFICE, DELIVERY, EVENT, AUDIT, SHADOW),
        CODE_BINDING,
    )
}


class _Keys:
    """The server's keys for opaque tokens, derived from ``SECRET_KEY`` (one per use)."""

    def __init__(self, secret: str) -> None:
        master = secret.encode()
        self.ids = hmac.new(master, b"vigil public ids v1", hashlib.sha256).digest()[:16]
        self.cursors = hmac.new(master, b"vigil cursors v1", hashlib.sha256).digest()


_keys: _Keys | None = None


def configure(secret: str) -> None:
    """Key the ids with the server's secret (``create_app`` does this)."""
    global _keys
    if not secret:
        raise ValueError("public ids need a SECRET_KEY")
    _keys = _Keys(secret)


def keys() -> _Keys:
    if _keys is None:
        raise RuntimeError("api.public_ids.configure(secret) was not called")
    return _keys


def _tag(kind: Kind) -> bytes:
    return kind.prefix.encode().ljust(8, b"\0")


def _cipher() -> Cipher[modes.ECB]:
    # One block, no chaining: ECB is exactly the keyed permutation wanted here.
    return Cipher(algorithms.AES(keys().ids), modes.ECB())


def encode(kind: Kind, value: int) -> str:
    """The public id of record ``value`` of ``kind``."""
    encryptor = _cipher().encryptor()
    block = encryptor.update(_tag(kind) + value.to_bytes(8, "big")) + encryptor.finalize()
    return f"{kind.prefix}_{_text(block)}"


def _text(block: bytes) -> str:
    return base64.b32encode(block).decode().rstrip("=").lower()


def decode(kind: Kind, public: str) -> int | None:
    """The record id behind ``public``, or None when it is not a public id of ``kind``."""
    if not re.fullmatch(kind.pattern, public):
        return None
    body = public[len(kind.prefix) + 1 :]
    block = base64.b32decode(body.upper() + "======")
    if _text(block) != body:  # the last letter's spare bits: one spelling per id
        return None
    decryptor = _cipher().decryptor()
    plain = decryptor.update(block) + decryptor.finalize()
    if not hmac.compare_digest(plain[:8], _tag(kind)):
        return None
    return int.from_bytes(plain[8:], "big")


@dataclass(frozen=True)
class _Public:
    """Pydantic metadata: an integer id shown as (and, with ``parse``, read from) a public id."""

    kind: Kind
    parse: bool = False

    def __get_pydantic_core_schema__(
        self, _source: Any, _handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        kind = self.kind
        serialization = core_schema.plain_serializer_function_ser_schema(
            lambda value: encode(kind, value),
            when_used="json",
            return_schema=core_schema.str_schema(),
        )
        if not self.parse:
            return core_schema.int_schema(strict=True, serialization=serialization)

        def read(value: Any) -> int:
            number = decode(kind, value) if isinstance(value, str) else None
            if number is None:
                raise ValueError(f"not a {kind.noun} id (expected {kind.prefix}_...)")
            return number

        return core_schema.no_info_plain_validator_function(read, serialization=serialization)

    def __get_pydantic_json_schema__(
        self, _schema: CoreSchema, _handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {
            "type": "string",
            "pattern": self.kind.pattern,
            "description": f"a {self.kind.noun} id (opaque)",
        }


def _path(kind: Kind, name: str) -> Callable[..., int]:
    """A dependency reading path parameter ``name`` as a public id of ``kind`` (404 if not)."""

    def read(**values: str) -> int:
        number = decode(kind, values[name])
        if number is None:
            raise NotFoundError(f"no {kind.noun} {values[name]!r}")
        return number

    parameter = inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        # No length limit here: whatever is not a public id is a 404 (the pattern says why).
        annotation=Annotated[str, Path(description=f"a {kind.noun} id ({kind.prefix}_...)")],
    )
    read.__signature__ = inspect.Signature([parameter], return_annotation=int)  # type: ignore[attr-defined]
    read.__name__ = f"{kind.prefix}_path_id"
    return read


# Response fields: the integer, shown as the public id.
TestId = Annotated[int, _Public(TEST)]
UploadId = Annotated[int, _Public(UPLOAD)]
ProposalId = Annotated[int, _Public(PROPOSAL)]
ReviewId = Annotated[int, _Public(REVIEW)]
ReportId = Annotated[int, _Public(REPORT)]
BatchId = Annotated[int, _Public(BATCH)]
ProductId = Annotated[int, _Public(PRODUCT)]
UserId = Annotated[int, _Public(USER)]
PatientId = Annotated[int, _Public(PATIENT)]
ManufacturerId = Annotated[int, _Public(MANUFACTURER)]
DocumentId = Annotated[int, _Public(DOCUMENT)]
InstitutionId = Annotated[int, _Public(INSTITUTION)]
CdcOfficeId = Annotated[int, _Public(CDC_OFFICE)]
DeliveryId = Annotated[int, _Public(DELIVERY)]
EventId = Annotated[int, _Public(EVENT)]
AuditId = Annotated[int, _Public(AUDIT)]
ShadowId = Annotated[int, _Public(SHADOW)]
CodeBindingId = Annotated[int, _Public(CODE_BINDING)]

# Request fields (bodies, query strings): a public id, read into the integer (else 422).
ProductRef = Annotated[int, _Public(PRODUCT, parse=True)]
TestRef = Annotated[int, _Public(TEST, parse=True)]
UserRef = Annotated[int, _Public(USER, parse=True)]
InstitutionRef = Annotated[int, _Public(INSTITUTION, parse=True)]
CdcOfficeRef = Annotated[int, _Public(CDC_OFFICE, parse=True)]

# Path parameters: a public id, read into the integer (else 404).
TestPath = Annotated[int, Depends(_path(TEST, "test_id"))]
UploadPath = Annotated[int, Depends(_path(UPLOAD, "upload_id"))]
ProposalPath = Annotated[int, Depends(_path(PROPOSAL, "proposal_id"))]
BatchPath = Annotated[int, Depends(_path(BATCH, "batch_id"))]
ProductPath = Annotated[int, Depends(_path(PRODUCT, "product_id"))]
UserPath = Annotated[int, Depends(_path(USER, "user_id"))]
ManufacturerPath = Annotated[int, Depends(_path(MANUFACTURER, "manufacturer_id"))]
DocumentPath = Annotated[int, Depends(_path(DOCUMENT, "document_id"))]
InstitutionPath = Annotated[int, Depends(_path(INSTITUTION, "institution_id"))]
CdcOfficePath = Annotated[int, Depends(_path(CDC_OFFICE, "office_id"))]
DeliveryPath = Annotated[int, Depends(_path(DELIVERY, "delivery_id"))]
ShadowPath = Annotated[int, Depends(_path(SHADOW, "shadow_id"))]
CodeBindingPath = Annotated[int, Depends(_path(CODE_BINDING, "binding_id"))]
