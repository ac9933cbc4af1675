"""The read model every standard message is built from: one released result, decrypted.

The release flow fills a :class:`ReleasedResult` from its tables (the patient's name and
national ID already decrypted) and hands it to :mod:`api.interop.fhir` or
:mod:`api.interop.hl7`. Nothing here touches the database, so the builders are pure
functions of this model and the code mapping.

Every string may come from a patient or a manufacturer and is treated as hostile by the
builders (escaped for HL7, serialised by the FHIR library); the model only bounds lengths
and the shapes that the message formats themselves constrain.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl, model_validator

from api.public_ids import CodeBindingId

ReportStatus = Literal["final", "corrected", "entered-in-error"]
"""Status of this version of the report. The FHIR codes; HL7 v2 codes are derived from them."""

Result = Literal["positive", "negative", "invalid"]
"""A clinician-confirmed result, per analyte or for the whole test (kit spec `rdt-reading/1`)."""

Sex = Literal["female", "male", "other", "unknown"]
"""FHIR administrative gender; ``unknown`` when the patient did not say."""


def _aware(moment: datetime) -> datetime:
    # A naive time would be read differently by each receiver; every time must carry its offset.
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("time must carry a UTC offset")
    return moment


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]

# HL7 v2.5.1 MSH-10 (Message Control ID, ST) is at most 20 characters, and a Standard
# Webhooks `webhook-id` must not contain ".", so one id fits every channel unchanged.
MessageId = Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9_-]+$")]
# Opaque public ids (FHIR ids allow [A-Za-z0-9-.]{1,64}; these also go into HL7 EI fields).
PublicId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Text = Annotated[str, Field(min_length=1, max_length=500)]
OID = re.compile(r"[0-2](\.(0|[1-9][0-9]*))+")
"""An ISO object identifier in dotted form (HL7 HD universal id type ``ISO``)."""


def bare_oid(system: str) -> str | None:
    """The OID a system names, written bare or as ``urn:oid:``; ``None`` if it is no OID.

    Examples
    --------
    >>> bare_oid("urn:oid:2.25.7"), bare_oid("2.25.7"), bare_oid("https://example.org/id")
    ('2.25.7', '2.25.7', None)
    """
    candidate = system.removeprefix("urn:oid:")
    return candidate if OID.fullmatch(candidate) else None


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PatientPart(_Frozen):
    """The tested person, as the patient registered (decrypted)."""

    id: PublicId
    name: Annotated[str, Field(min_length=1, max_length=100, description="full name, one string")]
    birth_date: date | None = None
    sex: Sex = "unknown"
    national_id: Annotated[str, Field(min_length=1, max_length=40)] | None = None
    national_id_system: (
        Annotated[str, Field(max_length=200, description="URI or OID of the ID's issuer, if known")]
        | None
    ) = None
    phone: Annotated[str, Field(min_length=3, max_length=40)] | None = None
    email: Annotated[str, Field(min_length=3, max_length=254)] | None = None
    region_code: Annotated[str, Field(min_length=1, max_length=32)]


class InstitutionPart(_Frozen):
    """The institution whose clinician confirmed the result (FHIR Organization)."""

    id: PublicId
    name: Text
    region_code: Annotated[str, Field(min_length=1, max_length=32)]
    address: Text | None = None


class ClinicianPart(_Frozen):
    """The clinician who confirmed (or corrected) the result (FHIR Practitioner)."""

    id: PublicId
    name: Annotated[str, Field(min_length=1, max_length=100)]


class Coding(_Frozen):
    """One code from a code system, as FHIR ``Coding`` and HL7 ``CE``/``CWE`` carry it."""

    system: Annotated[str, Field(min_length=1, max_length=200)]
    code: Annotated[str, Field(min_length=1, max_length=64)]
    display: Text | None = None


class ProductPart(_Frozen):
    """The registered test product (FHIR Device, with the unit on :class:`ReleasedResult`)."""

    product_code: Annotated[str, Field(min_length=1, max_length=64)]
    name: Text
    manufacturer: Text
    test_item_name: Text
    test_item_loinc: Annotated[str, Field(max_length=20)] | None = Field(
        default=None, description="as the manufacturer declared it in the kit description"
    )
    specimen_type: Coding | None = Field(
        default=None, description="SNOMED CT specimen type, when the product's is known"
    )


class AnalyteResult(_Frozen):
    """One test line's analyte and its confirmed result."""

    analyte: Text
    result: Result


