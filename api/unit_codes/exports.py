"""Files a manufacturer prints unit codes from: CSV, a ZIP of QR images, an A4 label sheet.

All three take :class:`UnitLabel` rows (one per manufactured unit) and return
bytes, so a web route can send them as they are. The QR codes encode
:func:`~api.unit_codes.codes.qr_payload` of each code: the code itself, or a link
to the server when ``base_url`` is given.

QR symbols come from zxing-cpp's writer (the zint library underneath), which is
already a dependency for reading codes and makes a symbol, mask selection
included, in about 0.25 ms: 5 to 15 times faster than segno, the quickest
pure-Python encoder. The
label sheet draws each QR code as vector rectangles (one per horizontal run of
dark modules) straight into the PDF, so a sheet of 1,000 labels needs no raster
images and prints sharply at any resolution.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import date
from functools import cache
from itertools import islice
from typing import Literal

import numpy as np
import zxingcpp
from PIL import Image
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas

from api.unit_codes.codes import qr_payload, unit_link_prefix, validate, validate_many

CSV_COLUMNS = ("serial", "code", "qr_payload", "lot", "expiry", "product_code")
QR_ERROR = "M"  # 15 % of the symbol may be damaged or smudged and still read
QUIET_ZONE = 4  # modules of white around a stand-alone QR image (ISO/IEC 18004)
_CJK_FONT = "STSong-Light"  # one of reportlab's built-in CID fonts; covers Chinese names


@dataclass(frozen=True, slots=True)
class UnitLabel:
    """What is printed for one manufactured unit."""

    serial: str
    code: str
    lot: str
    expiry: date | None
    product_code: str = ""
    product_name: str = ""


def iter_codes_csv(
    rows: Iterable[UnitLabel], base_url: str | None = None, chunk_rows: int = 5000
) -> Iterator[bytes]:
    """UTF-8 CSV (header first) in chunks of ``chunk_rows`` rows, for streaming responses.

    Columns: serial, code, qr_payload, lot, expiry (ISO date), product_code.
    Codes are validated and written in canonical form.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    prefix = "" if base_url is None else unit_link_prefix(base_url)
    iterator = iter(rows)
    while chunk := list(islice(iterator, chunk_rows)):
        codes = validate_many([row.code for row in chunk])
        writer.writerows(
            (
                row.serial,
                code,
                prefix + code,
                row.lot,
                row.expiry.isoformat() if row.expiry else "",
                row.product_code,
            )
            for row, code in zip(chunk, codes, strict=True)
        )
        yield buffer.getvalue().encode("utf-8")
        buffer.seek(0)
        buffer.truncate()
    if buffer.getvalue():  # no rows: the header alone
        yield buffer.getvalue().encode("utf-8")


def codes_csv(rows: Iterable[UnitLabel], base_url: str | None = None) -> bytes:
    """The whole CSV of :func:`iter_codes_csv` as one bytes object.

    >>> label = UnitLabel("S1", "K7QX-9M2D-AB3F-GH45J", "L1", date(2027, 1, 31), "DEMO-AG")
    >>> print(codes_csv([label]).decode(), end="")
    serial,code,qr_payload,lot,expiry,product_code
    S1,K7QX-9M2D-AB3F-GH45J,K7QX-9M2D-AB3F-GH45J,L1,2027-01-31,DEMO-AG
    """
    return b"".join(iter_codes_csv(rows, base_url))


def make_qr(code: str, base_url: str | None = None) -> zxingcpp.Barcode:
    """The QR symbol printed for ``code`` (error correction level M, smallest version)."""
    return zxingcpp.create_barcode(
        qr_payload(code, base_url), zxingcpp.BarcodeFormat.QRCode, ec_level=QR_ERROR
    )


def qr_matrix(code: str, base_url: str | None = None) -> np.ndarray:
    """The modules of :func:`make_qr` as a square bool array, True = dark, no quiet zone."""
    image = make_qr(code, base_url).to_image(scale=1, add_quiet_zones=False)
    return np.asarray(image) < 128


