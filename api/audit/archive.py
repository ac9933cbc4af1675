"""Moving old months of the audit log out of PostgreSQL, into archive files, losing nothing.

``vigil db archive-audit --before 2024-12 --to s3://bucket/audit`` takes every month's
partition before the cut, oldest first, and for each:

1. streams its entries (a server-side cursor, in id order) into a gzip JSON Lines file in a
   temporary folder, checking the chain as it goes (a month whose chain is broken is not
   archived: the break is investigated in the database first), with its manifest
   (``api.audit.archive_file``);
2. stores both through :mod:`api.storage.files` (a folder or S3), the manifest last, and
   reads the file back from there, re-hashing and re-counting it against the manifest;
3. in one transaction: appends an audit entry (``archive_month``: which month, how many
   entries, the file's and manifest's SHA-256, who; and the chain's cut after the month,
   from which ``vigil audit verify`` checks what remains), detaches the partition and drops
   it. The entry commits with the drop or not at all.

Re-running after a failure is safe: a month still attached is archived again, and an
archive already stored for it is kept if it describes the same entries and reads back
intact (else it is rewritten when damaged, or the run stops when it holds other entries).

Only the log's owner (the role that runs migrations) may detach and drop months; the
server's role may not, and gets no function to do it either, so that a compromised server
still cannot remove audit entries. The cut must leave at least ``AUDIT_RETENTION_MONTHS``
whole months before the current one in the database.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import IO

from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.exc import OperationalError

from api.audit.archive_file import Manifest, Row, Writer, file_names, month_label, verify_file
from api.audit.chain import ARCHIVED, Cut, Link, Walk, cut_of
from api.audit.service import record
from api.audit.tables import AuditEntry
from api.db.partitions import detach_and_drop, month_partitions, next_month, owns_log
from api.db.session import Database
from api.storage.files import FileStore

# Entries read from the server-side cursor at a time: a few MB, whatever the month's size.
BATCH = 5000
# Archived entries that came after the next month's first (see ``api.audit.chain.Cut``)
# are kept in the cut; a month's end normally has none or a few. More means clocks far
# apart, which someone should look at before the chain is cut there.
MAX_LATE = 1000
# Waiting for the log's lock to detach: appends queue behind the wait, so it is short,
# and tried again a few times.
LOCK_TIMEOUT = "5s"
ATTEMPTS = 4


class ArchiveError(Exception):
    """The archive cannot go on; the message says why and what to do."""


class RefusedError(ArchiveError):
    """The request itself is refused (a cut too recent, a role that may not drop months)."""


@dataclass(frozen=True)
class Month:
    first: date
    partition: str

    @property
    def label(self) -> str:
        return month_label(self.first)

    @property
    def start(self) -> datetime:
        return datetime(self.first.year, self.first.month, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        after = next_month(self.first)
        return datetime(after.year, after.month, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Outcome:
    month: Month
    manifest: Manifest
    where: str
    reused: bool  # the archive was already stored (an earlier run stopped before the drop)


def latest_cut(today: date, retention: int) -> date:
    """The newest cut allowed: ``retention`` whole months are kept before today's.

    >>> latest_cut(date(2026, 11, 30), 24)
    datetime.date(2024, 11, 1)
    """
    index = today.year * 12 + today.month - 1 - retention
    return date(index // 12, index % 12 + 1, 1)


def plan(connection: Connection, before: date, today: date, retention: int) -> list[Month]:
    """The months to archive for the cut ``before`` (their partitions, oldest first)."""
    latest = latest_cut(today, max(retention, 1))
    if before > latest:
        raise RefusedError(
            f"--before {month_label(before)} is too recent: the audit log keeps at least"
            f" {retention} whole months before the current one (AUDIT_RETENTION_MONTHS), so"
            f" the newest cut today is {month_label(latest)}"
        )
    with Database(connection).session() as session:
        archived = cut_of(session).month
    months = [
        Month(first, name)
        for first, name in month_partitions(connection).items()
        if first < before.replace(day=1)
    ]
    for month in months:
        if archived is not None and month.label <= archived:
            raise RefusedError(
                f"{month.partition} is attached, but months up to {archived} are archived"
                " already: look at its entries, and drop it by hand if it holds none"
            )
    return months


def archive(
    database: Database,
    store: FileStore,
    before: date,
    *,
    retention: int,
    who: str,
    today: date | None = None,
    say: Callable[[str], None] = lambda _line: None,
) -> list[Outcome]:
    """Archive and drop every month before ``before`` (see the module's description)."""
    today = today or datetime.now(UTC).date()
    with _engine(database).connect() as connection:
        if not owns_log(connection):
            role = connection.scalar(text("SELECT current_user"))
            raise RefusedError(
                f"the role {role} does not own audit_log, so it may not detach months: run"
                " this as the role that runs the migrations (the server's role may only append)"
            )
        months = plan(connection, before, today, retention)
    outcomes = []
    for month in months:
        outcome = archive_month(database, store, month, who)
        say(
            f"{month.label}: {outcome.manifest.rows} entries"
            f" {'(archive found and re-verified) ' if outcome.reused else ''}-> {outcome.where}"
            f" (SHA-256 {outcome.manifest.sha256}); partition {month.partition} dropped"
        )
        outcomes.append(outcome)
    return outcomes


def archive_month(database: Database, store: FileStore, month: Month, who: str) -> Outcome:
    """Archive one month's partition, verify the stored archive, then drop the partition."""
    data_name, manifest_name = file_names(month.partition)
    with TemporaryDirectory(prefix="vigil-archive-") as folder:
        local = Path(folder) / data_name
        with local.open("wb") as out:
            fresh = export(database, month, out, data_name)
        fresh.sha256, fresh.size = _file_sha256(local)
        fresh.written_at = datetime.now(UTC).isoformat(timespec="seconds")
        stored = _stored_manifest(store, manifest_name)
        reused = stored is not None and stored.identity() == fresh.identity()
        if stored is not None and not reused:
            raise ArchiveError(
                f"{store.where(manifest_name)} describes other entries of {month.label} than"
                " the database holds: move it away and find out why before archiving again"
            )
        if reused:
            assert stored is not None
            with store.open(data_name) as raw:
                reused = not verify_file(raw, stored)  # damaged: written again below
        if reused:
            assert stored is not None
            manifest = stored
        else:
            manifest = fresh
            store.put_file(data_name, local)
            with store.open(data_name) as raw:
                problems = verify_file(raw, manifest)
            if problems:
                raise ArchiveError(
                    f"{store.where(data_name)} did not read back as written: " + "; ".join(problems)
                )
            # Last: a manifest vouches for a file that is there and intact.
            (Path(folder) / manifest_name).write_bytes(manifest.to_bytes())
            store.put_file(manifest_name, Path(folder) / manifest_name)
    with store.open(manifest_name) as raw:
        manifest_sha256 = hashlib.sha256(raw.read()).hexdigest()
    drop(database, month, manifest, manifest_sha256, store.where(data_name), who)
    return Outcome(month, manifest, store.where(data_name), reused)


def export(database: Database, month: Month, out: IO[bytes], name: str) -> Manifest:
    """Write ``month``'s entries into ``out`` (an archive file), checking the chain through
    them; the manifest, less the file's own hash and size."""
    with _engine(database).connect() as connection:
        # One snapshot for the month's bounds and its rows.
        connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            with Database(connection).session() as session:
                start = cut_of(session)
            last_id = connection.scalar(text(f"SELECT max(id) FROM {month.partition}"))
            first_after = _first_after(connection, month)
            # Every entry up to the month's last, and up to the archived links still to be
            # spliced in: the month's entries and those of later months among them.
            bound = max([last_id or 0, *(item.id for item in start.after)])
            manifest = Manifest(
                month=month.label,
                partition=month.partition,
                start=month.start.isoformat(),
                end=month.end.isoformat(),
                file=name,
                cut_before=start.to_json(),
            )
            writer = Writer(out, manifest)
            walk = Walk(start)
            head, late = start.head, []

            def archived(item: Link) -> None:
                nonlocal head
                if first_after is None or item.id < first_after:
                    head = item
                else:
                    late.append(item)

            table = AuditEntry.__table__
            rows = connection.execute(
                select(*table.c).where(table.c.id <= bound).order_by(table.c.id),
                execution_options={"stream_results": True, "yield_per": BATCH},
            )
            for values in rows:
                row = Row(*values)
                spliced = len(walk.spliced)
                broken = walk.follow(row)
                if broken is not None:
                    raise ArchiveError(
                        f"the audit log's chain breaks at entry {broken.entry_id}: {broken.reason}."
                        f" {month.label} is not archived; run `vigil audit verify` and look there"
                    )
                for item in walk.spliced[spliced:]:
                    archived(item)
                if month.start <= row.at < month.end:
                    writer.add(row)
                    archived(Link(row.id, row.prev_hash, row.entry_hash))
            spliced = len(walk.spliced)
            if (broken := walk.finish()) is not None:
                raise ArchiveError(f"archived entry {broken.entry_id}: {broken.reason}")
            for item in walk.spliced[spliced:]:
                archived(item)
            writer.close()
    if len(late) > MAX_LATE or len(manifest.seams) > MAX_LATE:
        raise ArchiveError(
            f"{len(late)} entries of {month.label} or before were appended after the first"
            f" entry of a later month ({len(manifest.seams)} seams): clocks far apart? not"
            " archived"
        )
    manifest.cut_after = Cut(month.label, head, tuple(late)).to_json()
    return manifest


def _first_after(connection: Connection, month: Month) -> int | None:
    """The first entry's id after the month (by time): where the chain goes on once it is gone."""
    table = AuditEntry.__table__
    return connection.scalar(select(func.min(table.c.id)).where(table.c.at >= month.end))


def drop(
    database: Database, month: Month, manifest: Manifest, manifest_sha256: str, where: str, who: str
) -> None:
    """Record the archive in the audit log, detach the month and drop it: one transaction,
    tried again when the log's lock is not had in time."""
    detail = {
        "month": month.label,
        "rows": manifest.rows,
        "first_id": manifest.first_id,
        "last_id": manifest.last_id,
        "file": where,
        "sha256": manifest.sha256,
        "entries_sha256": manifest.entries_sha256,
        "manifest_sha256": manifest_sha256,
        "cut": manifest.cut_after,
        "by": who,
    }
    for attempt in range(ATTEMPTS):
        try:
            with database.transaction() as session:
                connection = session.connection()
                connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                detail["role"] = connection.scalar(text("SELECT current_user"))
                record(session, None, ARCHIVED, "audit_log", month.label, **detail)
                session.flush()
                # Under the chain's lock nothing is appended; an entry that reached the month
                # since the export (a clock years off) would be lost with it.
                last_id = connection.scalar(text(f"SELECT max(id) FROM {month.partition}"))
                if last_id != manifest.last_id:
                    raise ArchiveError(f"{month.partition} changed while it was archived")
                detach_and_drop(connection, month.partition)
            return
        except OperationalError as exc:
            # 55P03 lock not available (lock_timeout), 40P01 deadlock: try again.
            if getattr(exc.orig, "sqlstate", None) not in ("55P03", "40P01"):
                raise
            if attempt == ATTEMPTS - 1:
                raise ArchiveError(
                    f"could not lock audit_log to detach {month.partition} in {ATTEMPTS}"
                    f" tries of {LOCK_TIMEOUT}: a long transaction holds it; try again later"
                ) from exc
            time.sleep(2**attempt)


def _engine(database: Database) -> Engine:
    # Archiving runs transactions of its own, one after the other: not on a test's connection.
    if not isinstance(database.bind, Engine):
        raise TypeError("archiving needs a database engine, not a connection")
    return database.bind


def _stored_manifest(store: FileStore, name: str) -> Manifest | None:
    if not store.exists(name):
        return None
    with store.open(name) as raw:
        try:
            return Manifest.from_bytes(raw.read())
        except (ValueError, TypeError) as exc:
            raise ArchiveError(f"{store.where(name)} is not a readable manifest: {exc}") from None


def _file_sha256(path: Path) -> tuple[str, int]:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest(), path.stat().st_size


def pending(connection: Connection, months: list[Month], store: FileStore) -> list[str]:
    """For ``--dry-run``: a line a month, saying what would go."""
    lines = []
    if months and not owns_log(connection):
        lines.append("(this role does not own audit_log: run the archive as the migrating role)")
    for month in months:
        count, size = connection.execute(
            text(
                f"SELECT count(*), pg_total_relation_size('{month.partition}')"
                f" FROM {month.partition}"
            )
        ).one()
        found = store.exists(file_names(month.partition)[1])
        lines.append(
            f"{month.label}: {count} entries, {size / 2**20:.1f} MiB in {month.partition}"
            + (" (an archive is already stored: it would be re-verified)" if found else "")
        )
    return lines
