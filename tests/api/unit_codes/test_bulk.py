"""A batch written in chunks, read back for the CSV and the label sheets, on the test database."""

import csv
import io
import re
import zipfile
from datetime import date, timedelta

import pytest
from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from api.batches.service import labels
from api.batches.tables import Batch, Unit
from api.unit_codes import (
    CSV_COLUMNS,
    LabelLayout,
    iter_codes_csv,
    iter_label_sheets_zip,
    iter_new_codes,
    validate,
    write_unit_codes,
)

QUANTITY = 5_000
UNITS = Unit.__table__
assert isinstance(UNITS, Table)


@pytest.fixture
def big_batch(world, session: Session) -> Batch:
    batch = Batch(
        product_id=world.product.id,
        lot_number="LOT-BULK",
        quantity=QUANTITY,
        expiry_date=date.today() + timedelta(days=365),
        created_by=world.maker.id,
    )
    session.add(batch)
    session.flush()
    # A chunk that does not divide the quantity, so the last chunk is partial.
    assert write_unit_codes(session, UNITS, batch.id, QUANTITY, chunk=1_300) == QUANTITY
    session.flush()
    return batch


def test_chunks_cover_the_count_with_distinct_valid_codes() -> None:
    chunks = list(iter_new_codes(2_500, chunk=1_000))
    assert [len(chunk) for chunk in chunks] == [1_000, 1_000, 500]
    codes = [code for chunk in chunks for code in chunk]
    assert len(set(codes)) == len(codes)
    assert all(validate(code) == code for code in codes)
    with pytest.raises(ValueError, match="chunk"):
        next(iter_new_codes(10, chunk=0))


def test_written_units_are_unique_valid_and_numbered(big_batch: Batch, session: Session) -> None:
    rows = session.execute(
        select(Unit.serial, Unit.code, Unit.state).where(Unit.batch_id == big_batch.id)
    ).all()
    assert len(rows) == QUANTITY
    assert sorted(serial for serial, _, _ in rows) == list(range(1, QUANTITY + 1))
    codes = [code for _, code, _ in rows]
    assert len(set(codes)) == QUANTITY
    assert all(validate(code) == code for code in codes)
    assert {state for _, _, state in rows} == {"unused"}
    # The units are the batch's and nobody else's: the world's own batch is untouched.
    assert session.scalar(select(func.count()).select_from(Unit)) == QUANTITY + 20


def test_state_is_refused_unless_a_plain_word(world, session: Session) -> None:
    with pytest.raises(ValueError, match="state"):
        write_unit_codes(session, UNITS, world.batch.id, 1, state="unused\tx")


def test_streamed_csv_rows_match_the_database(big_batch: Batch, world, session: Session) -> None:
    rows_in = labels(session, big_batch, world.product)
    chunks = list(iter_codes_csv(rows_in, "https://vigil.example.org", chunk_rows=1_000))
    assert len(chunks) == 5  # streamed, not built whole
    rows = list(csv.reader(io.StringIO(b"".join(chunks).decode("utf-8"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    stored = dict(
        session.execute(select(Unit.serial, Unit.code).where(Unit.batch_id == big_batch.id)).all()
    )
    assert len(rows) - 1 == QUANTITY
    for serial, code, payload, lot, expiry, _product_code in rows[1:]:
        assert stored[int(serial)] == code
        assert payload == f"https://vigil.example.org/u/{code}"
        assert lot == "LOT-BULK"
        assert expiry == big_batch.expiry_date.isoformat()


def test_label_sheets_come_as_pdfs_of_whole_sheets(
    big_batch: Batch, world, session: Session
) -> None:
    # 2,000 labels asked per file round down to 95 sheets of 21 = 1,995 labels.
    parts = list(
        iter_label_sheets_zip(labels(session, big_batch, world.product), labels_per_file=2_000)
    )
    assert len(parts) == 4  # three PDFs as they are made, then the ZIP's directory
    archive = zipfile.ZipFile(io.BytesIO(b"".join(parts)))
    names = archive.namelist()
    assert names == [
        "labels_0001-1995.pdf",
        "labels_1996-3990.pdf",
        "labels_3991-5000.pdf",
    ]
    per_page = LabelLayout().per_page
    pages = [len(re.findall(rb"/Type /Page\b(?!s)", archive.read(name))) for name in names]
    assert pages == [95, 95, -(-1_010 // per_page)]
    assert archive.testzip() is None
