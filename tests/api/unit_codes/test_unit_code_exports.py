import base64
import csv
import io
import re
import xml.etree.ElementTree as ET
import zipfile
import zlib
from datetime import date

import numpy as np
import pytest
import zxingcpp
from PIL import Image

from api.unit_codes import (
    CSV_COLUMNS,
    LabelLayout,
    UnitCodeError,
    UnitLabel,
    codes_csv,
    codes_qr_zip,
    format_code,
    iter_codes_csv,
    label_sheet_pdf,
    new_codes,
    qr_dark_runs,
    qr_matrix,
    qr_payload,
    qr_png,
    qr_svg,
)

BASE = "https://vigil.example.org"
EXPIRY = date(2027, 11, 30)


def make_rows(n, product_name="Demo Antigen Test"):
    return [
        UnitLabel(f"SN-{i:05d}", code, "L2026-11", EXPIRY, "DEMO-AG", product_name)
        for i, code in enumerate(new_codes(n))
    ]


def decode(image):
    result = zxingcpp.read_barcode(np.asarray(image))
    assert result is not None
    return result.text


def test_csv_has_one_row_per_unit_with_canonical_code_and_payload():
    rows = make_rows(3)
    rows[1] = UnitLabel("SN-1", rows[1].code.lower().replace("-", ""), "L2", None, "X")
    parsed = list(csv.reader(io.StringIO(codes_csv(rows, BASE).decode("utf-8"))))
    assert tuple(parsed[0]) == CSV_COLUMNS
    assert len(parsed) == 4
    assert parsed[1] == [
        "SN-00000",
        rows[0].code,
        qr_payload(rows[0].code, BASE),
        "L2026-11",
        "2027-11-30",
        "DEMO-AG",
    ]
    assert parsed[2][1] == format_code(rows[1].code.upper())
    assert parsed[2][4] == ""  # no expiry


def test_csv_without_base_url_puts_the_code_in_the_payload_column():
    rows = make_rows(2)
    parsed = list(csv.DictReader(io.StringIO(codes_csv(rows).decode())))
    assert [row["qr_payload"] for row in parsed] == [row.code for row in rows]


def test_csv_chunks_join_to_the_whole_and_empty_gives_header():
    rows = make_rows(5)
    chunks = list(iter_codes_csv(rows, chunk_rows=2))
    assert len(chunks) == 3
    assert b"".join(chunks) == codes_csv(rows)
    assert codes_csv([]) == (",".join(CSV_COLUMNS) + "\n").encode()


def test_csv_refuses_invalid_codes():
    with pytest.raises(UnitCodeError, match="check character"):
        codes_csv([UnitLabel("1", "K7QX-9M2D-AB3F-GH45K", "L", EXPIRY)])


def test_qr_matrix_decodes_to_the_payload():
    code = new_codes(1)[0]
    for base in (None, BASE):
        matrix = qr_matrix(code, base)
        assert matrix.dtype == bool
        assert matrix.shape[0] == matrix.shape[1]
        assert (matrix.shape[0] - 17) % 4 == 0
        light = np.pad(~matrix, 4, constant_values=True)
        pixels = np.kron(light, np.ones((6, 6), dtype=bool)).astype(np.uint8) * 255
        assert decode(pixels) == qr_payload(code, base)


def test_qr_dark_runs_rebuild_the_matrix():
    rng = np.random.default_rng(7)
    for matrix in [rng.random((25, 25)) < 0.5, np.ones((3, 4), bool), np.zeros((2, 2), bool)]:
        rebuilt = np.zeros_like(matrix)
        for r, c, length in qr_dark_runs(matrix):
            assert length > 0
            rebuilt[r, c : c + length] = True
        assert (rebuilt == matrix).all()


def svg_matrix(data: bytes) -> list[list[bool]]:
    """The QR modules drawn by :func:`qr_svg` (quiet zone removed)."""
    root = ET.fromstring(data)
    side = int(root.get("viewBox", "").split()[2])
    dark = np.zeros((side, side), dtype=bool)
    path = root.find("{http://www.w3.org/2000/svg}path")
    assert path is not None
    for x, y, n in re.findall(r"M(\d+) (\d+)h(\d+)v1h-\3z", path.get("d", "")):
        dark[int(y), int(x) : int(x) + int(n)] = True
    assert not dark[:4].any()
    assert not dark[:, :4].any()
    return dark[4:-4, 4:-4].tolist()


def test_qr_svg_and_png_scale_and_quiet_zone():
    matrix = qr_matrix(new_codes(1)[0])
    root = ET.fromstring(qr_svg(matrix, scale=2.5))
    side = len(matrix) + 8
    assert root.get("viewBox") == f"0 0 {side} {side}"
    assert root.get("width") == f"{side * 2.5:g}"
    image = Image.open(io.BytesIO(qr_png(matrix, scale=3)))
    assert image.size == (side * 3, side * 3)
    assert image.mode == "1"


