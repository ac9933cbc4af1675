"""Unit codes printed on each manufactured cassette, and the files a manufacturer prints them from.

See :mod:`api.unit_codes.codes` for the code format, :mod:`api.unit_codes.exports`
for the CSV, QR ZIP and label-sheet PDF, and :mod:`api.unit_codes.bulk` for
batches of millions written with bounded memory.
"""

from api.unit_codes.bulk import iter_new_codes, write_unit_codes
from api.unit_codes.codes import (
    CODE_LENGTH,
    FORMATTED_LENGTH,
    UnitCodeError,
    check_symbol,
    code_from_scan,
    format_code,
    is_valid,
    new_codes,
    normalize,
    qr_payload,
    unit_link_prefix,
    validate,
    validate_many,
)
from api.unit_codes.exports import (
    CSV_COLUMNS,
    LABELS_PER_FILE,
    LabelLayout,
    UnitLabel,
    codes_csv,
    codes_qr_zip,
    iter_codes_csv,
    iter_label_sheets_zip,
    label_sheet_pdf,
    make_qr,
    qr_dark_runs,
    qr_matrix,
    qr_png,
    qr_svg,
)

__all__ = [
    "CODE_LENGTH",
    "CSV_COLUMNS",
    "FORMATTED_LENGTH",
    "LABELS_PER_FILE",
    "LabelLayout",
    "UnitCodeError",
    "UnitLabel",
    "check_symbol",
    "code_from_scan",
    "codes_csv",
    "codes_qr_zip",
    "format_code",
    "is_valid",
    "iter_codes_csv",
    "iter_label_sheets_zip",
    "iter_new_codes",
    "label_sheet_pdf",
    "make_qr",
    "new_codes",
    "normalize",
    "qr_dark_runs",
    "qr_matrix",
    "qr_payload",
    "qr_png",
    "qr_svg",
    "unit_link_prefix",
    "validate",
    "validate_many",
    "write_unit_codes",
]
