"""A released result as an HL7 v2.5.1 ORU^R01 electronic lab report, built with ``hl7apy``.

One message: MSH, PID, ORC, OBR, one OBX per analyte (each followed by NTE notes when its
test is unmapped or the report corrects an earlier one), SPM. A period goes out as one
batch file: FHS, BHS, the messages, BTS, FTS.

Result status (HL7 v2.5.1 Table 0085, OBX-11): ``F`` final; ``C`` "record coming over is a
correction and thus replaces a final result"; ``W`` "post original as wrong, e.g.
transmitted for wrong patient" for a withdrawn (entered-in-error) result. ``W`` rather than
``D`` ("deletes the OBX record") because Vigil withdraws the whole report as wrong, not one
observation; the HL7 v2-to-FHIR mapping (ConceptMap table-hl70085-to-observation-status,
v1.0.0) maps both ``W`` and ``D`` to FHIR ``entered-in-error``. The order's status (OBR-25,
Table 0123) is ``F`` for the first release and ``C`` (correction to results) for both later
versions.

Escaping: every text value goes through :func:`escape` before ``hl7apy`` sees it, and
``hl7apy`` is kept from escaping it again. Its own escaping is not enough for hostile text:
it leaves a literal ``\\F\\`` as is (which a receiver reads as ``|``) and passes carriage
returns through (which would start a new segment).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from hl7apy.base_datatypes import ST, TextualDataType
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Element, Field, Group, Message, Segment, SubComponent

from api.interop.codes import CodeMapping, analyte_code, item_code, load_seed, message_notes
from api.interop.schemas import (
    Coding,
    Receiver,
    ReleasedResult,
    ReportStatus,
    Sender,
    bare_oid,
)

VERSION = "2.5.1"
SEGMENT_END = "\r"

OBSERVATION_STATUS: dict[ReportStatus, str] = {
    "final": "F",
    "corrected": "C",
    "entered-in-error": "W",
}
"""Report status -> OBX-11 (HL7 Table 0085)."""

ORDER_STATUS: dict[ReportStatus, str] = {"final": "F", "corrected": "C", "entered-in-error": "C"}
"""Report status -> OBR-25 (HL7 Table 0123)."""

SEX: dict[str, str] = {"female": "F", "male": "M", "other": "O", "unknown": "U"}
"""FHIR administrative gender -> PID-8 (HL7 Table 0001)."""

CODING_SYSTEMS = {"http://loinc.org": "LN", "http://snomed.info/sct": "SCT"}
"""FHIR code system URI -> HL7 Table 0396 name."""

_DELIMITERS = {"\\": "\\E\\", "|": "\\F\\", "^": "\\S\\", "&": "\\T\\", "~": "\\R\\"}

Component = str | tuple[str, ...] | None
"""A component's text, or its subcomponents' texts; ``None`` leaves it empty."""


def _hex(char: str) -> str:
    return f"\\X{char.encode('utf-8').hex().upper()}\\"


# Characters written as hexadecimal escapes: the C0 controls and DEL, and the Unicode line
# breaks (NEL, LS, PS) that line-oriented readers such as str.splitlines also split on.
_HEX = frozenset([*map(chr, range(0x20)), "\x7f", "\x85", "\u2028", "\u2029"])


def escape(text: str) -> str:
    r"""Text as it may stand inside an HL7 field, with the default encoding characters.

    The five delimiters become escape sequences and line breaks and other control characters
    hexadecimal escapes of their UTF-8 bytes (``\Xhh..\``; v2.5.1 section 2.7.4, and MSH-18
    says ``UNICODE UTF-8``). Everything else, bidi controls included, is kept as it is, so
    a name arrives as typed and can never end a field, component or segment early.

    Examples
    --------
    >>> print(escape("A|B^C&D~E\\F\nG\u2028H"))
    A\F\B\S\C\T\D\R\E\E\F\X0A\G\XE280A8\H
    """
    return "".join(
        _DELIMITERS[char] if char in _DELIMITERS else _hex(char) if char in _HEX else char
        for char in text
    )


class _Escaped(ST):
    """Text already passed through :func:`escape`; ``hl7apy`` writes it as it is."""

    def to_er7(self, encoding_chars: object = None) -> str:
        return str(self.value)


def _keep_escaped(element: Element) -> None:
    if isinstance(element, SubComponent):
        value = element.value
        if isinstance(value, TextualDataType) and not isinstance(value, _Escaped):
            element.value = _Escaped(value.value, validation_level=VALIDATION_LEVEL.TOLERANT)
        return
    for child in element.children:
        _keep_escaped(child)


def _field_er7(components: Sequence[Component]) -> str:
    texts = [
        ""
        if component is None
        else escape(component)
        if isinstance(component, str)
        else "&".join(escape(part) for part in component).rstrip("&")
        for component in components
    ]
    return "^".join(texts).rstrip("^")


def _put(segment: Segment, name: str, *repetitions: Sequence[Component]) -> None:
    """Set a field (each repetition a list of components) from raw text, escaped here once."""
    if segment.children.get(name):
        delattr(segment, name.lower())  # replace, e.g. the MSH-7 hl7apy fills in with "now"
    for components in repetitions:
        er7 = _field_er7(components)
        if not er7:
            continue
        field = Field(name, version=VERSION)
        field.value = er7
        _keep_escaped(field)
        segment.add(field)


def _ts(moment: datetime) -> str:
    """HL7 TS/DTM with seconds and the moment's own UTC offset."""
    return moment.strftime("%Y%m%d%H%M%S%z")


