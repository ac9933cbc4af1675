"""ORU^R01 messages and batch files, read back with hl7apy and with python-hl7 (independent)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import hl7
import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from api.interop.hl7 import build_batch, build_oru_r01, escape
from api.interop.schemas import Receiver, ReleasedResult, Sender

Released = Callable[..., ReleasedResult]


def decode(value: str) -> str:
    """HL7 v2.5.1 section 2.7.4 unescaping with the default delimiters, ``\\X..\\`` as UTF-8.

    The test's own oracle: python-hl7 decodes each hex byte as one character, which is
    right only for ASCII, so multi-byte escapes (U+2028 and the like) are decoded here.
    """
    table = {"F": "|", "S": "^", "T": "&", "R": "~", "E": "\\"}

    def one(match: re.Match[str]) -> str:
        body = match.group(1)
        return table[body] if body in table else bytes.fromhex(body[1:]).decode("utf-8")

    return re.sub(r"\\(F|S|T|R|E|X[0-9A-F]+)\\", one, value)


def raw(message: Any, where: str) -> str:
    """One component exactly as sent (still escaped), e.g. ``raw(message, "PID.F5.R1.C1")``.

    python-hl7's accessors unescape as they read; this splits the segment python-hl7 parsed
    on the delimiters, which escaped text can never contain.
    """
    segment_id, *steps = where.split(".")
    field, repetition, component = (int(step[1:]) for step in steps)
    fields = str(message.segment(segment_id)).split("|")
    return fields[field].split("~")[repetition - 1].split("^")[component - 1]


def read(text: str) -> tuple[Any, Any]:
    """The message parsed by hl7apy (strict, and validated) and by python-hl7."""
    assert text.endswith("\r")
    strict = parse_message(text, validation_level=VALIDATION_LEVEL.STRICT)
    assert strict.validate()
    return strict, hl7.parse(text)


def ids(message: Any) -> list[str]:
    return [str(segment[0]) for segment in message]


def test_a_released_result_reads_back_with_both_parsers(released: Released, sender: Sender) -> None:
    swab = {
        "system": "http://snomed.info/sct",
        "code": "258500001",
        "display": "Nasopharyngeal swab",
    }
    result = released(product={"specimen_type": swab})
    receiver = Receiver(application="NNDSS", facility="Beijing CDC", endpoint="https://cdc.test/")
    strict, plain = read(build_oru_r01(result, sender, receiver))

    assert ids(plain) == ["MSH", "PID", "ORC", "OBR", "OBX", "SPM"]
    assert str(plain.segment("MSH")[9]) == "ORU^R01^ORU_R01"
    assert str(plain["MSH.F10"]) == result.message_id
    assert str(plain["MSH.F12"]) == "2.5.1"
    assert str(plain["MSH.F18"]) == "UNICODE UTF-8"
    assert str(plain.segment("MSH")[3]) == "Vigil"
    assert str(plain.segment("MSH")[4]) == "Vigil Test^2.25.1234^ISO"
    assert str(plain.segment("ORC")[3]) == f"{result.result_id}^Vigil Test^2.25.1234^ISO"
    assert str(plain["MSH.F5"]) == "NNDSS"
    assert str(plain["MSH.F7"]) == result.issued_at.strftime("%Y%m%d%H%M%S%z")
    assert str(plain["MSH.F7"]).endswith("+0800")

    assert str(plain["PID.F3.R1.C1"]) == result.patient.id
    assert str(plain["PID.F3.R1.C5"]) == "PI"
    assert str(plain["PID.F3.R2.C1"]) == result.patient.national_id
    assert str(plain["PID.F3.R2.C5"]) == "NI"
    assert str(plain["PID.F5.R1.C1"]) == result.patient.name
    assert str(plain["PID.F7"]) == "19900307"
    assert str(plain["PID.F8"]) == "F"
    assert str(plain["PID.F11.R1.C9"]) == result.patient.region_code
    assert str(plain["PID.F13.R1.C12"]) == result.patient.phone
    assert str(plain["PID.F13.R1.C3"]) == "CP"
    assert str(plain["PID.F13.R2.C4"]) == result.patient.email

    assert str(plain["ORC.F1"]) == "RE"
    assert str(plain["ORC.F3.R1.C1"]) == str(plain["OBR.F3.R1.C1"]) == result.result_id
    assert (str(plain["OBR.F4.R1.C1"]), str(plain["OBR.F4.R1.C3"])) == ("94558-4", "LN")
    assert str(plain["OBR.F7"]) == result.collected_at.strftime("%Y%m%d%H%M%S%z")
    assert str(plain["OBR.F25"]) == "F"

    assert str(plain["OBX.F2"]) == "CWE"
    assert (str(plain["OBX.F3.R1.C1"]), str(plain["OBX.F3.R1.C3"])) == ("94558-4", "LN")
    assert (str(plain["OBX.F5.R1.C1"]), str(plain["OBX.F5.R1.C3"])) == ("260373001", "SCT")
    assert str(plain["OBX.F11"]) == "F"
    assert str(plain["OBX.F16.R1.C2"]) == result.clinician.name
    assert str(plain["OBX.F18.R1.C1"]) == result.unit_code
    assert str(plain["OBX.F23.R1.C1"]) == result.institution.name
    assert str(plain["SPM.F2.R1.C2.S1"]) == result.result_id
    assert str(plain.segment("SPM")[4]) == "258500001^Nasopharyngeal swab^SCT"
    assert str(plain["SPM.F17"]) == result.collected_at.strftime("%Y%m%d%H%M%S%z")

    # The same fields as hl7apy's typed model sees them.
    assert strict.msh.msh_10.value == result.message_id
    order = strict.oru_r01_patient_result.oru_r01_order_observation
    obx = order.oru_r01_observation.obx
    assert obx.obx_3.ce_1.value == "94558-4"
    assert obx.obx_11.value == "F"
    assert order.oru_r01_specimen.spm.spm_17.to_er7() == str(plain["SPM.F17"])


def test_each_analyte_of_a_multiplex_test_is_one_obx(
    released: Released, sender: Sender, multiplex: Callable[..., dict[str, Any]]
) -> None:
    result = released(**multiplex(("negative", "positive", "negative")))
    strict, plain = read(build_oru_r01(result, sender))

    observations = plain.segments("OBX")
    assert [str(obx[1]) for obx in observations] == ["1", "2", "3"]
    assert [str(obx[3][0][0]) for obx in observations] == ["80382-5", "80383-3", "94558-4"]
    assert [str(obx[5][0][0]) for obx in observations] == ["260415000", "260373001", "260415000"]
    assert len(strict.oru_r01_patient_result.oru_r01_order_observation.oru_r01_observation) == 3
    # The combination's own test item is unmapped: a local code, said so, never guessed.
    assert str(plain["OBR.F4.R1.C3"]) == "L"
    assert str(plain["OBR.F4.R1.C2"]) == result.product.test_item_name


def test_an_unmapped_analyte_goes_with_a_local_code_and_a_note(
    released: Released, sender: Sender
) -> None:
    result = released(
        product={"test_item_name": "Dengue NS1 antigen", "test_item_loinc": None},
        analytes=({"analyte": "Dengue NS1 antigen", "result": "invalid"},),
        result="invalid",
    )
    _, plain = read(build_oru_r01(result, sender))

    assert ids(plain) == ["MSH", "PID", "ORC", "OBR", "OBX", "NTE", "SPM"]
    assert str(plain["OBX.F3.R1.C2"]) == "Dengue NS1 antigen"
    assert str(plain["OBX.F3.R1.C3"]) == "L"
    assert "LN" not in str(plain.segment("OBX")[3])
    assert "No LOINC code is mapped" in str(plain["NTE.F3"])
    assert str(plain["OBX.F5.R1.C1"]) == "455371000124106"


@pytest.mark.parametrize(
    ("status", "obx_11", "obr_25"),
    [("final", "F", "F"), ("corrected", "C", "C"), ("entered-in-error", "W", "C")],
)
def test_the_report_status_maps_to_table_0085_and_0123(
    released: Released, sender: Sender, status: str, obx_11: str, obr_25: str
) -> None:
    first = released()
    reason = None if status == "final" else "wrong patient: photo uploaded from another account"
    result = released(
        message_id="msg_0009",
        report_status=status,
        reason=reason,
        issued_at=first.issued_at + timedelta(days=1),
    )
    _, plain = read(build_oru_r01(result, sender))

    assert str(plain["OBX.F11"]) == obx_11
    assert str(plain["OBR.F25"]) == obr_25
    assert str(plain["OBR.F22"]) == result.issued_at.strftime("%Y%m%d%H%M%S%z")
    notes = [decode(str(nte[3])) for nte in plain.segments("NTE")] if reason else []
    assert notes == ([f"{status}: {reason}"] if reason else [])
    # Same result, new message: receivers replace by the order number, de-duplicate by MSH-10.
    _, original = read(build_oru_r01(first, sender))
    assert str(plain["OBR.F3.R1.C1"]) == str(original["OBR.F3.R1.C1"])
    assert str(plain["MSH.F10"]) != str(original["MSH.F10"])


@pytest.mark.parametrize("part", ["patient", "clinician", "institution", "unit code", "reason"])
def test_hostile_texts_arrive_exactly_and_leave_the_structure_alone(
    released: Released, sender: Sender, hostile_text: str, part: str
) -> None:
    plain_ids = ids(read(build_oru_r01(released(), sender))[1])
    every_change: dict[str, dict[str, Any]] = {
        "patient": {"patient": {"name": hostile_text}},
        "clinician": {"clinician": {"id": "clin_9", "name": hostile_text}},
        "institution": {
            "institution": {"id": "inst_3", "name": hostile_text, "region_code": "110101"}
        },
        "unit code": {"unit_code": hostile_text},
        "reason": {"report_status": "corrected", "reason": hostile_text},
    }
    changes = every_change[part]
    text = build_oru_r01(released(**changes), sender)
    strict, plain = read(text)

    expected_ids = [*plain_ids[:5], "NTE", plain_ids[5]] if part == "reason" else plain_ids
    assert ids(plain) == expected_ids
    assert text.count("\r") == len(expected_ids)
    assert "\n" not in text
    where = {
        "patient": "PID.F5.R1.C1",
        "clinician": "OBX.F16.R1.C2",
        "institution": "OBX.F23.R1.C1",
        "unit code": "OBX.F18.R1.C1",
        "reason": "NTE.F3.R1.C1",
    }[part]
    expected = f"corrected: {hostile_text}" if part == "reason" else hostile_text
    assert decode(raw(plain, where)) == expected
    if not any(char in hostile_text for char in "\x85\u2028\u2029"):
        # python-hl7's own unescaping agrees wherever it can (single-byte hex escapes).
        assert str(plain[where]) == expected
    if part == "patient":
        # hl7apy sees one intact family-name subcomponent holding the text as sent.
        pid = strict.oru_r01_patient_result.oru_r01_patient.pid
        assert decode(pid.pid_5.xpn_1.fn_1.value.value) == hostile_text


def test_escape_covers_every_delimiter_and_line_break() -> None:
    escaped = escape("|^&~\\\r\n\x0b\x0c\x1c\x85\u2028\u2029\t")
    assert not set(escaped) & set("|^&~\r\n\x0b\x0c\x1c\x85\u2028\u2029\t")
    assert decode(escaped) == "|^&~\\\r\n\x0b\x0c\x1c\x85\u2028\u2029\t"
    assert escape("\u202eRTL stays\u202c 李四") == "\u202eRTL stays\u202c 李四"


def test_a_period_is_one_batch_file_that_both_parsers_split_into_its_messages(
    released: Released, sender: Sender, multiplex: Callable[..., dict[str, Any]]
) -> None:
    results = [
        released(message_id="msg_0101"),
        released(message_id="msg_0102", patient={"name": "line\u2028sep\r\nMSH|^~\\&|FAKE"}),
        released(message_id="msg_0103", **multiplex(("invalid",) * 3)),
    ]
    created = datetime(2026, 11, 30, 0, 0, 5, tzinfo=results[0].issued_at.tzinfo)
    text = build_batch(results, sender, "batch_20261129", created)

    segments = text.split("\r")
    assert segments[-1] == ""
    assert [segment[:3] for segment in segments[:2]] == ["FHS", "BHS"]
    assert [segment[:3] for segment in segments[-3:-1]] == ["BTS", "FTS"]
    file = hl7.parse_file(text)
    assert str(file.header[11]) == "batch_20261129"
    assert str(file.header[7]) == "20261130000005+0800"
    (batch,) = file
    assert str(batch.header[11]) == "batch_20261129"
    assert str(batch.trailer[1]) == "3"
    assert str(file.trailer[1]) == "1"
    assert [str(message["MSH.F10"]) for message in batch] == [r.message_id for r in results]
    assert [len(message.segments("OBX")) for message in batch] == [1, 1, 3]
    assert decode(raw(batch[1], "PID.F5.R1.C1")) == results[1].patient.name
    # Each message of the batch is also a valid ORU^R01 to hl7apy.
    for message, result in zip(batch, results, strict=True):
        strict, _ = read(str(message) + "\r")  # python-hl7 drops the last terminator
        assert strict.msh.msh_10.value == result.message_id


def test_the_same_result_always_gives_the_same_message(released: Released, sender: Sender) -> None:
    assert build_oru_r01(released(), sender) == build_oru_r01(released(), sender)


@pytest.mark.parametrize(
    ("system", "authority"),
    [
        (None, ""),
        ("2.25.99", "&2.25.99&ISO"),
        ("urn:oid:2.25.99", "&2.25.99&ISO"),
        ("https://id.example.gov/resident", "&https://id.example.gov/resident&URI"),
    ],
)
def test_the_national_id_names_its_assigning_authority(
    released: Released, sender: Sender, system: str | None, authority: str
) -> None:
    _, plain = read(build_oru_r01(released(patient={"national_id_system": system}), sender))
    assert raw(plain, "PID.F3.R2.C4") == authority
    assert str(plain["PID.F3.R2.C1"]) == "110101199003071234"
