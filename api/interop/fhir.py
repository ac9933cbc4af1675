"""A released result as a FHIR R4 message Bundle, built and validated with ``fhir.resources``.

The Bundle (``type: message``) holds a MessageHeader (event ``R01``, the v2 unsolicited
observation event, with the DiagnosticReport as its focus), then Patient, Organization (the
institution), Practitioner (the confirming clinician), Device (the product; the unit code is
its serial number), Specimen, one Observation per analyte and the DiagnosticReport.

The models come from the library's R4B package: for every element used here R4B is
structurally identical to R4, so an R4 receiver reads the JSON as is. Each resource is
constructed through the library, which validates it as it is built.

Ids are UUIDs derived from the message id, so the same read model always gives the same
bytes, and a resend is recognisably the same message.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, TypeVar

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.device import Device
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from fhir.resources.R4B.messageheader import MessageHeader
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.practitioner import Practitioner
from fhir.resources.R4B.resource import Resource
from fhir.resources.R4B.specimen import Specimen

from api.interop.codes import (
    CodeMapping,
    TestCode,
    analyte_code,
    item_code,
    load_seed,
    message_notes,
)
from api.interop.schemas import Coding, Receiver, ReleasedResult, Sender, bare_oid

V2_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0003"
V2_IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
V2_DIAGNOSTIC_SERVICE = "http://terminology.hl7.org/CodeSystem/v2-0074"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
DATA_ABSENT_REASON = "http://terminology.hl7.org/CodeSystem/data-absent-reason"

R = TypeVar("R", bound=Resource)
_NAMESPACE = uuid.UUID("5b0f7c1e-3f55-4c57-9d8e-2b8c4a0e6d21")  # Vigil's FHIR ids


# FHIR strings "SHOULD not contain Unicode character points below 32, except for u0009,
# u0010 and u0013" (R4 datatypes, string); the others are replaced, visibly.
_FORBIDDEN_CONTROLS = {code: "\ufffd" for code in range(32) if chr(code) not in "\t\n\r"}


def fhir_text(value: Any) -> Any:
    r"""``value`` with every string in it cleared of control characters FHIR strings exclude.

    Examples
    --------
    >>> fhir_text({"name": ["Li\x00Si\n"]}) == {"name": ["Li\ufffdSi\n"]}
    True
    """
    if isinstance(value, str):
        return value.translate(_FORBIDDEN_CONTROLS)
    if isinstance(value, dict):
        return {key: fhir_text(item) for key, item in value.items()}
    if isinstance(value, list):
        return [fhir_text(item) for item in value]
    return value


def _validated(model: type[R], resource: dict[str, Any]) -> R:
    """The resource built through the library, which validates it as it is built."""
    return model.model_validate(fhir_text(resource))


def identifier_system(sender: Sender, kind: str) -> str:
    """The identifier system for one kind of Vigil id, under the sender's base URL."""
    return f"{str(sender.base_url).rstrip('/')}/fhir/sid/{kind}"