class Sender(_Frozen):
    """This Vigil installation as message sender (MSH-3/4, MessageHeader.source)."""

    application: Annotated[str, Field(min_length=1, max_length=100)] = "Vigil"
    facility: Text
    facility_oid: Annotated[str, Field(pattern=f"^{OID.pattern}$")] | None = None
    base_url: HttpUrl = Field(description="root of the identifier systems and the FHIR endpoint")
    processing_id: Literal["P", "T", "D"] = Field(
        default="P", description="HL7 table 0103: production, training, debugging"
    )


class Receiver(_Frozen):
    """The agency a message is addressed to (MSH-5/6, MessageHeader.destination)."""

    application: Annotated[str, Field(min_length=1, max_length=100)]
    facility: Text
    endpoint: HttpUrl


class ReleasedResult(_Frozen):
    """One version of one released result: the first release, a correction or a withdrawal.

    ``result_id`` stays the same across versions (receivers replace by it);
    ``message_id`` is new for every version (receivers de-duplicate by it).
    """

    message_id: MessageId
    result_id: PublicId
    report_status: ReportStatus
    patient: PatientPart
    institution: InstitutionPart
    clinician: ClinicianPart
    product: ProductPart
    unit_code: Annotated[str, Field(min_length=1, max_length=500)]
    lot_number: Annotated[str, Field(min_length=1, max_length=100)]
    lot_expiry: date | None = None
    collected_at: AwareDatetime = Field(description="sample applied, or the photo's time")
    analytes: Annotated[tuple[AnalyteResult, ...], Field(min_length=1, max_length=20)]
    result: Result
    released_at: AwareDatetime = Field(description="first release of this result")
    issued_at: AwareDatetime = Field(description="this version: release, correction or withdrawal")
    reason: Text | None = Field(default=None, description="why it was corrected or withdrawn")

    @model_validator(mode="after")
    def _consistent(self) -> ReleasedResult:
        # A message that contradicts itself would be believed by some receiver; refuse it here.
        results = {analyte.result for analyte in self.analytes}
        if (self.result == "positive") != ("positive" in results):
            raise ValueError("overall result is positive exactly when some analyte is positive")
        if self.result == "negative" and results != {"negative"}:
            raise ValueError("a negative test has every analyte negative")
        if len({analyte.analyte.casefold() for analyte in self.analytes}) != len(self.analytes):
            raise ValueError("each analyte appears once")
        if self.issued_at < self.released_at:
            raise ValueError("issued_at is not before released_at")
        if self.report_status != "final" and self.reason is None:
            raise ValueError(f"a {self.report_status} report needs a reason")
        return self


# The stored code mapping, as the API and the operators' page show and change it ----------

LoincCode = Annotated[
    str, Field(pattern=r"^[0-9]{1,7}-[0-9]$", description="a LOINC code, e.g. 94558-4")
]
MappedName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        description="the test item or analyte name as the kit description gives it "
        "(matched ignoring case and spacing)",
    ),
]


class CodeBindingIn(BaseModel):
    """Bind a test item or analyte name, for one product or any, to a LOINC code."""

    model_config = ConfigDict(extra="forbid")

    product_code: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        None, description="the product it holds for; none: every product"
    )
    name: MappedName
    loinc: LoincCode
    loinc_display: Annotated[str, Field(min_length=1, max_length=400)] | None = Field(
        None, description="the LOINC long common name; needed for a code Vigil does not know"
    )


class CodeBindingChange(BaseModel):
    """Bind an existing name to another LOINC code."""

    model_config = ConfigDict(extra="forbid")

    loinc: LoincCode
    loinc_display: Annotated[str, Field(min_length=1, max_length=400)] | None = None


class CodeBindingOut(BaseModel):
    id: CodeBindingId
    product_code: str | None = Field(description="none: every product")
    name: str
    loinc: str
    loinc_display: str | None
    updated_at: datetime


class ResultCodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Annotated[str, Field(pattern=r"^[1-9][0-9]{5,17}$", description="a SNOMED CT concept id")]
    display: Annotated[str, Field(min_length=1, max_length=200)]


class ResultCodeOut(BaseModel):
    result: Result
    code: str
    display: str
    updated_at: datetime
