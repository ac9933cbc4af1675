"""Registered products: a kit description and its template image."""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base, utcnow

if TYPE_CHECKING:
    from pipeline.kit import KitDescription


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    manufacturer_id: Mapped[int] = mapped_column(ForeignKey("manufacturers.id"), index=True)
    product_code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    test_item_name: Mapped[str] = mapped_column(String(200))
    test_item_loinc: Mapped[str | None] = mapped_column(String(20))
    registration_certificate_no: Mapped[str] = mapped_column(String(100))
    # The validated ``rdt-kit/1`` document as stored; read it as ``kit``.
    kit_document: Mapped[dict[str, Any]] = mapped_column("kit", JSON)
    # In the database, not the file store: workers on other machines then need
    # only the database and the photo folder to read a photo. Deferred: a few hundred KB
    # that only decoding the kit needs, which every page's row of tests would otherwise
    # fetch and detoast once per row (a product joined to 25 tests: 25 copies).
    template_png: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    template_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @cached_property
    def kit(self) -> KitDescription:
        """The kit description, typed (validated when the product was registered)."""
        from pipeline.kit import KitDescription

        return KitDescription.model_validate(self.kit_document)