def _instant(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _coding(coding: Coding) -> dict[str, str]:
    return {
        key: value
        for key, value in (
            ("system", coding.system),
            ("code", coding.code),
            ("display", coding.display),
        )
        if value is not None
    }


def _concept(code: TestCode) -> dict[str, Any]:
    # Unmapped: text only, plus the data-absent "unknown" code so no receiver takes the
    # text for a code it recognises.
    if code.coding is None:
        absent = {"system": DATA_ABSENT_REASON, "code": "unknown", "display": "Unknown"}
        return {"coding": [absent], "text": code.text}
    return {"coding": [_coding(code.coding)], "text": code.text}


class _Ids:
    """Deterministic resource ids and their ``urn:uuid`` references for one message."""

    def __init__(self, message_id: str) -> None:
        self.message_id = message_id

    def id(self, kind: str) -> str:
        return str(uuid.uuid5(_NAMESPACE, f"{self.message_id}/{kind}"))

    def ref(self, kind: str) -> dict[str, str]:
        return {"reference": f"urn:uuid:{self.id(kind)}"}


def _patient(result: ReleasedResult, sender: Sender, ids: _Ids) -> Patient:
    person = result.patient
    identifiers: list[dict[str, Any]] = [
        {"system": identifier_system(sender, "patient-id"), "value": person.id}
    ]
    if person.national_id is not None:
        national: dict[str, Any] = {
            "type": {"coding": [{"system": V2_IDENTIFIER_TYPE, "code": "NI"}]},
            "value": person.national_id,
        }
        if person.national_id_system is not None:
            # FHIR identifier systems are URIs; an OID is written urn:oid:...
            oid = bare_oid(person.national_id_system)
            national["system"] = person.national_id_system if oid is None else f"urn:oid:{oid}"
        identifiers.append(national)
    # The phone Vigil keeps is the one it texts, hence "mobile".
    telecom = [
        {"system": system, "value": value, "use": use}
        for system, value, use in (
            ("phone", person.phone, "mobile"),
            ("email", person.email, "home"),
        )
        if value is not None
    ]
    resource: dict[str, Any] = {
        "id": ids.id("patient"),
        "identifier": identifiers,
        "name": [{"use": "official", "text": person.name}],
        "gender": person.sex,
        # The region code is Vigil's administrative area, as HL7 v2 XAD-9 (county/parish code);
        # the v2-to-FHIR mapping puts that in Address.district.
        "address": [{"use": "home", "district": person.region_code}],
    }
    if telecom:
        resource["telecom"] = telecom
    if person.birth_date is not None:
        resource["birthDate"] = person.birth_date.isoformat()
    return _validated(Patient, resource)


def _organization(result: ReleasedResult, sender: Sender, ids: _Ids) -> Organization:
    institution = result.institution
    address: dict[str, Any] = {"district": institution.region_code}
    if institution.address is not None:
        address["text"] = institution.address
    return _validated(
        Organization,
        {
            "id": ids.id("organization"),
            "identifier": [
                {"system": identifier_system(sender, "institution-id"), "value": institution.id}
            ],
            "active": True,
            "name": institution.name,
            "address": [address],
        },
    )


def _practitioner(result: ReleasedResult, sender: Sender, ids: _Ids) -> Practitioner:
    clinician = result.clinician
    return _validated(
        Practitioner,
        {
            "id": ids.id("practitioner"),
            "identifier": [
                {"system": identifier_system(sender, "clinician-id"), "value": clinician.id}
            ],
            "name": [{"text": clinician.name}],
        },
    )


def _device(result: ReleasedResult, sender: Sender, ids: _Ids) -> Device:
    product = result.product
    resource: dict[str, Any] = {
        "id": ids.id("device"),
        "identifier": [
            {"system": identifier_system(sender, "unit-code"), "value": result.unit_code}
        ],
        "status": "inactive",  # a used, single-use test
        "manufacturer": product.manufacturer,
        "deviceName": [{"name": product.name, "type": "manufacturer-name"}],
        "modelNumber": product.product_code,
        "serialNumber": result.unit_code,
        "lotNumber": result.lot_number,
        "patient": ids.ref("patient"),
    }
    if result.lot_expiry is not None:
        # A date alone is a valid FHIR dateTime and says exactly what the label says.
        resource["expirationDate"] = result.lot_expiry.isoformat()
    return _validated(Device, resource)


def _specimen(result: ReleasedResult, sender: Sender, ids: _Ids) -> Specimen:
    specimen_type = result.product.specimen_type
    kind: dict[str, Any] = (
        {"coding": [_coding(specimen_type)], "text": specimen_type.display or specimen_type.code}
        if specimen_type is not None
        else {"text": "Specimen type not recorded for this product"}
    )
    return _validated(
        Specimen,
        {
            "id": ids.id("specimen"),
            "identifier": [
                {"system": identifier_system(sender, "result-id"), "value": result.result_id}
            ],
            "status": "unavailable",  # consumed by the test
            "type": kind,
            "subject": ids.ref("patient"),
            "collection": {"collectedDateTime": _instant(result.collected_at)},
        },
    )


def _observations(
    result: ReleasedResult, sender: Sender, ids: _Ids, mapping: CodeMapping
) -> list[Observation]:
    observations = []
    sole = len(result.analytes) == 1
    for index, reading in enumerate(result.analytes):
        code = analyte_code(result.product, reading.analyte, sole_analyte=sole, mapping=mapping)
        value = mapping.snomed_for(reading.result)
        resource: dict[str, Any] = {
            "id": ids.id(f"observation/{index}"),
            "identifier": [
                {
                    "system": identifier_system(sender, "result-id"),
                    "value": f"{result.result_id}-{index + 1}",
                }
            ],
            "status": result.report_status,
            "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "laboratory"}]}],
            "code": _concept(code),
            "subject": ids.ref("patient"),
            "effectiveDateTime": _instant(result.collected_at),
            "issued": _instant(result.issued_at),
            "performer": [ids.ref("practitioner"), ids.ref("organization")],
            # Without a SNOMED binding the result is still sent, as text, never as a guess.
            "valueCodeableConcept": (
                {"coding": [_coding(value)], "text": reading.result}
                if value is not None
                else {"text": reading.result}
            ),
            "specimen": ids.ref("specimen"),
            "device": ids.ref("device"),
        }
        notes = message_notes(result, code)
        if notes:
            resource["note"] = [{"text": text} for text in notes]
        observations.append(_validated(Observation, resource))
    return observations


def _report(
    result: ReleasedResult, sender: Sender, ids: _Ids, mapping: CodeMapping, item: TestCode
) -> DiagnosticReport:
    conclusion = mapping.snomed_for(result.result)
    resource: dict[str, Any] = {
        "id": ids.id("report"),
        "identifier": [
            {"system": identifier_system(sender, "result-id"), "value": result.result_id}
        ],
        "status": result.report_status,
        "category": [{"coding": [{"system": V2_DIAGNOSTIC_SERVICE, "code": "LAB"}]}],
        "code": _concept(item),
        "subject": ids.ref("patient"),
        "effectiveDateTime": _instant(result.collected_at),
        "issued": _instant(result.issued_at),
        "performer": [ids.ref("organization")],
        "resultsInterpreter": [ids.ref("practitioner")],
        "specimen": [ids.ref("specimen")],
        "result": [ids.ref(f"observation/{index}") for index in range(len(result.analytes))],
        "conclusion": result.result
        if result.reason is None
        else f"{result.result} ({result.report_status}: {result.reason})",
    }
    if conclusion is not None:
        resource["conclusionCode"] = [{"coding": [_coding(conclusion)]}]
    return _validated(DiagnosticReport, resource)


def build_bundle(
    result: ReleasedResult,
    sender: Sender,
    receiver: Receiver | None = None,
    mapping: CodeMapping | None = None,
) -> Bundle:
    """The FHIR message Bundle for one version of one released result.

    Parameters
    ----------
    result
        The released result (first release, correction or withdrawal).
    sender
        This installation: names the message source and roots the identifier systems.
    receiver
        The agency it is addressed to (MessageHeader.destination), if any.
    mapping
        The code mapping; the shipped seed when ``None``.

    Returns
    -------
    Bundle
        A validated ``fhir.resources`` R4B Bundle of type ``message``.
    """
    mapping = load_seed() if mapping is None else mapping
    ids = _Ids(result.message_id)
    item = item_code(result.product, mapping)
    header: dict[str, Any] = {
        "id": ids.id("header"),
        "eventCoding": {"system": V2_EVENT_TYPE, "code": "R01"},
        "source": {"name": sender.application, "endpoint": str(sender.base_url)},
        "responsible": ids.ref("organization"),
        "focus": [ids.ref("report")],
    }
    if receiver is not None:
        header["destination"] = [{"name": receiver.facility, "endpoint": str(receiver.endpoint)}]
    if result.reason is not None:
        header["reason"] = {"text": f"{result.report_status}: {result.reason}"}
    resources: list[tuple[str, Resource]] = [
        ("header", _validated(MessageHeader, header)),
        ("patient", _patient(result, sender, ids)),
        ("organization", _organization(result, sender, ids)),
        ("practitioner", _practitioner(result, sender, ids)),
        ("device", _device(result, sender, ids)),
        ("specimen", _specimen(result, sender, ids)),
    ]
    resources += [
        (f"observation/{index}", observation)
        for index, observation in enumerate(_observations(result, sender, ids, mapping))
    ]
    resources.append(("report", _report(result, sender, ids, mapping, item)))
    return Bundle.model_validate(
        {
            "id": ids.id("bundle"),
            "identifier": {
                "system": identifier_system(sender, "message-id"),
                "value": result.message_id,
            },
            "type": "message",
            "timestamp": _instant(result.issued_at),
            "entry": [
                {"fullUrl": f"urn:uuid:{ids.id(kind)}", "resource": resource}
                for kind, resource in resources
            ],
        }
    )


def bundle_json(
    result: ReleasedResult,
    sender: Sender,
    receiver: Receiver | None = None,
    mapping: CodeMapping | None = None,
) -> str:
    """:func:`build_bundle` as compact JSON text (UTF-8 when encoded), the body a receiver gets."""
    return build_bundle(result, sender, receiver, mapping).model_dump_json(exclude_none=True)


def bundles_ndjson(
    results: Iterable[ReleasedResult],
    sender: Sender,
    receiver: Receiver | None = None,
    mapping: CodeMapping | None = None,
) -> Iterator[str]:
    """One line of NDJSON per result (FHIR Bulk Data format), each ending in ``\\n``.

    Lines are ASCII-only JSON: every non-ASCII character is a ``\\u`` escape, so no
    character in a name (U+2028, NEL, ...) can look like a line break to any reader.
    """
    mapping = load_seed() if mapping is None else mapping
    for result in results:
        bundle = json.loads(bundle_json(result, sender, receiver, mapping))
        yield json.dumps(bundle, ensure_ascii=True, separators=(",", ":")) + "\n"
