"""code mapping: test items to LOINC, results to SNOMED CT, stored for operators to extend

Seeded from ``api/interop/code_seed.json`` as it stands when this migration runs; from
then on the tables are the mapping, changed in the operators' page or the API (audited).

Revision ID: 0014_code_mapping
Revises: 0012_gold_items
Create Date: 2026-11-29 21:30:00
"""

import json
from collections.abc import Sequence
from importlib import resources

import sqlalchemy as sa
from alembic import op

import api.db.base
from api.interop.codes import normalise_name

revision: str = "0014_code_mapping"
down_revision: str | None = "0012_gold_items"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    loinc_codes = op.create_table(
        "loinc_codes",
        sa.Column("code", sa.String(length=10), nullable=False),
        sa.Column("display", sa.String(length=400), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_loinc_codes")),
    )
    result_codes = op.create_table(
        "result_codes",
        sa.Column("result", sa.String(length=10), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("display", sa.String(length=200), nullable=False),
        sa.Column("updated_at", api.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("result", name=op.f("pk_result_codes")),
    )
    test_item_codes = op.create_table(
        "test_item_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_key", sa.String(length=200), nullable=False),
        sa.Column("loinc", sa.String(length=10), nullable=False),
        sa.Column("updated_at", api.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_test_item_codes")),
        sa.UniqueConstraint(
            "product_code", "name_key", name=op.f("uq_test_item_codes_product_code_name_key")
        ),
    )
    seed = json.loads(resources.files("api.interop").joinpath("code_seed.json").read_text("utf-8"))
    now = api.db.base.utcnow()
    op.bulk_insert(loinc_codes, [{"code": c, "display": d} for c, d in seed["loinc_codes"].items()])
    op.bulk_insert(
        result_codes,
        [
            {"result": r, "code": c["code"], "display": c["display"], "updated_at": now}
            for r, c in seed["results"].items()
        ],
    )
    op.bulk_insert(
        test_item_codes,
        [
            {
                "product_code": item["product_code"] or "",
                "name": item["name"],
                "name_key": normalise_name(item["name"]),
                "loinc": item["loinc"],
                "updated_at": now,
            }
            for item in seed["test_items"]
        ],
    )


def downgrade() -> None:
    op.drop_table("test_item_codes")
    op.drop_table("result_codes")
    op.drop_table("loinc_codes")
