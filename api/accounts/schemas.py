from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal, Protocol

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from api.public_ids import (
    CdcOfficeId,
    CdcOfficeRef,
    InstitutionId,
    InstitutionRef,
    ManufacturerId,
    UserId,
)
from api.security.names import normalise_display_name, normalise_user_name

# Names shown to other people: NFKC, one script, no look-alikes or bidi overrides (issue 11).
Username = Annotated[str, Field(min_length=2, max_length=32), AfterValidator(normalise_user_name)]
DisplayName = Annotated[
    str, Field(min_length=1, max_length=100), AfterValidator(normalise_display_name)
]
Password = Annotated[str, Field(min_length=8, max_length=256)]


class Role(StrEnum):
    operator = "operator"
    manufacturer = "manufacturer"
    clinician = "clinician"
    cdc_officer = "cdc_officer"
    patient = "patient"
    data_scientist = "data_scientist"


class Principal(BaseModel):
    """Who is signed in: the read model pages are handed instead of the account row.

    Frozen, so a page cannot change an account by assigning to it; built by
    ``api.accounts.service.principal``.
    """

    model_config = ConfigDict(frozen=True, from_attributes=True)

    id: int
    username: str
    role: Role
    display_name: str
    # The organisation the account acts for (set for the matching role only).
    manufacturer_id: int | None = None
    institution_id: int | None = None
    cdc_office_id: int | None = None


class Caller(Protocol):
    """What a service needs of whoever calls it: a :class:`Principal` (the pages) or the
    account row (the API's dependencies). Both fit, so one service serves both."""

    @property
    def id(self) -> int: ...

    @property
    def username(self) -> str: ...

    @property
    def role(self) -> str: ...

    @property
    def display_name(self) -> str: ...

    @property
    def manufacturer_id(self) -> int | None: ...

    @property
    def institution_id(self) -> int | None: ...

    @property
    def cdc_office_id(self) -> int | None: ...


@dataclass(frozen=True)
class SignedIn:
    """A session opened for an account: who, and the bearer token (also a page's cookie)."""

    principal: Principal
    token: str
    expires_at: datetime


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime
    role: str
    user_id: UserId


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UserId
    username: str
    role: str
    display_name: str
    active: bool
    manufacturer_id: ManufacturerId | None
    institution_id: InstitutionId | None
    cdc_office_id: CdcOfficeId | None


class StaffCreate(BaseModel):
    """An account the operator opens for platform or health staff."""

    model_config = ConfigDict(extra="forbid")

    username: Username
    password: Password
    display_name: DisplayName
    role: Literal["operator", "clinician", "cdc_officer", "data_scientist"]
    institution_id: InstitutionRef | None = Field(None, description="required for clinicians")
    cdc_office_id: CdcOfficeRef | None = Field(None, description="required for CDC officers")


class SignUpAccepted(BaseModel):
    """The answer to every well-formed public sign-up: what happens next goes by text
    message or e-mail, so the answer tells nobody who is registered."""

    detail: str


class SignUpConfirm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Annotated[str, Field(min_length=1, max_length=254)]
    code: Annotated[str, Field(min_length=1, max_length=20, description="the code sent at sign-up")]