def _hd(namespace: str, oid: str | None) -> tuple[str, ...]:
    return (namespace,) if oid is None else (namespace, oid, "ISO")


def _ce(coding: Coding | None, text: str) -> list[Component]:
    """A CE/CWE: the standard code when there is one, else the text as a local code."""
    if coding is None:
        return [text, text, "L"]
    # A system without an HL7 Table 0396 name is sent as a local ("L") code.
    system = CODING_SYSTEMS.get(coding.system, "L")
    return [coding.code, coding.display or text, system]


def _facility(sender: Sender) -> tuple[str, ...]:
    """The sending facility as HD components: also the authority of every id Vigil assigns."""
    return _hd(sender.facility, sender.facility_oid)


def _header(
    segment: Segment, kind: str, when: datetime, sender: Sender, receiver: Receiver | None
) -> None:
    # MSH, FHS and BHS share their first fields: separators, sender, receiver, time.
    _put(segment, f"{kind}_3", [sender.application])
    _put(segment, f"{kind}_4", list(_facility(sender)))
    if receiver is not None:
        _put(segment, f"{kind}_5", [receiver.application])
        _put(segment, f"{kind}_6", [receiver.facility])
    _put(segment, f"{kind}_7", [_ts(when)])


def _notes(group: Group, texts: Iterable[str]) -> None:
    for number, text in enumerate(texts, start=1):
        nte = Segment("NTE", version=VERSION)
        _put(nte, "NTE_1", [str(number)])
        _put(nte, "NTE_2", ["L"])  # Table 0105: the filler (Vigil) is the comment's source
        _put(nte, "NTE_3", [text])
        group.add(nte)


def build_oru_r01(
    result: ReleasedResult,
    sender: Sender,
    receiver: Receiver | None = None,
    mapping: CodeMapping | None = None,
) -> str:
    """The ORU^R01 v2.5.1 message for one version of one released result.

    Parameters
    ----------
    result
        The released result (first release, correction or withdrawal).
    sender
        This installation (MSH-3/4).
    receiver
        The agency it is addressed to (MSH-5/6), if any.
    mapping
        The code mapping; the shipped seed when ``None``.

    Returns
    -------
    str
        The message in ER7, each segment ended by ``\\r``; encode as UTF-8.
    """
    mapping = load_seed() if mapping is None else mapping
    message = Message("ORU_R01", version=VERSION, validation_level=VALIDATION_LEVEL.TOLERANT)
    msh = message.msh
    _header(msh, "MSH", result.issued_at, sender, receiver)
    msh.msh_9 = "ORU^R01^ORU_R01"
    _put(msh, "MSH_10", [result.message_id])
    msh.msh_11 = sender.processing_id
    msh.msh_18 = "UNICODE UTF-8"

    pid = Segment("PID", version=VERSION)
    _pid(pid, result, sender)
    patient = Group("ORU_R01_PATIENT", version=VERSION)
    patient.add(pid)

    authority = _facility(sender)
    filler_order: list[Component] = [result.result_id, *authority]
    orc = Segment("ORC", version=VERSION)
    _put(orc, "ORC_1", ["RE"])  # Table 0119: observations to follow
    _put(orc, "ORC_3", filler_order)
    _put(orc, "ORC_21", [result.institution.name, *[None] * 8, result.institution.id])

    item = item_code(result.product, mapping)
    obr = Segment("OBR", version=VERSION)
    _put(obr, "OBR_1", ["1"])
    _put(obr, "OBR_3", filler_order)
    _put(obr, "OBR_4", _ce(item.coding, item.text))
    _put(obr, "OBR_7", [_ts(result.collected_at)])
    _put(obr, "OBR_22", [_ts(result.issued_at)])
    _put(obr, "OBR_25", [ORDER_STATUS[result.report_status]])
    _put(obr, "OBR_32", [(result.clinician.id, result.clinician.name)])
    order = Group("ORU_R01_ORDER_OBSERVATION", version=VERSION)
    order.add(orc)
    order.add(obr)

    sole = len(result.analytes) == 1
    for number, reading in enumerate(result.analytes, start=1):
        group = Group("ORU_R01_OBSERVATION", version=VERSION)
        obx = Segment("OBX", version=VERSION)
        code = analyte_code(result.product, reading.analyte, sole_analyte=sole, mapping=mapping)
        value = mapping.snomed_for(reading.result)
        _put(obx, "OBX_1", [str(number)])
        _put(obx, "OBX_2", ["CWE"])
        _put(obx, "OBX_3", _ce(code.coding, code.text))
        _put(obx, "OBX_5", _ce(value, reading.result) if value else [None, reading.result])
        _put(obx, "OBX_11", [OBSERVATION_STATUS[result.report_status]])
        _put(obx, "OBX_14", [_ts(result.collected_at)])
        _put(obx, "OBX_16", [result.clinician.id, result.clinician.name])
        _put(obx, "OBX_18", [result.unit_code, *authority])
        _put(obx, "OBX_23", [result.institution.name, *[None] * 8, result.institution.id])
        group.add(obx)
        _notes(group, message_notes(result, code))
        order.add(group)

    specimen = Group("ORU_R01_SPECIMEN", version=VERSION)
    spm = Segment("SPM", version=VERSION)
    specimen_type = result.product.specimen_type
    _put(spm, "SPM_1", ["1"])
    _put(spm, "SPM_2", [None, (result.result_id, *authority)])
    _put(
        spm,
        "SPM_4",
        _ce(specimen_type, specimen_type.display or specimen_type.code)
        if specimen_type is not None
        else [None, "Specimen type not recorded for this product"],
    )
    _put(spm, "SPM_17", [_ts(result.collected_at)])
    specimen.add(spm)
    order.add(specimen)
    patient_result = Group("ORU_R01_PATIENT_RESULT", version=VERSION)
    patient_result.add(patient)
    patient_result.add(order)
    message.add(patient_result)
    # Every segment ends with the segment terminator, the last one included.
    return str(message.to_er7()) + SEGMENT_END


