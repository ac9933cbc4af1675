from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class ProductOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    manufacturer_id: int
    product_code: str
    name: str
    test_item_name: str
    test_item_loinc: str | None
    registration_certificate_no: str
    kit: dict[str, Any]
    created_at: datetime
