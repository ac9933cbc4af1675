"""Batches of up to millions of unit codes, with memory bounded by one chunk.

A batch of 1,000,000 codes held as Python strings, row dicts and ORM
parameters costs well over a gigabyte; here codes are drawn, written to the
database and read back for the CSV and the label sheets one chunk at a time.

* :func:`iter_new_codes` draws codes chunk by chunk (each chunk distinct; see
  below for distinctness across chunks).
* :func:`write_unit_codes` writes the rows of a batch: PostgreSQL ``COPY`` through
  psycopg 3 (the fastest way into PostgreSQL), SQLite one prepared INSERT
  stepped through a chunk of tuples, other databases SQLAlchemy's executemany.
  Both run on the caller's session, so the rows commit or roll back with the
  batch.

Codes of different chunks are not compared with each other: with 80 random
bits two codes in a batch of 10^6 coincide with probability about 4e-13, and
the unique index on the code column refuses the batch if they ever do.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Table, insert
from sqlalchemy.orm import Session

from api.unit_codes.codes import new_codes

CHUNK = 50_000  # codes drawn and written at once: about 10 MB of Python objects


def iter_new_codes(n: int, chunk: int = CHUNK) -> Iterator[list[str]]:
    """``n`` new unit codes in lists of at most ``chunk`` codes.

    >>> [len(codes) for codes in iter_new_codes(5, chunk=2)]
    [2, 2, 1]
    """
    if n < 0 or chunk <= 0:
        raise ValueError(f"need n >= 0 and chunk > 0, got n={n}, chunk={chunk}")
    for start in range(0, n, chunk):
        yield new_codes(min(chunk, n - start))


def write_unit_codes(
    session: Session | Connection,
    table: Table,
    batch_id: int,
    quantity: int,
    *,
    state: str = "unused",
    chunk: int = CHUNK,
) -> int:
    """Insert ``quantity`` units with fresh codes, serials 1 to ``quantity``, into ``table``.

    ``table`` is the units table (columns ``batch_id``, ``serial``, ``code``,
    ``state``), passed in so that this module does not depend on the batches
    domain. Returns the number of rows written.
    """
    if not state.isalnum():
        raise ValueError(f"state must be a plain word, got {state!r}")
    connection = session.connection() if isinstance(session, Session) else session
    chunks = iter_new_codes(quantity, chunk)
    dbapi = connection.connection.dbapi_connection
    if connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg":
        return _copy_postgresql(dbapi, table, batch_id, state, chunks)
    if connection.dialect.name == "sqlite":
        return _insert_sqlite(dbapi, table, batch_id, state, chunks)
    statement = insert(table)
    serial = 0
    for codes in chunks:
        rows = [
            {"batch_id": batch_id, "serial": serial + i, "code": code, "state": state}
            for i, code in enumerate(codes, 1)
        ]
        connection.execute(statement, rows)
        serial += len(codes)
    return serial


def _insert_sqlite(
    dbapi: Any, table: Table, batch_id: int, state: str, chunks: Iterator[list[str]]
) -> int:
    # sqlite3's own executemany steps one prepared statement through plain
    # tuples; SQLAlchemy's executemany spends longer building parameter dicts
    # than SQLite spends inserting.
    statement = f'INSERT INTO "{table.name}" (batch_id, serial, code, state) VALUES (?, ?, ?, ?)'
    serial = 0
    cursor = dbapi.cursor()
    try:
        for codes in chunks:
            cursor.executemany(
                statement, [(batch_id, serial + i, code, state) for i, code in enumerate(codes, 1)]
            )
            serial += len(codes)
    finally:
        cursor.close()
    return serial


def _copy_postgresql(
    dbapi: Any, table: Table, batch_id: int, state: str, chunks: Iterator[list[str]]
) -> int:
    from psycopg import sql

    target = sql.Identifier(*filter(None, (table.schema, table.name)))
    statement = sql.SQL("COPY {} (batch_id, serial, code, state) FROM STDIN").format(target)
    serial = 0
    with dbapi.cursor() as cursor, cursor.copy(statement) as copy:
        for codes in chunks:
            # Codes, digits and the state need no escaping in COPY's text format.
            copy.write(
                "".join(
                    f"{batch_id}\t{serial + i}\t{code}\t{state}\n"
                    for i, code in enumerate(codes, 1)
                )
            )
            serial += len(codes)
    return serial
