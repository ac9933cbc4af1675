from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from api.public_ids import ManufacturerId, ProductId
from pipeline.kit import KitDescription, ReadTime


class ProductOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: ProductId
    manufacturer_id: ManufacturerId
    product_code: str
    name: str
    test_item_name: str
    test_item_loinc: str | None
    registration_certificate_no: str
    kit: KitDescription
    created_at: datetime


# The typed kit (``Product.kit``) as pages and clients see it.
__all__ = ["KitDescription", "ProductOut", "ReadTime"]
