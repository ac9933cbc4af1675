"""FHIR message Bundles, read back with fhir.resources (R4B) and checked field by field."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.device import Device
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from fhir.resources.R4B.messageheader import MessageHeader
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.practitioner import Practitioner
from fhir.resources.R4B.specimen import Specimen

from api.interop.codes import LOINC, SNOMED_CT, CodeTable, load_seed
from api.interop.fhir import DATA_ABSENT_REASON, bundle_json, bundles_ndjson, fhir_text
from api.interop.schemas import Receiver, ReleasedResult, Sender

# The R4 value sets of the two status elements (hl7.org/fhir/R4/valueset-observation-status,
# valueset-diagnostic-report-status); the library does not check codes against them.
OBSERVATION_STATUSES = {
    "registered",
    "preliminary",
    "final",
    "amended",
    "corrected",
    "cancelled",
    "entered-in-error",
    "unknown",
}
REPORT_STATUSES = OBSERVATION_STATUSES | {"partial", "appended"}
MODELS: dict[str, type[Any]] = {
    "MessageHeader": MessageHeader,
    "Patient": Patient,
    "Organization": Organization,
    "Practitioner": Practitioner,
    "Device": Device,
    "Specimen": Specimen,
    "Observation": Observation,
    "DiagnosticReport": DiagnosticReport,
}

Released = Callable[..., ReleasedResult]
NASOPHARYNGEAL_SWAB = {"system": SNOMED_CT, "code": "258500001", "display": "Nasopharyngeal swab"}


def read_back(text: str) -> tuple[Any, dict[str, list[Any]]]:
    """The Bundle parsed by the library, and every entry re-parsed alone by its own model."""
    bundle: Any = Bundle.model_validate_json(text)
    raw = json.loads(text)
    resources: dict[str, list[Any]] = {}
    for entry in raw["entry"]:
        kind = entry["resource"]["resourceType"]
        resources.setdefault(kind, []).append(MODELS[kind].model_validate(entry["resource"]))
    return bundle, resources


def codings(concept: Any) -> list[tuple[str, str]]:
    return [(coding.system, coding.code) for coding in concept.coding or []]


def test_a_released_result_reads_back_as_a_complete_message_bundle(
    released: Released, sender: Sender
) -> None:
    result = released(product={"specimen_type": NASOPHARYNGEAL_SWAB})
    receiver = Receiver(application="NNDSS", facility="Beijing CDC", endpoint="https://cdc.test/")
    bundle, resources = read_back(bundle_json(result, sender, receiver))

    assert bundle.type == "message"
    assert bundle.identifier.value == result.message_id
    kinds = [entry.resource.get_resource_type() for entry in bundle.entry]
    assert kinds == [
        "MessageHeader",
        "Patient",
        "Organization",
        "Practitioner",
        "Device",
        "Specimen",
        "Observation",
        "DiagnosticReport",
    ]
    # Every reference points at an entry of the same Bundle.
    full_urls = {entry.fullUrl for entry in bundle.entry}
    references = [
        match
        for match in json.dumps(json.loads(bundle_json(result, sender))).split('"')
        if match.startswith("urn:uuid:")
    ]
    assert set(references) == full_urls

    (header,) = resources["MessageHeader"]
    (report,) = resources["DiagnosticReport"]
    report_url = next(e.fullUrl for e in bundle.entry if e.resource.id == report.id)
    assert header.focus[0].reference == report_url
    assert (header.destination[0].name, header.destination[0].endpoint) == (
        "Beijing CDC",
        "https://cdc.test/",
    )
    assert (header.eventCoding.system, header.eventCoding.code) == (
        "http://terminology.hl7.org/CodeSystem/v2-0003",
        "R01",
    )

    (patient,) = resources["Patient"]
    assert patient.name[0].text == result.patient.name
    assert patient.birthDate == result.patient.birth_date
    assert patient.gender == "female"
    assert {identifier.value for identifier in patient.identifier} == {
        result.patient.id,
        result.patient.national_id,
    }
    assert {(t.system, t.value, t.use) for t in patient.telecom} == {
        ("phone", result.patient.phone, "mobile"),
        ("email", result.patient.email, "home"),
    }
    assert patient.address[0].district == result.patient.region_code

    (device,) = resources["Device"]
    assert device.serialNumber == result.unit_code
    assert device.lotNumber == result.lot_number
    assert device.expirationDate == result.lot_expiry
    assert device.manufacturer == result.product.manufacturer
    assert (device.deviceName[0].name, device.deviceName[0].type) == (
        result.product.name,
        "manufacturer-name",
    )

    (specimen,) = resources["Specimen"]
    assert specimen.collection.collectedDateTime == result.collected_at
    assert codings(specimen.type) == [(SNOMED_CT, "258500001")]

    (observation,) = resources["Observation"]
    assert observation.status == "final"
    assert codings(observation.code) == [(LOINC, "94558-4")]
    assert codings(observation.valueCodeableConcept) == [(SNOMED_CT, "260373001")]
    assert observation.effectiveDateTime == result.collected_at
    assert observation.issued == result.issued_at

    assert report.status == "final"
    assert codings(report.code) == [(LOINC, "94558-4")]
    assert report.issued == result.issued_at
    assert codings(report.conclusionCode[0]) == [(SNOMED_CT, "260373001")]
    (organization,) = resources["Organization"]
    (practitioner,) = resources["Practitioner"]
    assert organization.name == result.institution.name
    assert practitioner.name[0].text == result.clinician.name


@pytest.mark.parametrize(
    ("analyte_results", "snomed"),
    [
        (("positive", "negative", "negative"), ["260373001", "260415000", "260415000"]),
        (("negative", "negative", "negative"), ["260415000", "260415000", "260415000"]),
        (("invalid", "invalid", "invalid"), ["455371000124106"] * 3),
    ],
)
def test_each_analyte_of_a_multiplex_test_is_one_coded_observation(
    released: Released,
    sender: Sender,
    multiplex: Callable[..., dict[str, Any]],
    analyte_results: tuple[str, str, str],
    snomed: list[str],
) -> None:
    result = released(**multiplex(analyte_results))
    _, resources = read_back(bundle_json(result, sender))

    observations = resources["Observation"]
    assert [codings(o.code) for o in observations] == [
        [(LOINC, "80382-5")],
        [(LOINC, "80383-3")],
        [(LOINC, "94558-4")],
    ]
    assert [codings(o.valueCodeableConcept)[0][1] for o in observations] == snomed
    # The combination's own test item has no binding and no declared code: said, not guessed.
    (report,) = resources["DiagnosticReport"]
    assert codings(report.code) == [(DATA_ABSENT_REASON, "unknown")]
    assert report.code.text == result.product.test_item_name
    assert len(report.result) == 3
    # No specimen type recorded for this product: said in words, no code.
    assert resources["Specimen"][0].type.coding is None
    assert "not recorded" in resources["Specimen"][0].type.text


def test_an_unmapped_analyte_is_sent_by_name_with_an_explicit_unknown_code(
    released: Released, sender: Sender
) -> None:
    result = released(
        product={"test_item_name": "Dengue NS1 antigen", "test_item_loinc": None},
        analytes=({"analyte": "Dengue NS1 antigen", "result": "positive"},),
    )
    _, resources = read_back(bundle_json(result, sender))

    (observation,) = resources["Observation"]
    assert codings(observation.code) == [(DATA_ABSENT_REASON, "unknown")]
    assert observation.code.text == "Dengue NS1 antigen"
    assert not any(system == LOINC for system, _ in codings(observation.code))
    assert "No LOINC code is mapped" in observation.note[0].text
    # The result itself is still coded.
    assert codings(observation.valueCodeableConcept) == [(SNOMED_CT, "260373001")]


def test_the_manufacturers_declared_code_counts_only_when_it_is_a_valid_loinc_code(
    released: Released, sender: Sender
) -> None:
    unusual_name = {"test_item_name": "Cov Ag (nasal)"}
    analytes = ({"analyte": "Cov Ag (nasal)", "result": "negative"},)
    declared = released(
        product=unusual_name | {"test_item_loinc": "97097-0"}, analytes=analytes, result="negative"
    )
    mistyped = released(
        product=unusual_name | {"test_item_loinc": "97097-1"},
        analytes=analytes,
        result="negative",
    )

    _, good = read_back(bundle_json(declared, sender))
    _, bad = read_back(bundle_json(mistyped, sender))
    assert codings(good["Observation"][0].code) == [(LOINC, "97097-0")]
    assert "Upper respiratory" in good["Observation"][0].code.coding[0].display
    assert codings(bad["Observation"][0].code) == [(DATA_ABSENT_REASON, "unknown")]


def test_a_mapping_passed_in_replaces_the_seed(released: Released, sender: Sender) -> None:
    # An operator bound this product's analyte to the upper-respiratory code; any object with
    # the CodeMapping methods (the database-backed one later) is used the same way.
    seed = load_seed()
    operators = CodeTable(
        test_items={**seed.test_items, ("ACME-COV-AG", "sars-cov-2 antigen"): "97097-0"},
        loinc_codes=seed.loinc_codes,
        results=seed.results,
    )
    result = released()

    _, resources = read_back(bundle_json(result, sender, mapping=operators))
    assert codings(resources["Observation"][0].code) == [(LOINC, "97097-0")]
    _, with_seed = read_back(bundle_json(result, sender))
    assert codings(with_seed["Observation"][0].code) == [(LOINC, "94558-4")]


@pytest.mark.parametrize("status", ["corrected", "entered-in-error"])
def test_a_revised_report_carries_its_status_and_reason_everywhere(
    released: Released, sender: Sender, status: str
) -> None:
    first = released()
    revised = released(
        message_id="msg_0002",
        report_status=status,
        reason="second reader: the test line is absent",
        analytes=({"analyte": "SARS-CoV-2 antigen", "result": "negative"},),
        result="negative",
        issued_at=first.issued_at + timedelta(hours=3),
    )
    bundle, resources = read_back(bundle_json(revised, sender))

    (observation,) = resources["Observation"]
    (report,) = resources["DiagnosticReport"]
    assert observation.status == report.status == status
    assert observation.status in OBSERVATION_STATUSES
    assert report.status in REPORT_STATUSES
    assert codings(observation.valueCodeableConcept) == [(SNOMED_CT, "260415000")]
    assert any("second reader" in note.text for note in observation.note)
    assert "second reader" in resources["MessageHeader"][0].reason.text
    # Receivers replace by the result's identifier and de-duplicate by the message's.
    _, original = read_back(bundle_json(first, sender))
    assert report.identifier[0].value == original["DiagnosticReport"][0].identifier[0].value
    assert bundle.identifier.value == "msg_0002"
    assert report.id != original["DiagnosticReport"][0].id


def test_the_same_result_always_gives_the_same_bytes(released: Released, sender: Sender) -> None:
    assert bundle_json(released(), sender) == bundle_json(released(), sender)
    assert bundle_json(released(), sender) != bundle_json(released(message_id="msg_0003"), sender)


@pytest.mark.parametrize("part", ["patient", "clinician", "institution", "product", "lot"])
def test_hostile_texts_arrive_exactly_as_typed(
    released: Released, sender: Sender, hostile_text: str, part: str
) -> None:
    result = released()
    if part == "patient":
        result = released(patient={"name": hostile_text})
    elif part == "clinician":
        result = released(clinician=result.clinician.model_copy(update={"name": hostile_text}))
    elif part == "institution":
        result = released(institution=result.institution.model_copy(update={"name": hostile_text}))
    elif part == "product":
        result = released(product={"name": hostile_text})
    else:
        result = released(lot_number=hostile_text)
    _, resources = read_back(bundle_json(result, sender))

    # Control characters FHIR strings exclude are replaced visibly; everything else is exact.
    expected = fhir_text(hostile_text)
    found = {
        "patient": lambda: resources["Patient"][0].name[0].text,
        "clinician": lambda: resources["Practitioner"][0].name[0].text,
        "institution": lambda: resources["Organization"][0].name,
        "product": lambda: resources["Device"][0].deviceName[0].name,
        "lot": lambda: resources["Device"][0].lotNumber,
    }[part]()
    assert found == expected
    assert len(resources["Observation"]) == 1


def test_fhir_text_replaces_only_the_excluded_control_characters() -> None:
    kept = "tab\tcr\rlf\n \u202e\u2028 李"
    assert fhir_text(kept) == kept
    assert fhir_text("a\x00b\x1fc") == "a\ufffdb\ufffdc"


def test_a_period_is_one_bundle_per_ndjson_line(
    released: Released, sender: Sender, multiplex: Callable[..., dict[str, Any]]
) -> None:
    results = [
        released(message_id=f"msg_{index:04d}", patient={"name": text})
        for index, text in enumerate(["Li Si", "line\u2028sep\nnew\x85line", "\u202eevil"])
    ]
    results.append(released(message_id="msg_0100", **multiplex(("negative",) * 3)))

    lines = list(bundles_ndjson(results, sender))
    text = "".join(lines)
    assert text.isascii()
    # Whatever a reader splits on, it finds one Bundle per result.
    assert text.splitlines() == [line.rstrip("\n") for line in lines]
    assert len(text.splitlines()) == len(results)
    for line, result in zip(text.splitlines(), results, strict=True):
        bundle, resources = read_back(line)
        assert bundle.identifier.value == result.message_id
        assert resources["Patient"][0].name[0].text == fhir_text(result.patient.name)
        assert len(resources["Observation"]) == len(result.analytes)


@pytest.mark.parametrize(
    ("system", "sent"),
    [
        (None, None),
        ("2.25.99", "urn:oid:2.25.99"),
        ("urn:oid:2.25.99", "urn:oid:2.25.99"),
        ("https://id.example.gov/resident", "https://id.example.gov/resident"),
    ],
)
def test_the_national_id_system_is_sent_as_a_uri(
    released: Released, sender: Sender, system: str | None, sent: str | None
) -> None:
    result = released(patient={"national_id_system": system})
    _, resources = read_back(bundle_json(result, sender))
    national = [
        identifier
        for identifier in resources["Patient"][0].identifier
        if identifier.value == result.patient.national_id
    ]
    assert [(identifier.system, codings(identifier.type)) for identifier in national] == [
        (sent, [("http://terminology.hl7.org/CodeSystem/v2-0203", "NI")])
    ]
