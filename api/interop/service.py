"""The code mapping as operators keep it: stored, changed with an audit entry, read by
every message built (:func:`stored_mapping`)."""

from __future__ import annotations

import unicodedata

from sqlalchemy.orm import Session

from api.accounts.schemas import Caller
from api.audit.service import record
from api.db.base import utcnow
from api.errors import ConflictError, InvalidError, NotFoundError
from api.interop import queries
from api.interop.codes import SNOMED_CT, CodeTable, is_loinc, normalise_name
from api.interop.schemas import (
    CodeBindingChange,
    CodeBindingIn,
    CodeBindingOut,
    Coding,
    Result,
    ResultCodeIn,
    ResultCodeOut,
)
from api.interop.tables import ANY_PRODUCT, LoincCode, ResultCode, TestItemCode
from api.pagination import ALL, Window


def stored_mapping(session: Session) -> CodeTable:
    """The mapping as stored now, for the message builders (a few rows, read whole)."""
    return CodeTable(
        test_items={
            (row.product_code or None, row.name_key): row.loinc for row in queries.bindings(session)
        },
        loinc_codes={row.code: row.display for row in queries.loinc_codes(session)},
        results={
            row.result: Coding(system=SNOMED_CT, code=row.code, display=row.display)
            for row in queries.result_codes(session)
        },
    )


def _binding_out(session: Session, row: TestItemCode) -> CodeBindingOut:
    known = session.get(LoincCode, row.loinc)
    return CodeBindingOut(
        id=row.id,
        product_code=row.product_code or None,
        name=row.name,
        loinc=row.loinc,
        loinc_display=known.display if known is not None else None,
        updated_at=row.updated_at,
    )


def list_bindings(session: Session, window: Window = ALL) -> list[CodeBindingOut]:
    """Every binding, oldest first."""
    return [_binding_out(session, row) for row in queries.bindings(session, window)]


def _binding(session: Session, binding_id: int) -> TestItemCode:
    row = session.get(TestItemCode, binding_id)
    if row is None:
        raise NotFoundError(f"no code binding {binding_id}")
    return row


def get_binding(session: Session, binding_id: int) -> CodeBindingOut:
    return _binding_out(session, _binding(session, binding_id))


def _plain(field: str, text: str) -> str:
    """``text`` stripped, refused when empty or holding control characters (the page's
    forms are not checked by the API's request guard)."""
    text = text.strip()
    if not text or any(unicodedata.category(c) == "Cc" for c in text):
        raise InvalidError(f"{field}: must be plain text without control characters")
    return text


def _known_loinc(session: Session, code: str, display: str | None) -> None:
    """Refuse a code failing its check digit; learn (or rename) its display when given."""
    if not is_loinc(code):
        raise InvalidError(f"loinc: {code!r} fails the LOINC check digit")
    known = session.get(LoincCode, code)
    if display is not None:
        display = _plain("loinc_display", display)
        if known is None:
            session.add(LoincCode(code=code, display=display))
        else:
            known.display = display
    elif known is None:
        raise InvalidError(
            f"loinc_display: {code} is a code Vigil does not know yet; give its long common name"
        )


def add_binding(session: Session, actor: Caller, body: CodeBindingIn) -> CodeBindingOut:
    """Bind a test item or analyte name (for one product or any) to a LOINC code."""
    name = _plain("name", body.name)
    product_code = _plain("product_code", body.product_code) if body.product_code else ANY_PRODUCT
    key = normalise_name(name)
    if queries.binding_for(session, product_code, key) is not None:
        raise ConflictError(f"name: {name!r} is already bound for these products; change it")
    _known_loinc(session, body.loinc, body.loinc_display)
    row = TestItemCode(
        product_code=product_code,
        name=name,
        name_key=key,
        loinc=body.loinc,
        updated_at=utcnow(),
        updated_by=actor.id,
    )
    session.add(row)
    session.flush()
    record(
        session,
        actor,
        "bind_code",
        "code_binding",
        row.id,
        product_code=product_code or None,
        name=name,
        loinc=row.loinc,
    )
    return _binding_out(session, row)


def change_binding(
    session: Session, actor: Caller, binding_id: int, body: CodeBindingChange
) -> CodeBindingOut:
    """Bind an existing name to another LOINC code."""
    row = _binding(session, binding_id)
    _known_loinc(session, body.loinc, body.loinc_display)
    previous = row.loinc
    row.loinc = body.loinc
    row.updated_at = utcnow()
    row.updated_by = actor.id
    session.flush()
    record(
        session, actor, "rebind_code", "code_binding", row.id, loinc=row.loinc, previous=previous
    )
    return _binding_out(session, row)


def _result_out(row: ResultCode) -> ResultCodeOut:
    return ResultCodeOut.model_validate(row, from_attributes=True)


def list_result_codes(session: Session) -> list[ResultCodeOut]:
    return [_result_out(row) for row in queries.result_codes(session)]


def set_result_code(
    session: Session, actor: Caller, result: Result, body: ResultCodeIn
) -> ResultCodeOut:
    """Change (or give) the SNOMED CT code a confirmed result is sent as."""
    display = _plain("display", body.display)
    row = session.get(ResultCode, result)
    previous = row.code if row is not None else None
    if row is None:
        row = ResultCode(result=result, code=body.code, display=display)
        session.add(row)
    row.code, row.display = body.code, display
    row.updated_at, row.updated_by = utcnow(), actor.id
    session.flush()
    record(
        session, actor, "set_result_code", "result_code", result, code=row.code, previous=previous
    )
    return _result_out(row)
