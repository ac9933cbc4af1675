from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

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
