"""SQL for manufacturers, institutions and CDC offices."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.organisations.tables import CdcOffice, Institution, Manufacturer, ManufacturerDocument
from api.pagination import ALL, Window


def manufacturer_by_licence(session: Session, licence_no: str) -> Manufacturer | None:
    return session.scalar(
        select(Manufacturer).where(Manufacturer.business_licence_no == licence_no)
    )


def manufacturers(
    session: Session, status: str | None = None, window: Window = ALL
) -> Sequence[Manufacturer]:
    query = window.apply(select(Manufacturer), Manufacturer.id)
    # An unconfirmed sign-up is nobody's business until its address answered.
    if status:
        query = query.where(Manufacturer.status == status)
    else:
        query = query.where(Manufacturer.status != "unconfirmed")
    return session.scalars(query).all()


def documents(session: Session, manufacturer_id: int) -> Sequence[ManufacturerDocument]:
    return session.scalars(
        select(ManufacturerDocument)
        .where(ManufacturerDocument.manufacturer_id == manufacturer_id)
        .order_by(ManufacturerDocument.id)
    ).all()


def institutions(
    session: Session, regions: Iterable[str] | None = None, window: Window = ALL
) -> Sequence[Institution]:
    query = window.apply(select(Institution), Institution.id)
    if regions is not None:
        query = query.where(Institution.region_code.in_(list(regions)))
    return session.scalars(query).all()


def cdc_offices(
    session: Session, regions: Iterable[str] | None = None, window: Window = ALL
) -> Sequence[CdcOffice]:
    query = window.apply(select(CdcOffice), CdcOffice.id)
    if regions is not None:
        query = query.where(CdcOffice.region_code.in_(list(regions)))
    return session.scalars(query).all()
