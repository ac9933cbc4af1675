"""Step 4: public look-up of a unit code."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from api.batches import queries as batch_queries
from api.batches.service import effective_state
from api.batches.tables import Batch, Unit
from api.errors import InvalidError, NotFoundError
from api.organisations.tables import Manufacturer
from api.products.tables import Product
from api.unit_codes import UnitCodeError, code_from_scan

if TYPE_CHECKING:
    from pipeline.kit import KitDescription
from api.units.schemas import Interpretation, LineCriterion, UnitLookup


def canonical_code(text: str) -> str:
    """The canonical code in typed or scanned text; 422 saying what is wrong with it."""
    try:
        return code_from_scan(text)
    except UnitCodeError as exc:
        raise InvalidError(f"code: {exc}") from None


def find_unit(session: Session, text: str, *, lock: bool = False) -> tuple[Unit, Batch, Product]:
    code = canonical_code(text)
    unit = batch_queries.unit_by_code(session, code, lock=lock)
    if unit is None:
        raise NotFoundError(f"unknown code {code}: no unit was issued with it")
    batch = session.get(Batch, unit.batch_id)
    assert batch is not None
    product = session.get(Product, batch.product_id)
    assert product is not None
    return unit, batch, product


def interpretation(kit: KitDescription) -> Interpretation:
    lines = [
        LineCriterion(
            name=line.name,
            role=line.role,
            at=line.at,
            analyte=line.analyte,
            present_means=line.present_means or "reactive",
        )
        for line in kit.lines
    ]
    controls = [line.name for line in lines if line.role == "control"]
    rules = [f"No {' or '.join(controls)} line: the test is invalid, use a new one."]
    for line in lines:
        if line.role == "test":
            what = line.analyte or line.name
            meaning = "detected" if line.present_means == "reactive" else "not detected"
            rules.append(f"{line.name} line visible (however faint): {what} {meaning}.")
    read_time = kit.read_time_minutes
    if read_time is not None:
        window = (
            f"between {read_time.min:g} and {read_time.max:g}"
            if read_time.max
            else f"after {read_time.min:g}"
        )
        rules.append(f"Read the result {window} minutes after applying the sample.")
    return Interpretation(
        lines=lines,
        read_time_minutes=read_time.model_dump() if read_time is not None else None,
        rules=rules,
    )


def lookup(session: Session, text: str) -> UnitLookup:
    unit, batch, product = find_unit(session, text)
    manufacturer = session.get(Manufacturer, product.manufacturer_id)
    return UnitLookup(
        code=unit.code,
        state=effective_state(unit.state, batch.expiry_date),
        product_code=product.product_code,
        product_name=product.name,
        manufacturer=manufacturer.name if manufacturer else "",
        test_item=product.test_item_name,
        test_item_loinc=product.test_item_loinc,
        registration_certificate_no=product.registration_certificate_no,
        lot_number=batch.lot_number,
        expiry_date=batch.expiry_date,
        interpretation=interpretation(product.kit),
    )
