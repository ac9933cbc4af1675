"""Export confirmed cases as a versioned dataset (``vigil-confirmed-cases/1``).

The layout is ``training/dataset_format.md``: photos, straightened windows, kit
descriptions, one label line per case and a datasheet. Nothing that names a
person goes out: no name, ID number, phone or coordinates; a test's place is
its region code and its time the ISO week the photo was taken; case and unit
ids are keyed hashes (stable on this server, meaningless elsewhere); the unit
code the QR carried is blanked from the stored reading.

The same selection of the same data gives byte-identical files: no export
time is written, records and counts are sorted, and the archive's entries
carry a fixed date. The content hash covers every file but the datasheet,
which records it.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import io
import json
import zipfile
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from api.accounts.schemas import Caller
from api.audit.service import record
from api.context import AppContext
from api.datasets import queries
from api.datasets.labels import Confirmed, confirmed_label
from api.datasets.schemas import ExportSelection, ExportSummary
from api.errors import InvalidError

SPEC = "vigil-confirmed-cases/1"
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/heic": "heic"}
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
RESOLUTION = (
    "A photo a clinician's first reading settled is 'single_reader'. When the model was "
    "unsure, read by eye, or the first clinician changed its result, a second clinician read "
    "it blind: 'second_reader_agreed' when both said the same; otherwise a third clinician's "
    "reading decided ('third_reader_decided'). A result corrected after release "
    "('corrected_after_release') takes the correction. A clinician's retake is the label "
    "'unreadable'. second_label is the second reader's, wherever there was one."
)


@dataclass(frozen=True)
class Export:
    """The dataset's files (relative path -> bytes), datasheet included."""

    files: dict[str, bytes]
    content_hash: str
    datasheet: dict[str, Any]

    @property
    def version(self) -> str:
        return f"confirmed-cases@{self.content_hash[:12]}"

    def summary(self) -> ExportSummary:
        return ExportSummary(
            version=self.version,
            content_hash=self.content_hash,
            n_cases=int(self.datasheet["counts"]["cases"]),
            files=len(self.files),
        )

    def write(self, directory: Path) -> None:
        """Write the files under ``directory`` (which must be empty or absent)."""
        if directory.exists() and any(directory.iterdir()):
            raise InvalidError(f"{directory} is not empty: export into a new folder")
        for relative, data in self.files.items():
            path = directory / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

    def zip_bytes(self) -> bytes:
        """One archive, byte-identical for identical files (fixed dates, sorted entries)."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for relative in sorted(self.files):
                info = zipfile.ZipInfo(f"{self.version}/{relative}", date_time=ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, self.files[relative])
        return buffer.getvalue()


def content_hash(files: Mapping[str, bytes]) -> str:
    """SHA-256 over every file's path and SHA-256, in path order.

    >>> content_hash({"a": b"1"}) == content_hash({"a": b"1"}) != content_hash({"a": b"2"})
    True
    """
    digest = hashlib.sha256()
    for relative in sorted(files):
        digest.update(f"{relative}\0{hashlib.sha256(files[relative]).hexdigest()}\n".encode())
    return digest.hexdigest()


def _opaque(ctx: AppContext, kind: str, number: int) -> str:
    key = (ctx.settings.secret_key or "vigil").encode()
    mac = hmac.new(key, f"{kind}:{number}".encode(), hashlib.sha256).hexdigest()
    return f"{kind[0]}_{mac[:12]}"


def iso_week(moment: datetime) -> str:
    """``2026-W47`` (ISO 8601 week, UTC).

    >>> iso_week(datetime(2026, 11, 20, tzinfo=UTC))
    '2026-W47'
    """
    year, week, _ = moment.astimezone(UTC).isocalendar()
    return f"{year}-W{week:02d}"


def _day_start(day: Any) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _reading(document: Mapping[str, Any]) -> dict[str, Any]:
    """The stored reading without what could point back at the unit or the upload."""
    reading = copy.deepcopy(dict(document))
    reading["code"] = None  # the QR's unit code: the opaque unit id replaces it
    reading["image"] = None
    return reading


def _band(confirmed: Confirmed, reading: Mapping[str, Any], kit: Mapping[str, Any]) -> str:
    """The OD band of the case, for the datasheet: strongest present test line's measured OD."""
    from training.evaluate import od_band

    result = confirmed.result
    if result != "positive":
        return result  # negative, invalid, unreadable: no present test line to measure
    tests = [line["name"] for line in kit.get("lines", []) if line.get("role") == "test"]
    lines = reading.get("lines") or {}
    ods = [float(lines[n]["intensity"]) for n in tests if n in lines and lines[n].get("present")]
    return od_band(max(ods)) if ods else "unmeasured"