def _file_stem(serial: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", serial).strip("._")
    if not stem:
        raise ValueError(f"serial {serial!r} gives no usable file name")
    return stem


def codes_qr_zip(
    rows: Iterable[UnitLabel],
    base_url: str | None = None,
    kind: Literal["svg", "png"] = "svg",
    scale: int = 10,
) -> bytes:
    """A ZIP with one QR image per unit, named ``<serial>.svg`` (or ``.png``).

    SVG is the default: it is vector, prints sharply at any size, and is the
    faster to write. ``scale`` is the size of one module in pixels (PNG) or
    user units (SVG); the quiet zone is the standard 4 modules. Serials must
    give distinct file names.
    """
    if kind not in ("svg", "png"):
        raise ValueError(f"kind must be 'svg' or 'png', got {kind!r}")
    # PNG is already deflate-compressed; compressing it again only costs time.
    compression = zipfile.ZIP_DEFLATED if kind == "svg" else zipfile.ZIP_STORED
    out = io.BytesIO()
    seen: dict[str, str] = {}
    with zipfile.ZipFile(out, "w", compression=compression) as archive:
        for row in rows:
            name = f"{_file_stem(row.serial)}.{kind}"
            if name in seen:
                raise ValueError(
                    f"serials {seen[name]!r} and {row.serial!r} both give the file name {name}"
                )
            seen[name] = row.serial
            matrix = qr_matrix(row.code, base_url)
            image = qr_svg(matrix, scale) if kind == "svg" else qr_png(matrix, scale)
            archive.writestr(name, image)
    return out.getvalue()


def qr_svg(matrix: np.ndarray, scale: float = 10, border: int = QUIET_ZONE) -> str:
    """An SVG image of a QR matrix: one path, one sub-path per run of dark modules.

    Written here rather than by the barcode library because it is several
    times faster and a quarter of the size.
    """
    size = len(matrix) + 2 * border
    path = "".join(f"M{c + border} {r + border}h{n}v1h-{n}z" for r, c, n in qr_dark_runs(matrix))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size * scale:g}" '
        f'height="{size * scale:g}" viewBox="0 0 {size} {size}" shape-rendering="crispEdges">'
        f'<rect width="{size}" height="{size}" fill="#fff"/><path d="{path}" fill="#000"/></svg>'
    )


def qr_png(matrix: np.ndarray, scale: int = 10, border: int = QUIET_ZONE) -> bytes:
    """A 1-bit PNG of a QR matrix, ``scale`` pixels per module."""
    light = np.pad(~matrix, border, constant_values=True)
    pixels = np.repeat(np.repeat(light, scale, axis=0), scale, axis=1)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def qr_dark_runs(matrix: np.ndarray) -> list[tuple[int, int, int]]:
    """Horizontal runs of dark modules as ``(row, first_column, length)``, row by row.

    Drawing one rectangle per run instead of per module roughly halves the
    PDF's size and drawing time.

    >>> qr_dark_runs(np.array([[1, 1, 0, 1], [0, 0, 0, 0], [0, 1, 1, 1]], dtype=bool))
    [(0, 0, 2), (0, 3, 1), (2, 1, 3)]
    """
    edges = np.diff(np.pad(matrix.astype(np.int8), ((0, 0), (1, 1))), axis=1)
    # argwhere walks row-major, so the k-th start and the k-th end belong together.
    starts, ends = np.argwhere(edges == 1), np.argwhere(edges == -1)
    lengths = ends[:, 1] - starts[:, 1]
    # tolist() yields Python ints in one go; converting element by element is 10x slower.
    return list(zip(starts[:, 0].tolist(), starts[:, 1].tolist(), lengths.tolist(), strict=True))


@dataclass(frozen=True, slots=True)
class LabelLayout:
    """Geometry of a sheet of labels, in millimetres.

    The default is the common A4 sheet of 21 labels of 63.5 x 38.1 mm
    (3 across, 7 down; Avery L7160 / J8160 and compatibles).
    """

    page_width: float = A4[0] / mm
    page_height: float = A4[1] / mm
    columns: int = 3
    rows: int = 7
    label_width: float = 63.5
    label_height: float = 38.1
    left: float = 7.2  # page edge to the first label
    top: float = 15.15
    column_pitch: float = 66.04  # label width plus the gap between columns
    row_pitch: float = 38.1
    padding: float = 2.5  # kept clear inside each label (cutting tolerance)
    quiet_zone: int = 2  # modules of white around the QR inside the padding

    @property
    def per_page(self) -> int:
        return self.columns * self.rows

    def origin(self, slot: int) -> tuple[float, float]:
        """Bottom-left corner (points) of label ``slot`` on its page, row by row."""
        row, column = divmod(slot, self.columns)
        x = self.left + column * self.column_pitch
        y = self.page_height - self.top - row * self.row_pitch - self.label_height
        return x * mm, y * mm


@cache
def _cjk_font() -> str:
    pdfmetrics.registerFont(UnicodeCIDFont(_CJK_FONT))
    return _CJK_FONT


def _font_for(text: str, latin: str) -> str:
    """``latin`` for text the standard PDF fonts can show, else a CJK font."""
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return _cjk_font()
    return latin


def _fit(text: str, font: str, size: float, width: float) -> str:
    """``text`` cut (with an ellipsis) to fit ``width`` points."""
    if pdfmetrics.stringWidth(text, font, size) <= width:
        return text
    while text and pdfmetrics.stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text + "…"


