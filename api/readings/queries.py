"""SQL for uploads and proposals."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import (
    Select,
    Text,
    and_,
    bindparam,
    cast,
    func,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Executable

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
    UPDATE by primary key, sent once with every upload's values (an executemany). A Core
    statement: the ORM's bulk UPDATE by primary key cost 0.24 ms of client CPU a call against
    0.09 here (one row, warm); the session's loaded uploads, if any, are not refreshed."""
    rows = []
    for upload_id, photo_dhash in hashes.items():
        values = photo_bands.bands(photo_dhash) if photo_dhash else (None,) * len(_BAND_COLUMNS)
        rows.append(
            {"upload_id": upload_id, "photo_dhash": photo_dhash}
            | {column.key: value for column, value in zip(_BAND_COLUMNS, values, strict=True)}
        )
    session.connection().execute(_SET_PHOTO_DHASH, rows)


_SET_PHOTO_DHASH = (
    update(Upload)
    .where(Upload.id == bindparam("upload_id"))
    .values({column: bindparam(column.key) for column in (Upload.photo_dhash, *_BAND_COLUMNS)})
)


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
    return photo_hashes_near_each(session, [(photo_hash, other_than_test)], bits, since)[0]


def photo_hashes_near_each(
    session: Session, asked: Sequence[tuple[str, int]], bits: int, since: datetime
) -> list[list[tuple[int, str]]]:
    """``photo_hashes_near`` for each (photo hash, its test) of ``asked``, in one statement:
    one round trip for the photos a task writes back together. Each photo's uploads are
    looked up in the bands' indexes as one photo's are (a nested loop over the photos)."""
    if not asked:
        return []
    dialect = session.get_bind().dialect.name
    radius = photo_bands.band_radius(bits)
    if dialect == "postgresql":
        # Each photo's bands; the server flips them into the values near them.
        bands = [photo_bands.bands(photo_hash) for photo_hash, _test in asked]
        params = {"tests": _pg_array(test for _hash, test in asked)}
        widths = photo_bands.BAND_WIDTHS
        for i, (column, width) in enumerate(zip(_BAND_COLUMNS, widths, strict=True)):
            params[column.key] = _pg_array(b[i] for b in bands)
            params[f"flips{i}"] = _pg_array(photo_bands.flips(width, radius))
        statement: Executable = _NEAR_PHOTOS_PG
    else:
        near = [photo_bands.near_bands(photo_hash, bits) for photo_hash, _test in asked]
        params = {"tests": json.dumps([test for _hash, test in asked])} | {
            column.key: json.dumps([n[i] for n in near]) for i, column in enumerate(_BAND_COLUMNS)
        }
        statement = _near_photos_sqlite()
    found: list[list[tuple[int, str]]] = [[] for _ in asked]
    first = 1 if dialect == "postgresql" else 0  # WITH ORDINALITY counts from 1, JSON from 0
    for index, test_id, dhash in session.execute(statement, params | {"since": since}):
        found[index - first].append((int(test_id), str(dhash)))
    return found


def _pg_array(values: Iterable[int]) -> str:
    """An integer array as PostgreSQL's text form: one parameter, whatever its length, so the
    statement stays the same from call to call (compiled once, prepared by psycopg)."""
    return "{" + ",".join(map(str, values)) + "}"


# (position of the photo asked, test id, photo hash) of the uploads near each photo asked, by
# photo, oldest upload first. The photos' near values are made once for each photo (the CTE
# is materialized): the join rechecks each upload it finds against them, and an expression
# there would be computed again for every upload.
_NEAR_PHOTOS_PG = text(
    """WITH asked AS MATERIALIZED (
        SELECT n, test,
            ARRAY(SELECT b0 # f FROM unnest(CAST(:flips0 AS integer[])) AS f) AS near0,
            ARRAY(SELECT b1 # f FROM unnest(CAST(:flips1 AS integer[])) AS f) AS near1,
            ARRAY(SELECT b2 # f FROM unnest(CAST(:flips2 AS integer[])) AS f) AS near2
        FROM unnest(
            CAST(:tests AS bigint[]), CAST(:photo_band0 AS integer[]),
            CAST(:photo_band1 AS integer[]), CAST(:photo_band2 AS integer[])
        ) WITH ORDINALITY AS photo(test, b0, b1, b2, n)
    )
    SELECT asked.n, uploads.self_test_id, uploads.photo_dhash
    FROM asked JOIN uploads ON (
        uploads.photo_band0 = ANY (asked.near0)
        OR uploads.photo_band1 = ANY (asked.near1)
        OR uploads.photo_band2 = ANY (asked.near2)
    ) AND uploads.uploaded_at >= :since AND uploads.self_test_id <> asked.test
    ORDER BY asked.n, uploads.id
    """
).bindparams(bindparam("since", type_=Upload.__table__.c.uploaded_at.type))


@cache
def _near_photos_sqlite() -> Select[Any]:
    """``_NEAR_PHOTOS_PG`` on SQLite: each band's near values, photo by photo, as one JSON
    parameter; each photo's looked up in the bands' indexes. Built once: compiled once."""
    photos = func.json_each(bindparam("tests", type_=Text)).table_valued("key", "value")
    photos = photos.alias("asked")
    one_of = [
        column.in_(
            select(literal_column("value")).select_from(
                func.json_each(
                    bindparam(column.key, type_=Text), "$[" + cast(photos.c.key, Text) + "]"
                )
            )
        )
        for column in _BAND_COLUMNS
    ]
    return (
        select(photos.c.key, Upload.self_test_id, Upload.photo_dhash)
        .select_from(photos)
        .join(
            Upload,
            and_(
                or_(*one_of),
                Upload.uploaded_at >= bindparam("since"),
                Upload.self_test_id != photos.c.value,
            ),
        )
        .order_by(photos.c.key, Upload.id)
    )


def read_time_flags(session: Session, upload_ids: Sequence[int]) -> dict[int, str | None]:
    """Each upload's read-time flag, by upload id."""
    if not upload_ids:
        return {}
    rows = session.execute(
        select(Upload.id, Upload.read_time_flag).where(Upload.id.in_(list(upload_ids)))
    ).all()
    return {int(upload_id): flag for upload_id, flag in rows}
