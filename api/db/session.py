"""Engines and sessions for SQLite (embedded) and PostgreSQL (production)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

# How long a SQLite transaction waits for another one's write lock before it fails.
SQLITE_BUSY_TIMEOUT_SECONDS = 30
# Connections per process: api.admission lets fewer requests than this work at once, so
# an admitted request always gets one (see there why); one that still waits longer than
# the timeout is answered 503 with Retry-After (api.errors), not left hanging.
POOL_CONNECTIONS = 40
POOL_TIMEOUT_SECONDS = 5


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``, with the SQLite settings a multi-threaded server needs.

    SQL parameters are never written into error messages or logs: they carry password
    hashes, encrypted personal data and patients' locations (issue 11).
    """
    kwargs.setdefault("hide_parameters", True)
    kwargs.setdefault("pool_size", POOL_CONNECTIONS // 4)
    kwargs.setdefault("max_overflow", POOL_CONNECTIONS - POOL_CONNECTIONS // 4)
    kwargs.setdefault("pool_timeout", POOL_TIMEOUT_SECONDS)
    if url.startswith("sqlite"):
        connect_args = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_SECONDS}
        connect_args.update(kwargs.pop("connect_args", {}))
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        _sqlite_pragmas(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_pragmas(engine: Engine) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT; take it over (the
    # documented SQLAlchemy recipe), and turn foreign keys on.
    #
    # Every transaction begins IMMEDIATE, taking the write lock up front. A deferred
    # BEGIN reads from a snapshot; if another connection commits a write meanwhile, the
    # first write of this transaction cannot wait for the lock (SQLite refuses to
    # upgrade a stale snapshot) and fails at once with "database is locked", whatever
    # the busy timeout. Services read, then write (log-in, settling held reviews
    # inside a GET), so on SQLite transactions run one at a time and wait their turn.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """An engine (or one test connection) and the session factory over it."""

    def __init__(self, bind: Engine | Connection) -> None:
        self.bind = bind
        # A test binds one connection in an outer transaction; sessions then
        # work in savepoints and everything is rolled back at the end.
        mode = "create_savepoint" if isinstance(bind, Connection) else "conditional_savepoint"
        self.sessionmaker = sessionmaker(
            bind=bind, expire_on_commit=False, join_transaction_mode=mode
        )
        # On PostgreSQL, sessions whose statements each commit by themselves: see ``reads``.
        self._reads = (
            sessionmaker(
                bind=bind.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False
            )
            if isinstance(bind, Engine) and bind.dialect.name == "postgresql"
            else self.sessionmaker
        )

    @classmethod
    def from_url(cls, url: str) -> Database:
        return cls(make_engine(url))

    @property
    def dialect(self) -> str:
        return self.bind.dialect.name

    def session(self) -> Session:
        return self.sessionmaker()

    def reads(self) -> Session:
        """A session for reads that need no transaction of their own (each statement sees a
        consistent state by itself): on PostgreSQL without BEGIN and ROLLBACK, two round trips
        less; elsewhere, and on a test's connection, a plain session. Never write with it."""
        return self._reads()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session that commits when the block ends and rolls back on error."""
        with self.sessionmaker() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