def _kit_files(document: Mapping[str, Any], template_png: bytes) -> dict[str, bytes]:
    kit = copy.deepcopy(dict(document))
    kit.setdefault("template", {})["image"] = "template.png"
    return {
        "kit.json": (json.dumps(kit, indent=1, sort_keys=True) + "\n").encode(),
        "template.png": template_png,
    }


def build(session: Session, ctx: AppContext, selection: ExportSelection) -> Export:
    """The dataset of the confirmed cases ``selection`` names (no writes)."""
    rows = queries.confirmed_cases(
        session,
        taken_from=_day_start(selection.since) if selection.since else None,
        taken_before=_day_start(selection.until) + timedelta(days=1) if selection.until else None,
        products=selection.products,
        regions=selection.regions,
    )
    reviews = queries.reviews_by_proposal(session, [r.proposal.id for r in rows])
    latest = queries.latest_upload_ids(session, sorted({r.test.id for r in rows}))
    files: dict[str, bytes] = {}
    records: list[dict[str, Any]] = []
    counts: dict[str, Counter[str]] = {
        k: Counter()
        for k in ("class", "product", "lot", "region", "od_band", "resolution", "pipeline", "model")
    }
    by_eye = 0
    for row in rows:
        confirmed = confirmed_label(
            row.proposal, reviews[row.proposal.id], row.test, latest=row.upload.id in latest
        )
        if confirmed is None:  # a reading undone since the query
            continue
        case = _opaque(ctx, "case", row.proposal.id)
        code = row.product.product_code
        extension = EXTENSIONS.get(row.upload.content_type, "bin")
        files[f"photos/{case}.{extension}"] = ctx.photos.get(row.upload.photo_sha256)
        explanation = row.proposal.explanation or {}
        window = None
        if explanation.get("window_sha256"):
            window = f"windows/{case}.png"
            files[window] = ctx.photos.get(explanation["window_sha256"])
        for name, data in _kit_files(row.product.kit_document, row.product.template_png).items():
            files[f"kits/{code}/{name}"] = data
        reading = _reading(row.proposal.reading)
        band = _band(confirmed, reading, row.product.kit_document)
        records.append(
            {
                "case": case,
                "unit": _opaque(ctx, "unit", row.test.unit_id),
                "image": f"photos/{case}.{extension}",
                "window": window,
                "px_per_mm": explanation.get("px_per_mm"),
                "kit": f"kits/{code}/kit.json",
                "product_code": code,
                "lot": row.lot,
                "region": row.test.region_code,
                "week": iso_week(row.upload.taken_at),
                "reading": reading,
                "model": row.proposal.model_version,
                "final_label": confirmed.final,
                "second_label": confirmed.second,
                "resolution": confirmed.resolution,
                "od_band": band,
            }
        )
        by_eye += bool(confirmed.final["read_by_eye"])
        for key, value in (
            ("class", confirmed.result),
            ("product", code),
            ("lot", f"{code}/{row.lot}"),
            ("region", row.test.region_code),
            ("od_band", band),
            ("resolution", confirmed.resolution),
            ("pipeline", row.proposal.status),
            ("model", row.proposal.model_version),
        ):
            counts[key][value] += 1
    records.sort(key=lambda r: r["case"])
    files["labels.jsonl"] = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records).encode()
    digest = content_hash(files)
    datasheet = {
        "spec": SPEC,
        "version": f"confirmed-cases@{digest[:12]}",
        "content_hash": digest,
        "content_hash_rule": "sha256 over 'path\\0sha256(file)\\n' of every file but this one, "
        "in path order",
        "source": "Vigil server: patients' photos of used rapid tests and the clinicians' "
        "readings of them that have taken effect (confirmed cases)",
        "parameters": selection.parameters(),
        "counts": {
            "cases": len(records),
            "read_by_eye": by_eye,
            **{f"per_{key}": dict(sorted(counter.items())) for key, counter in counts.items()},
        },
        "disagreements": RESOLUTION,
        "privacy": "no names, ID numbers, phones or coordinates; region code and ISO week of "
        "the photo only; case and unit ids are keyed hashes; the unit code is blanked",
        "format": "training/dataset_format.md",
    }
    files["datasheet.json"] = (json.dumps(datasheet, indent=1, sort_keys=True) + "\n").encode()
    return Export(files=files, content_hash=digest, datasheet=datasheet)


def export(session: Session, ctx: AppContext, user: Caller, selection: ExportSelection) -> Export:
    """Build the export and record who took it (the caller commits)."""
    built = build(session, ctx, selection)
    record(
        session,
        user,
        "dataset.exported",
        "dataset",
        built.version,
        cases=built.datasheet["counts"]["cases"],
        parameters=selection.parameters(),
    )
    return built
