"""SQL for the stored code mapping."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.interop.tables import LoincCode, ResultCode, TestItemCode
from api.pagination import ALL, Window


def bindings(session: Session, window: Window = ALL) -> Sequence[TestItemCode]:
    return session.scalars(window.apply(select(TestItemCode), TestItemCode.id)).all()


def binding_for(session: Session, product_code: str, name_key: str) -> TestItemCode | None:
    return session.scalar(
        select(TestItemCode).where(
            TestItemCode.product_code == product_code, TestItemCode.name_key == name_key
        )
    )


def loinc_codes(session: Session) -> Sequence[LoincCode]:
    return session.scalars(select(LoincCode).order_by(LoincCode.code)).all()


def result_codes(session: Session) -> Sequence[ResultCode]:
    return session.scalars(select(ResultCode).order_by(ResultCode.result)).all()
