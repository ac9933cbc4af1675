"""What the manufacturer (and operator) pages show, built from the services' read models."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session
from starlette.responses import Response

from api.accounts.schemas import Principal
from api.batches.schemas import BatchOut
from api.context import AppContext
from api.errors import DomainError
from api.organisations import service as organisations
from review_ui.manufacturers.forms import domain_message

if TYPE_CHECKING:
    from pipeline.kit import Kit

DOCUMENT_KINDS = {
    "business_licence": "Business licence",
    "registration_certificate": "Medical-device registration certificate",
    "other": "Other",
}


def usage(counts: dict[str, int], quantity: int) -> dict[str, Any]:
    """How much of a batch is used: units scanned (in use or used) against the quantity."""
    used = counts.get("in_use", 0) + counts.get("used", 0)
    return {
        "used": used,
        "in_use": counts.get("in_use", 0),
        "finished": counts.get("used", 0),
        "unused": counts.get("unused", 0),
        "expired": counts.get("expired", 0),
        "revoked": counts.get("revoked", 0),
        "quantity": quantity,
        "share": used / quantity if quantity else 0.0,
    }


def batch_rows(batch_list: list[BatchOut], product_names: dict[int, str]) -> list[dict[str, Any]]:
    return [
        {
            "batch": b,
            "product": product_names.get(b.product_id, ""),
            "usage": usage(b.units, b.quantity),
        }
        for b in batch_list
    ]


def document_response(
    session: Session, ctx: AppContext, user: Principal, manufacturer_id: int, document_id: int
) -> Response:
    """A stored document shown in the browser (PDF or image), sandboxed: it runs nothing."""
    try:
        doc, data = organisations.document_content(session, ctx, user, manufacturer_id, document_id)
    except DomainError as exc:
        return Response(domain_message(exc), status_code=exc.status_code, media_type="text/plain")
    safe_name = "".join(c if c.isalnum() or c in "._-" else "_" for c in doc.filename)[:100]
    return Response(
        data,
        media_type=doc.content_type,
        headers={
            "Content-Disposition": f'inline; filename="{safe_name or "document"}"',
            "Content-Security-Policy": "sandbox; default-src 'none'; img-src 'self'; "
            "object-src 'self'; plugin-types application/pdf",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


def kit_summary(kit: Kit) -> dict[str, Any]:
    description = kit.description
    read_time = description.read_time_minutes
    return {
        "product_code": kit.product_code,
        "name": description.name,
        "test_item": description.test_item.name,
        "loinc": description.test_item.loinc,
        "format": description.format,
        "flow": kit.flow,
        "window_mm": f"{kit.window_length_mm:.1f} × {kit.window_width_mm:.1f} mm",
        "px_per_mm": kit.px_per_mm,
        "lines": [
            {
                "name": line.name,
                "role": line.role,
                "at": line.at,
                "analyte": line.analyte_name if line.role == "test" else "",
                "present_means": line.present_means,
            }
            for line in kit.lines
        ],
        "read_time": (
            f"{read_time.min:g} to {read_time.max:g} minutes"
            if read_time is not None and read_time.max is not None
            else f"from {read_time.min:g} minutes"
            if read_time is not None
            else "not given"
        ),
        "has_code_box": kit.code_box is not None,
    }
