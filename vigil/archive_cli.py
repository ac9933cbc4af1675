"""``vigil db archive-audit`` and ``vigil db verify-archive``: old audit months out of the
database into archive files, and those files checked (``api.audit.archive``)."""

from __future__ import annotations

import argparse
import getpass
import re
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from api.audit.archive_file import Manifest
    from api.storage.files import FileStore

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
        help="check archive files against their manifests, that consecutive months link end "
        "to end (and, with --database-url, against the audit log's record of them and its "
        "cut); exit 1 saying what is wrong",
        description="Each archive is checked against its manifest, every link from the "
        "chain's cut before its month to the cut after it included. Given several months "
        "(several files, or a folder or S3 prefix holding them), each must go on from where "
        "the one before ends: a gap, a month given twice or a broken link is reported. With "
        "--database-url, each is compared with the audit entry that recorded it and, when "
        "the newest given is the newest archived, its cut with the one the log goes on from.",
    )
    p.add_argument(
        "file",
        nargs="+",
        help="an archive (.jsonl.gz) or its manifest, or a folder or S3 prefix of archives: a "
        "path, file:// or s3:// URL",
    )
    p.add_argument("--database-url", help="also compare with the audit log's records and cut")
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

    from api.audit.archive_file import verify_file, verify_series
    from api.config import Settings

    endpoint = Settings().s3_endpoint_url
    try:
        found = [archive for given in args.file for archive in _archives(given, endpoint)]
        if not found:
            return _fail("verify-archive", "no archive manifests there", 2)
        problems = []
        for archive in found:
            with archive.store.open(archive.manifest.file) as raw:
                problems += [
                    f"{archive.manifest.month}: {p}" for p in verify_file(raw, archive.manifest)
                ]
        problems += verify_series(archive.manifest for archive in found)
        online = None
        if not problems and args.database_url:
            problems, online = _against_log(args.database_url, found)
    except DBAPIError as exc:
        return _fail("verify-archive", _first_line(exc.orig), 3)
    except (OSError, ValueError, TypeError, BotoCoreError, ClientError) as exc:
        return _fail("verify-archive", _first_line(exc), 2)
    if problems:
        return _fail("verify-archive", "; ".join(problems), 1)
    recorded = ", as the audit log recorded it" if args.database_url else ""
    for archive in found:
        m = archive.manifest
        print(
            f"archive of {m.month} intact: {m.rows} entries, ids {m.first_id} to {m.last_id},"
            f" SHA-256 {m.sha256}{recorded}"
        )
    months = sorted(archive.manifest.month for archive in found)
    if len(months) > 1:
        print(f"{len(months)} months, {months[0]} to {months[-1]}, link end to end")
    if online:
        print(online)
    return 0


@dataclass(frozen=True)
class _Archive:
    manifest: Manifest
    manifest_bytes: bytes
    store: FileStore


def _archives(given: str, endpoint_url: str | None) -> list[_Archive]:
    """The archive ``given`` names (its file or manifest), or every archive in the folder or
    S3 prefix it names."""
    from api.audit.archive_file import Manifest, file_names, partition_of
    from api.storage.files import open_file_store

    location, _, name = given.rpartition("/")
    partition = partition_of(name)
    if partition is not None:
        store = open_file_store(location or Path.cwd(), endpoint_url=endpoint_url)
        names = [file_names(partition)[1]]
    else:
        store = open_file_store(given, endpoint_url=endpoint_url)
        names = [n for n in store.names() if (p := partition_of(n)) and n == file_names(p)[1]]
    archives = []
    for manifest_name in names:
        with store.open(manifest_name) as raw:
            data = raw.read()
        archives.append(_Archive(Manifest.from_bytes(data), data, store))
    return archives


def _against_log(url: str, archives: list[_Archive]) -> tuple[list[str], str]:
    """Where the audit log's entries for these archives disagree with their manifests, and
    whether the newest one links to what is online (a line saying so, or why it was not
    checked)."""
    import hashlib

    from sqlalchemy import select

    from api.audit.chain import ARCHIVED, cut_of
    from api.audit.tables import AuditEntry
    from api.db.session import Database

    database = Database.from_url(url)
    problems = []
    try:
        with database.session() as session:
            for archive in archives:
                m = archive.manifest
                detail = session.scalar(
                    select(AuditEntry.detail)
                    .where(AuditEntry.action == ARCHIVED, AuditEntry.object_id == m.month)
                    .order_by(AuditEntry.id.desc())
                    .limit(1)
                )
                if detail is None:
                    problems.append(f"the audit log has no record of archiving {m.month}")
                    continue
                said = {
                    "rows": m.rows,
                    "sha256": m.sha256,
                    "entries_sha256": m.entries_sha256,
                    "manifest_sha256": hashlib.sha256(archive.manifest_bytes).hexdigest(),
                }
                problems += [
                    f"{m.month}: {key}: the audit log recorded {detail.get(key)}, the archive"
                    f" has {value}"
                    for key, value in said.items()
                    if detail.get(key) != value
                ]
            cut = cut_of(session)
    finally:
        database.bind.dispose()  # type: ignore[union-attr]
    newest = max((archive.manifest for archive in archives), key=lambda m: m.month)
    if cut.month != newest.month:
        return problems, (
            f"the newest archive given is of {newest.month}, the audit log goes on after"
            f" {cut.month}: the link to what is online was not checked"
        )
    if cut.to_json() != newest.cut_after:
        problems.append(
            f"broken link: the audit log does not go on from where {newest.month} ends"
            " (its cut is not that archive's cut after)"
        )
    return problems, f"{newest.month} links to what is online (the audit log's cut)"
