from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.accounts.schemas import Password, Username
from api.public_ids import PatientId, UserId

# How a patient is told that a result is ready (the outbox's channels).
NotifyChannel = Literal["sms", "email"]
Email = Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]

Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]


class PatientRegister(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[
        str, Field(min_length=1, max_length=100, description="real name (kept encrypted only)")
    ]
    national_id: Annotated[str, Field(min_length=1, max_length=40)]
    phone: Annotated[str, Field(min_length=3, max_length=40)]
    username: Username
    password: Password
    channel: Annotated[
        NotifyChannel,
        Field(description="how to tell the patient a result is ready; email needs `email`"),
    ] = "sms"
    email: Email | None = None


class PatientContact(BaseModel):
    """How the patient wants to be told that a result is ready."""

    model_config = ConfigDict(extra="forbid")

    channel: NotifyChannel
    email: Email | None = None


class PatientOut(BaseModel):
    id: PatientId
    user_id: UserId
    name: str
    national_id_masked: str
    phone_masked: str
    channel: NotifyChannel = "sms"
    email_masked: str | None = None


class PatientCodeLogin(BaseModel):
    """Log in by the code of a kit this patient scanned, plus their national ID number."""

    model_config = ConfigDict(extra="forbid")

    code: Annotated[str, Field(min_length=1, max_length=500)]
    national_id: Annotated[str, Field(min_length=1, max_length=40)]
    one_time_code: Annotated[
        str | None,
        Field(
            max_length=20,
            description="the code texted to the patient's phone, once a log-in answers "
            "401 one_time_code_required",
        ),
    ] = None


class Claim(BaseModel):
    """Step 6: a scanned code and where the phone is."""

    model_config = ConfigDict(extra="forbid")

    code: Annotated[str, Field(min_length=1, max_length=500, description="typed or scanned text")]
    latitude: Latitude
    longitude: Longitude
