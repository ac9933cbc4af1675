"""A released result to build messages from, and hostile texts patients and makers may type."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from api.interop.schemas import (
    AnalyteResult,
    ClinicianPart,
    InstitutionPart,
    PatientPart,
    ProductPart,
    ReleasedResult,
    Sender,
)

BEIJING = timezone(timedelta(hours=8))
COLLECTED = datetime(2026, 11, 29, 9, 30, 12, tzinfo=BEIJING)

HOSTILE_TEXTS = [
    "Zhang|San",
    "O'Brien^Mc~Do&nald\\",
    "\\F\\ literal escape \\E\\ and \\X0D\\ and \\.br\\",
    "line\nbreak\rcarriage\r\nboth",
    "MSH|^~\\&|FAKE\rPID|1||evil",
    "\u202eevil\u202c right-to-left override",
    "tab\tnull-ish\x01\x7f bell\x07",
    "line\u2028separator\u2029paragraph\x85next",
    "زهرة 李四 Ünïcødé 😀",
]
"""Texts that must arrive exactly as typed and never change a message's structure."""


@pytest.fixture(params=HOSTILE_TEXTS, ids=range(len(HOSTILE_TEXTS)))
def hostile_text(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def sender() -> Sender:
    return Sender(facility="Vigil Test", facility_oid="2.25.1234", base_url="https://vigil.test")


@pytest.fixture
def released() -> Callable[..., ReleasedResult]:
    """Build a released result; keyword arguments replace fields, ``patient``/``product`` dicts
    update those parts."""

    def build(**changes: Any) -> ReleasedResult:
        patient = {
            "id": "pat_7",
            "name": "Li Si",
            "birth_date": date(1990, 3, 7),
            "sex": "female",
            "national_id": "110101199003071234",
            "phone": "+8613800138000",
            "email": "li.si@example.cn",
            "region_code": "110101",
        } | changes.pop("patient", {})
        product = {
            "product_code": "ACME-COV-AG",
            "name": "ACME SARS-CoV-2 Antigen Rapid Test",
            "manufacturer": "ACME Diagnostics",
            "test_item_name": "SARS-CoV-2 antigen",
            "test_item_loinc": "94558-4",
        } | changes.pop("product", {})
        fields: dict[str, Any] = {
            "message_id": "msg_0001",
            "result_id": "res_42",
            "report_status": "final",
            "patient": PatientPart(**patient),
            "institution": InstitutionPart(
                id="inst_3", name="Dongcheng Clinic", region_code="110101", address="1 Road"
            ),
            "clinician": ClinicianPart(id="clin_9", name="Dr Wang Wu"),
            "product": ProductPart(**product),
            "unit_code": "U-8F3K-22QX",
            "lot_number": "LOT-2026-11",
            "lot_expiry": date(2027, 6, 30),
            "collected_at": COLLECTED,
            "analytes": (AnalyteResult(analyte="SARS-CoV-2 antigen", result="positive"),),
            "result": "positive",
            "released_at": COLLECTED + timedelta(minutes=40),
            "issued_at": COLLECTED + timedelta(minutes=40),
        } | changes
        return ReleasedResult(**fields)

    return build


MULTIPLEX_ANALYTES = ("Influenza A antigen", "Influenza B antigen", "SARS-CoV-2 antigen")


def _multiplex(results: tuple[str, str, str]) -> dict[str, Any]:
    """Changes for a flu A/B + SARS-CoV-2 combination test with the given analyte results."""
    analytes = tuple(
        AnalyteResult.model_validate({"analyte": name, "result": result})
        for name, result in zip(MULTIPLEX_ANALYTES, results, strict=True)
    )
    overall = (
        "invalid" if "invalid" in results else "positive" if "positive" in results else "negative"
    )
    return {
        "product": {
            "product_code": "ACME-FLU-COV",
            "name": "ACME Flu A/B + COVID-19 Combo",
            "test_item_name": "Influenza A and B and SARS-CoV-2 antigen",
            "test_item_loinc": None,
        },
        "analytes": analytes,
        "result": overall,
    }


@pytest.fixture
def multiplex() -> Callable[[tuple[str, str, str]], dict[str, Any]]:
    """Changes (for ``released``) that make a flu A/B + SARS-CoV-2 combination test."""
    return _multiplex