def label_sheet_pdf(
    rows: Iterable[UnitLabel],
    product_name: str | None = None,
    lot: str | None = None,
    expiry: date | None = None,
    *,
    base_url: str | None = None,
    layout: LabelLayout | None = None,
) -> bytes:
    """A printable PDF of label sheets: QR code, code in words, product, lot, expiry, serial.

    ``product_name``, ``lot`` and ``expiry``, when given, replace the rows'
    values on every label (a batch shares them). Labels fill each sheet row by
    row; a new page starts when a sheet is full.
    """
    layout = layout or LabelLayout()
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=(layout.page_width * mm, layout.page_height * mm))
    canvas.setTitle(" ".join(filter(None, ["Unit labels", product_name, lot and f"lot {lot}"])))
    canvas.setCreator("Vigil")
    slot = 0
    for row in rows:
        if slot == layout.per_page:
            canvas.showPage()
            slot = 0
        label = replace(
            row,
            product_name=row.product_name if product_name is None else product_name,
            lot=row.lot if lot is None else lot,
            expiry=row.expiry if expiry is None else expiry,
        )
        _draw_label(canvas, label, *layout.origin(slot), layout, base_url)
        slot += 1
    canvas.showPage()
    canvas.save()
    return out.getvalue()


LABELS_PER_FILE = 2100  # 100 A4 sheets of the default 21 labels


class _Drain(io.RawIOBase):
    """A write-only, unseekable stream whose bytes are taken away as they come.

    :class:`zipfile.ZipFile` writes to an unseekable stream with data
    descriptors after each member, so the archive can be sent while it is made.
    """

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        chunk = bytes(data)
        self.parts.append(chunk)
        return len(chunk)

    def take(self) -> bytes:
        taken, self.parts = b"".join(self.parts), []
        return taken


def iter_label_sheets_zip(
    rows: Iterable[UnitLabel],
    product_name: str | None = None,
    lot: str | None = None,
    expiry: date | None = None,
    *,
    base_url: str | None = None,
    layout: LabelLayout | None = None,
    labels_per_file: int = LABELS_PER_FILE,
) -> Iterator[bytes]:
    """A ZIP of label-sheet PDFs, ``labels_per_file`` labels each, produced as it is sent.

    For batches too large for one PDF: reportlab keeps a whole document in
    memory until it is saved (a million labels would be gigabytes), so the
    labels go into consecutive PDFs of :func:`label_sheet_pdf`, named by their
    first and last serial (``labels_0000001-0002100.pdf``), and memory stays
    that of one file. ``labels_per_file`` is rounded down to whole sheets.
    """
    layout = layout or LabelLayout()
    per_file = max(1, labels_per_file // layout.per_page) * layout.per_page
    drain = _Drain()
    iterator = iter(rows)
    with zipfile.ZipFile(drain, "w", compression=zipfile.ZIP_STORED) as archive:
        while part := list(islice(iterator, per_file)):
            pdf = label_sheet_pdf(part, product_name, lot, expiry, base_url=base_url, layout=layout)
            name = f"labels_{_file_stem(part[0].serial)}-{_file_stem(part[-1].serial)}.pdf"
            # PDF page streams are already deflated; compressing again only costs time.
            archive.writestr(name, pdf)
            yield drain.take()
    yield drain.take()


def _draw_label(
    canvas: Canvas, label: UnitLabel, x: float, y: float, layout: LabelLayout, base_url: str | None
) -> None:
    pad = layout.padding * mm
    width, height = layout.label_width * mm, layout.label_height * mm
    code = validate(label.code)

    # QR code on the left, as large as the label's height allows but leaving
    # at least half the width for text.
    matrix = qr_matrix(code, base_url)
    side = min(height - 2 * pad, width * 0.45)
    module = side / (len(matrix) + 2 * layout.quiet_zone)
    canvas.saveState()
    # Work in module units with y pointing down, so every rectangle has small
    # integer coordinates: exact, and cheap to write as literal PDF operators
    # (reportlab's per-number float formatting would dominate the run time).
    canvas.translate(x + pad + layout.quiet_zone * module, y + (height + side) / 2)
    canvas.scale(module, -module)
    canvas.translate(0, layout.quiet_zone)
    canvas.setFillGray(0)
    rects = " ".join(f"{c} {r} {length} 1 re" for r, c, length in qr_dark_runs(matrix))
    canvas.addLiteral(f"{rects} f")
    canvas.restoreState()

    # Text column: product, the code in two halves, lot, expiry, serial.
    text_x = x + pad + side + 1.5 * mm
    text_width = x + width - pad - text_x
    split = code.index("-", len(code) // 2 - 1)
    lines = [
        (label.product_name, "Helvetica-Bold", 7.0),
        (code[:split], "Courier-Bold", 10.0),
        (code[split + 1 :], "Courier-Bold", 10.0),
        (f"LOT {label.lot}", "Helvetica", 7.0),
        (f"EXP {label.expiry.isoformat()}" if label.expiry else "", "Helvetica", 7.0),
        (f"SN {label.serial}", "Helvetica", 6.0),
    ]
    baseline = y + height - pad
    for text, latin_font, size in lines:
        baseline -= size * 1.25
        if not text:
            continue
        font = _font_for(text, latin_font)
        canvas.setFont(font, size)
        canvas.drawString(text_x, baseline, _fit(text, font, size, text_width))
