"""``vigil db archive-audit`` and ``vigil db verify-archive``: old audit months out of the
database into archive files, and those files checked (``api.audit.archive``)."""

from __future__ import annotations

import argparse
import getpass
import re
import sys
from datetime import date
from pathlib import Path
from typing import Any

_MONTH = re.compile(r"(\d{4})-(\d{2})")


def month(text: str) -> date:
    """``YYYY-MM`` as the first day of that month (an argparse type)."""
    found = _MONTH.fullmatch(text)
    if not found or not 1 <= int(found[2]) <= 12:
        raise argparse.ArgumentTypeError(f"not a month as YYYY-MM: {text!r}")
    return date(int(found[1]), int(found[2]), 1)


def add_parsers(db: Any) -> None:
    """The two commands, under ``vigil db``."""
    p = db.add_parser(
        "archive-audit",
        help="move the audit log's months before a cut into archive files, verified, then "
        "drop them (PostgreSQL; run as the migrating role)",
        description="Each month's partition before --before is written to "
        "<partition>.jsonl.gz with <partition>.manifest.json in --to, read back and checked, "
        "then detached and dropped together with an audit entry recording it. Re-running "
        "after a failure is safe. The cut must keep AUDIT_RETENTION_MONTHS whole months "
        "(default 24) before the current one.",
    )
    p.add_argument("--before", type=month, required=True, metavar="YYYY-MM", help="the cut")
    p.add_argument(
        "--to",
        required=True,
        help="where the archives go: a folder, file:///path or s3://bucket/prefix",
    )
    p.add_argument("--dry-run", action="store_true", help="list what would go; change nothing")
    p.add_argument("--database-url", help="the database (default: DATABASE_URL, else embedded)")
    p.set_defaults(func=_cmd_archive)

    p = db.add_parser(
        "verify-archive",
        help="check an archive file against its manifest (and, with --database-url, against "
        "the audit log's record of it); exit 1 saying what is wrong",
    )
    p.add_argument(
        "file", help="the archive (.jsonl.gz) or its manifest: a path, file:// or s3:// URL"
    )
    p.add_argument("--database-url", help="also compare with the audit entry that recorded it")
    p.set_defaults(func=_cmd_verify_archive)


def _fail(command: str, message: str, code: int) -> int:
    print(f"vigil db {command}: {message}", file=sys.stderr)
    return code


def _first_line(error: BaseException | None) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _cmd_archive(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError
    from sqlalchemy.exc import DBAPIError

    import api.db.tables  # noqa: F401  (the users table the log's foreign key names)
    from api.audit.archive import ArchiveError, RefusedError, archive, pending, plan
    from api.config import Settings
    from api.db.base import utcnow
    from api.db.session import Database
    from api.storage.files import open_file_store

    settings = Settings()
    database = Database.from_url(args.database_url or settings.resolved_database_url)
    if database.dialect != "postgresql":
        return _fail(
            "archive-audit",
            "archiving needs PostgreSQL: on SQLite the audit log is one table, with no months"
            " to move out",
            2,
        )
    try:
        store = open_file_store(args.to, endpoint_url=settings.s3_endpoint_url)
        retention = settings.audit_retention_months
        if args.dry_run:
            with database.bind.connect() as connection:  # type: ignore[union-attr]
                months = plan(connection, args.before, utcnow().date(), retention)
                lines = pending(connection, months, store)
            print("\n".join(lines) if lines else "nothing to archive before that month")
            return 0
        done = archive(database, store, args.before, retention=retention, who=_who(), say=print)
        if not done:
            print("nothing to archive before that month")
        return 0
    except RefusedError as exc:
        return _fail("archive-audit", str(exc), 2)
    except ArchiveError as exc:
        return _fail("archive-audit", str(exc), 1)
    except DBAPIError as exc:
        return _fail("archive-audit", _first_line(exc.orig), 3)
    except (OSError, ValueError, BotoCoreError, ClientError) as exc:
        return _fail("archive-audit", f"the archive store: {_first_line(exc)}", 3)
    finally:
        database.bind.dispose()  # type: ignore[union-attr]


def _who() -> str:
    """The person running the command, as the system knows them."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this user id (a bare container)
        return "unknown"


def _cmd_verify_archive(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError
    from sqlalchemy.exc import DBAPIError

    from api.audit.archive_file import Manifest, file_names, partition_of, verify_file
    from api.config import Settings
    from api.storage.files import open_file_store

    location, _, name = args.file.rpartition("/")
    partition = partition_of(name)
    if partition is None:
        return _fail("verify-archive", f"{name}: not an archive (.jsonl.gz) or manifest", 2)
    settings = Settings()
    try:
        store = open_file_store(location or Path.cwd(), endpoint_url=settings.s3_endpoint_url)
        with store.open(file_names(partition)[1]) as raw:
            manifest_bytes = raw.read()
        manifest = Manifest.from_bytes(manifest_bytes)
        with store.open(manifest.file) as raw:
            problems = verify_file(raw, manifest)
        if not problems and args.database_url:
            problems = _against_log(args.database_url, manifest, manifest_bytes)
    except DBAPIError as exc:
        return _fail("verify-archive", _first_line(exc.orig), 3)
    except (OSError, ValueError, TypeError, BotoCoreError, ClientError) as exc:
        return _fail("verify-archive", _first_line(exc), 2)
    if problems:
        return _fail("verify-archive", f"{manifest.month}: " + "; ".join(problems), 1)
    print(
        f"archive of {manifest.month} intact: {manifest.rows} entries, ids {manifest.first_id}"
        f" to {manifest.last_id}, SHA-256 {manifest.sha256}"
        + (", as the audit log recorded it" if args.database_url else "")
    )
    return 0


def _against_log(url: str, manifest: Any, manifest_bytes: bytes) -> list[str]:
    """Where the audit log's entry for this archive disagrees with the manifest."""
    import hashlib

    from sqlalchemy import select

    from api.audit.chain import ARCHIVED
    from api.audit.tables import AuditEntry
    from api.db.session import Database

    database = Database.from_url(url)
    try:
        with database.session() as session:
            detail = session.scalar(
                select(AuditEntry.detail)
                .where(AuditEntry.action == ARCHIVED, AuditEntry.object_id == manifest.month)
                .order_by(AuditEntry.id.desc())
                .limit(1)
            )
    finally:
        database.bind.dispose()  # type: ignore[union-attr]
    if detail is None:
        return [f"the audit log has no record of archiving {manifest.month}"]
    said = {
        "rows": manifest.rows,
        "sha256": manifest.sha256,
        "entries_sha256": manifest.entries_sha256,
        "manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest(),
    }
    return [
        f"{key}: the audit log recorded {detail.get(key)}, the archive has {value}"
        for key, value in said.items()
        if detail.get(key) != value
    ]