def _pid(pid: Segment, result: ReleasedResult, sender: Sender) -> None:
    person = result.patient
    identifiers: list[list[Component]] = [[person.id, None, None, _facility(sender), "PI"]]
    if person.national_id is not None:
        system = person.national_id_system
        oid = None if system is None else bare_oid(system)
        authority = None if system is None else ("", oid, "ISO") if oid else ("", system, "URI")
        identifiers.append([person.national_id, None, None, authority, "NI"])
    _put(pid, "PID_1", ["1"])
    _put(pid, "PID_3", *identifiers)
    # Vigil keeps the name as one string; it goes whole into the family name rather than
    # being split on a guess. XPN-7 "L": legal name.
    _put(pid, "PID_5", [person.name, None, None, None, None, None, "L"])
    if person.birth_date is not None:
        _put(pid, "PID_7", [person.birth_date.strftime("%Y%m%d")])
    _put(pid, "PID_8", [SEX[person.sex]])
    # XAD-7 "H" home; XAD-9 county/parish code carries Vigil's region code.
    _put(pid, "PID_11", [None, None, None, None, None, None, "H", None, person.region_code])
    telecom: list[list[Component]] = []
    if person.phone is not None:
        telecom.append([None, "PRN", "CP", *[None] * 8, person.phone])  # CP: cellular
    if person.email is not None:
        telecom.append([None, "NET", "Internet", person.email])
    _put(pid, "PID_13", *telecom)


def build_batch(
    results: Iterable[ReleasedResult],
    sender: Sender,
    batch_id: str,
    created_at: datetime,
    receiver: Receiver | None = None,
    mapping: CodeMapping | None = None,
) -> str:
    """One HL7 batch file (FHS, BHS, ORU^R01 messages, BTS, FTS) for a period's results.

    ``batch_id`` goes into FHS-11 and BHS-11 (the control ids) and ``created_at`` into
    FHS-7/BHS-7, so the same inputs always give the same file.
    """
    mapping = load_seed() if mapping is None else mapping
    messages = [build_oru_r01(result, sender, receiver, mapping) for result in results]
    headers = []
    for kind in ("FHS", "BHS"):
        segment = Segment(kind, version=VERSION)
        _header(segment, kind, created_at, sender, receiver)
        _put(segment, f"{kind}_11", [batch_id])
        # As in MSH, field 1 is the field separator right after the segment name and field 2
        # the encoding characters; hl7apy treats FHS and BHS as ordinary segments, so the
        # two are written here in place of the empty ones hl7apy writes ("FHS||").
        headers.append(f"{kind}|^~\\&{segment.to_er7()[len(kind) + 2 :]}")
    bts = Segment("BTS", version=VERSION)
    _put(bts, "BTS_1", [str(len(messages))])
    fts = Segment("FTS", version=VERSION)
    _put(fts, "FTS_1", ["1"])  # one batch in the file
    bodies = [message.removesuffix(SEGMENT_END) for message in messages]
    return SEGMENT_END.join([*headers, *bodies, bts.to_er7(), fts.to_er7()]) + SEGMENT_END
