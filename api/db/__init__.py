"""Database: declarative base, engines and sessions, migrations."""

from api.db.base import Base, UTCDateTime, utcnow
from api.db.migrate import upgrade
from api.db.session import Database, make_engine

__all__ = ["Base", "Database", "UTCDateTime", "make_engine", "upgrade", "utcnow"]