@pytest.mark.parametrize("kind", ["svg", "png"])
def test_qr_zip_holds_one_readable_image_per_serial(kind):
    rows = make_rows(4)
    rows[3] = UnitLabel("lot 7/unit #3", rows[3].code, "L", EXPIRY)
    archive = zipfile.ZipFile(io.BytesIO(codes_qr_zip(rows, BASE, kind=kind)))
    names = archive.namelist()
    assert names == [f"SN-0000{i}.{kind}" for i in range(3)] + [f"lot_7_unit_3.{kind}"]
    for row, name in zip(rows, names, strict=True):
        data = archive.read(name)
        if kind == "svg":
            assert svg_matrix(data) == qr_matrix(row.code, BASE).tolist()
        else:
            image = Image.open(io.BytesIO(data))
            assert image.format == "PNG"
            assert decode(image.convert("L")) == qr_payload(row.code, BASE)


def test_qr_zip_refuses_clashing_file_names_and_unknown_kinds():
    code_a, code_b = new_codes(2)
    rows = [UnitLabel("A/1", code_a, "L", EXPIRY), UnitLabel("A 1", code_b, "L", EXPIRY)]
    with pytest.raises(ValueError, match=r"both give the file name A_1\.svg"):
        codes_qr_zip(rows)
    with pytest.raises(ValueError, match="no usable file name"):
        codes_qr_zip([UnitLabel("///", code_a, "L", EXPIRY)])
    with pytest.raises(ValueError, match="kind"):
        codes_qr_zip(rows[:1], kind="gif")  # type: ignore[arg-type]


def page_streams(pdf: bytes) -> list[bytes]:
    """Decoded content streams of a reportlab PDF (ASCII85 + Flate)."""
    streams = []
    for match in re.finditer(rb"<<([^<>]*)>>\s*stream\r?\n(.*?)endstream", pdf, re.S):
        header, data = match.groups()
        data = data.strip()
        if b"ASCII85Decode" in header:
            data = base64.a85decode(data, adobe=True)
        if b"FlateDecode" in header:
            data = zlib.decompress(data)
        streams.append(data)
    return streams


def test_label_sheet_draws_every_qr_module_and_paginates():
    rows = make_rows(23)
    pdf = label_sheet_pdf(rows, base_url=BASE)
    assert pdf.startswith(b"%PDF-")
    assert len(re.findall(rb"/Type /Page\b(?!s)", pdf)) == 2  # 21 labels a page
    drawn = []
    for stream in page_streams(pdf):
        for block in re.findall(rb"cm\n0 g\n([\d re\n]+) f", stream):
            runs = [tuple(map(int, op.split()[:4])) for op in block.split(b" re")[:-1]]
            drawn.append(runs)
    assert len(drawn) == 23
    for row, runs in zip(rows, drawn, strict=True):
        matrix = qr_matrix(row.code, BASE)
        rebuilt = np.zeros_like(matrix)
        for c, r, length, height in runs:
            assert height == 1
            rebuilt[r, c : c + length] = True
        assert (rebuilt == matrix).all()
    text = b"".join(page_streams(pdf))
    first = rows[0].code
    assert first[:9].encode() in text
    assert first[10:].encode() in text
    assert b"LOT L2026-11" in text
    assert b"EXP 2027-11-30" in text
    assert b"SN SN-00000" in text


def test_label_sheet_overrides_batch_fields_and_handles_chinese_names():
    rows = make_rows(2, product_name="新冠抗原检测试剂盒")
    pdf = label_sheet_pdf(rows, lot="LOT-B", expiry=date(2028, 2, 29))
    text = b"".join(page_streams(pdf))
    assert b"LOT LOT-B" in text
    assert b"EXP 2028-02-29" in text
    assert b"L2026-11" not in text
    assert b"STSong-Light" in pdf


def test_label_sheet_custom_layout_and_empty_input():
    layout = LabelLayout(columns=2, rows=2)
    for n, pages in [(8, 2), (9, 3)]:  # a full last sheet adds no blank page
        pdf = label_sheet_pdf(make_rows(n), layout=layout)
        assert len(re.findall(rb"/Type /Page\b(?!s)", pdf)) == pages
    assert len(re.findall(rb"/Type /Page\b(?!s)", label_sheet_pdf([]))) == 1
    with pytest.raises(UnitCodeError):
        label_sheet_pdf([UnitLabel("1", "nope", "L", EXPIRY)])
