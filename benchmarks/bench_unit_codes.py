"""Speed of unit-code generation and of the manufacturer's export files.

Run ``python -m benchmarks.bench_unit_codes``. It times drawing a batch of new
codes, validating typed codes, the CSV export, the QR ZIP (SVG and PNG) and the
A4 label-sheet PDF, prints a table and writes it to
``benchmarks/results/unit_codes.md``. Each figure is the best of ``--repeat``
runs on one process (the machine may be shared).
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from api.unit_codes import (
    UnitLabel,
    codes_csv,
    codes_qr_zip,
    label_sheet_pdf,
    new_codes,
    validate,
)

ROOT = Path(__file__).resolve().parent.parent
BASE_URL = "https://vigil.example.org"


def best_of(repeat: int, work: Callable[[], object]) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=100_000, help="codes drawn at once")
    parser.add_argument("--zip", type=int, default=10_000, help="units in the QR ZIP")
    parser.add_argument("--labels", type=int, default=1_000, help="labels in the PDF")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "unit_codes.md"))
    args = parser.parse_args()

    rows_out = []

    def record(task: str, units: int, seconds: float, size: int | None = None) -> None:
        size_text = f"{size / 1e6:.2f} MB" if size is not None else ""
        rows_out.append(
            (task, f"{units:,}", f"{seconds:.3f}", f"{units / seconds:,.0f}", size_text)
        )
        print(f"{task:<44} {units:>8,} {seconds:8.3f} s {units / seconds:>12,.0f}/s {size_text}")

    seconds, codes = best_of(args.repeat, lambda: new_codes(args.batch))
    assert isinstance(codes, list)
    assert len(set(codes)) == args.batch
    record("new_codes (distinct, with check symbol)", args.batch, seconds)

    typed = [code.lower().replace("-", " ") for code in codes[:20_000]]
    seconds, _ = best_of(args.repeat, lambda: [validate(text) for text in typed])
    record("validate (typed, lower case, spaces)", len(typed), seconds)

    labels = [
        UnitLabel(f"SN{i:07d}", code, "L2026-11", date(2027, 11, 30), "DEMO-AG", "Demo Antigen")
        for i, code in enumerate(codes)
    ]
    for task, units, work in [
        ("codes_csv (with link payloads)", args.batch, lambda: codes_csv(labels, BASE_URL)),
        (
            "codes_qr_zip, SVG (link payloads)",
            args.zip,
            lambda: codes_qr_zip(labels[: args.zip], BASE_URL),
        ),
        (
            "codes_qr_zip, PNG (link payloads)",
            args.zip,
            lambda: codes_qr_zip(labels[: args.zip], BASE_URL, kind="png"),
        ),
        (
            "label_sheet_pdf (code-only QR)",
            args.labels,
            lambda: label_sheet_pdf(labels[: args.labels]),
        ),
        (
            "label_sheet_pdf (link QR)",
            args.labels,
            lambda: label_sheet_pdf(labels[: args.labels], base_url=BASE_URL),
        ),
    ]:
        seconds, data = best_of(args.repeat, work)
        assert isinstance(data, bytes)
        record(task, units, seconds, len(data))

    header = "| task | units | seconds | units/s | output |\n|---|---:|---:|---:|---:|\n"
    table = "".join(f"| {' | '.join(row)} |\n" for row in rows_out)
    machine = (
        f"{platform.python_implementation()} {platform.python_version()}, {platform.machine()}"
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        "# Unit codes: generation and export speed\n\n"
        f"`python -m benchmarks.bench_unit_codes` (best of {args.repeat}; {machine})\n\n"
        + header
        + table
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
