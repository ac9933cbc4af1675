"""SQL for uploads and proposals."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Integer,
    and_,
    any_,
    bindparam,
    cast,
    func,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from api.batches.tables import Unit
from api.model_registry import queries as model_queries
from api.model_registry.tables import CHALLENGER, CHAMPION
from api.products.tables import Product
from api.readings import photo_bands
from api.selftests.tables import Proposal, Review, SelfTest, Upload


def upload_by_key(session: Session, test_id: int, key: str) -> Upload | None:
    return session.scalar(
        select(Upload).where(Upload.self_test_id == test_id, Upload.idempotency_key == key)
    )


def proposal_for_upload(session: Session, upload_id: int) -> Proposal | None:
    return session.scalar(select(Proposal).where(Proposal.upload_id == upload_id))


class ReadingInputs(NamedTuple):
    """What reading an upload needs (``reading_inputs``)."""

    photo_sha256: str
    test_id: int
    product: Product
    unit_code: str
    read_before: bool  # the upload has a proposal already
    models: tuple[str | None, str | None]  # the champion's and the challenger's SHA-256


def reading_inputs(
    session: Session, upload_ids: Sequence[int], model: str
) -> dict[int, ReadingInputs]:
    """What reading each upload needs, by upload id, in one query: the photo, the test, the
    test's product, the claimed unit's code, whether the upload already has a proposal, and
    which files the aliases of ``model`` name. An upload that does not exist is left out.

    The product's template (a PNG of a few hundred KB) stays unloaded (the mapping defers
    it): a process decodes a kit once and keeps it (``api.products.service.kit_of`` loads
    the template then)."""
    read_before = select(Proposal.id).where(Proposal.upload_id == Upload.id).exists()
    rows = session.execute(
        select(
            Upload.id,
            Upload.photo_sha256,
            Upload.self_test_id,
            Product,
            Unit.code,
            read_before,
            model_queries.alias_sha256(model, CHAMPION),
            model_queries.alias_sha256(model, CHALLENGER),
        )
        .join(SelfTest, SelfTest.id == Upload.self_test_id)
        .join(Product, Product.id == SelfTest.product_id)
        .join(Unit, Unit.id == SelfTest.unit_id)
        .where(Upload.id.in_(list(upload_ids)))
    ).all()
    return {
        int(upload_id): ReadingInputs(
            sha, test_id, product, str(code), bool(proposed), (champion, challenger)
        )
        for upload_id, sha, test_id, product, code, proposed, champion, challenger in rows
    }


def tests_and_latest_uploads(
    session: Session, test_ids: Collection[int]
) -> dict[int, tuple[SelfTest, int | None]]:
    """Each test as it is now and the id of its latest upload, by test id, in one query."""
    latest = select(func.max(Upload.id)).where(Upload.self_test_id == SelfTest.id).scalar_subquery()
    rows = session.execute(select(SelfTest, latest).where(SelfTest.id.in_(list(test_ids)))).all()
    return {test.id: (test, latest_id) for test, latest_id in rows}


def commit_without_waiting(session: Session) -> None:
    """Let this transaction's commit return before its WAL is on disk (PostgreSQL; SQLite
    commits as always). Only for the reading's write-back, which the sweep can redo: see
    ``api.readings.service.process_upload``."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit = off"))


_BAND_COLUMNS = (Upload.photo_band0, Upload.photo_band1, Upload.photo_band2)


def set_photo_dhashes(session: Session, hashes: Mapping[int, str | None]) -> None:
    """Each upload's photo hash (by upload id), and its bands for ``photo_hashes_near``: one
    UPDATE by primary key, sent once with every upload's values (an executemany)."""
    rows = []
    for upload_id, photo_dhash in hashes.items():
        values = photo_bands.bands(photo_dhash) if photo_dhash else (None,) * len(_BAND_COLUMNS)
        rows.append(
            {"id": upload_id, "photo_dhash": photo_dhash}
            | {column.key: value for column, value in zip(_BAND_COLUMNS, values, strict=True)}
        )
    session.execute(update(Upload), rows)


def stuck_uploads(session: Session, queued_before: datetime, limit: int = 500) -> Sequence[Upload]:
    """Uploads with no proposal whose last queueing is older than ``queued_before``."""
    return session.scalars(
        select(Upload)
        .outerjoin(Proposal, Proposal.upload_id == Upload.id)
        .where(Proposal.id.is_(None), Upload.queued_at < queued_before)
        .order_by(Upload.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=Upload)
    ).all()


def proposals_with_reviews(
    session: Session, after_id: int | None, limit: int
) -> Sequence[tuple[Proposal, Review | None]]:
    """Proposals with their deciding (last) reading, if any."""
    last_round = (
        select(Review.proposal_id, func.max(Review.round).label("round"))
        .group_by(Review.proposal_id)
        .subquery()
    )
    query = (
        select(Proposal, Review)
        .outerjoin(last_round, last_round.c.proposal_id == Proposal.id)
        .outerjoin(
            Review,
            and_(Review.proposal_id == Proposal.id, Review.round == last_round.c.round),
        )
        .order_by(Proposal.id)
        .limit(limit)
    )
    if after_id is not None:
        query = query.where(Proposal.id > after_id)
    return [(p, r) for p, r in session.execute(query).all()]


def photo_hashes_near(
    session: Session, photo_hash: str, bits: int, since: datetime, other_than_test: int
) -> Sequence[tuple[int, str]]:
    """(test id, photo hash) of other tests' uploads since ``since``: every one whose hash
    is within ``bits`` of ``photo_hash``, and others that share a band's near value (the
    caller checks the distance). Oldest upload first, so ties go to the earliest."""
    near = photo_bands.near_bands(photo_hash, bits)
    dialect = session.get_bind().dialect.name
    rows = session.execute(
        select(Upload.self_test_id, Upload.photo_dhash)
        .where(
            or_(
                *(
                    _one_of(column, values, dialect)
                    for column, values in zip(_BAND_COLUMNS, near, strict=True)
                )
            ),
            Upload.uploaded_at >= since,
            Upload.self_test_id != other_than_test,
        )
        .order_by(Upload.id)
    ).all()
    return [(int(test_id), str(dhash)) for test_id, dhash in rows]


def _one_of(column: Any, values: list[int], dialect: str) -> ColumnElement[bool]:
    """``column`` equals one of ``values`` (each looked up in its index), the values sent as one
    text parameter: the statement stays the same from photo to photo, so it is compiled once
    (and prepared on PostgreSQL). Written into the SQL, the 718 values cost 1 ms of client
    CPU per photo to render and the server a fresh parse and plan; as 718 bound parameters,
    more (psycopg re-parsed the long statement each time, 10 ms)."""
    listed = ",".join(map(str, values))
    if dialect == "postgresql":
        return column == any_(cast(bindparam(column.key, f"{{{listed}}}"), ARRAY(Integer)))
    return column.in_(
        select(literal_column("value")).select_from(
            func.json_each(bindparam(column.key, f"[{listed}]"))
        )
    )


def read_time_flags(session: Session, upload_ids: Sequence[int]) -> dict[int, str | None]:
    """Each upload's read-time flag, by upload id."""
    if not upload_ids:
        return {}
    rows = session.execute(
        select(Upload.id, Upload.read_time_flag).where(Upload.id.in_(list(upload_ids)))
    ).all()
    return {int(upload_id): flag for upload_id, flag in rows}
