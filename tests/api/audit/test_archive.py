"""Archiving old audit months (``vigil db archive-audit``) on a real PostgreSQL.

Each test migrates a database of its own on the server ``VIGIL_TEST_DATABASE_URL`` names,
else 127.0.0.1:5432 (as ``tests/api/db/test_partitions.py``), and writes chained entries in
months far enough back to be archived: two months to archive, with an entry of the second
appended after the first entry of the month after it (as a writer that waited for the
chain's lock across midnight would), then months that stay.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from alembic import command
from sqlalchemy import Engine, make_url, select, text
from stack_services import (
    create_database,
    drop_database,
    own_database_url,
    postgres_server,
    reachable,
    s3_server,
)

import api.audit.archive
import api.audit.service
import api.db.tables
from api.audit.archive import archive
from api.audit.archive_file import Manifest
from api.audit.chain import ARCHIVED, cut_of, verify
from api.audit.service import record
from api.audit.tables import AuditEntry
from api.db.migrate import alembic_config
from api.db.partitions import add_months, partition_name
from api.db.session import Database, make_engine
from api.storage.files import FolderFileStore, open_file_store
from vigil.cli import main

SERVER = postgres_server()


def months_back(count: int) -> date:
    today = datetime.now(UTC).date()
    index = today.year * 12 + today.month - 1 - count
    return date(index // 12, index % 12 + 1, 1)


def at(month: date, day: int, hour: int = 12) -> datetime:
    return datetime(month.year, month.month, day, hour, tzinfo=UTC)


OLDEST, SECOND, KEPT = months_back(30), months_back(29), months_back(28)
CUT = KEPT.strftime("%Y-%m")
SECOND_END = at(KEPT, 1, 0)
# In id order, as appended: the second month's last entry came after the kept month's first.
TIMES = [
    at(OLDEST, 1, 0),
    at(OLDEST, 15),
    at(OLDEST, 28),
    at(SECOND, 3),
    SECOND_END,  # the first entry of the kept month
    SECOND_END - timedelta(microseconds=1),  # late: the second month's
    at(KEPT, 2),
    at(months_back(0), 1, 0),
]
ARCHIVED_IDS = {1, 2, 3}, {4, 6}


def write_at(database: Database, times: list[datetime], monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter(times)
    monkeypatch.setattr(api.audit.service, "utcnow", lambda: next(clock))
    with database.transaction() as session:
        for n in range(len(times)):
            record(session, None, "test", "thing", n, n=n, text="ünïcode")
    monkeypatch.undo()


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """A migrated database with :data:`TIMES`' entries (ids 1 to 8)."""
    server = make_url(SERVER)
    if not reachable(server.host or "127.0.0.1", server.port or 5432):
        pytest.skip(f"PostgreSQL not reachable at {server.host}:{server.port}")
    url = own_database_url(SERVER, "archive")
    create_database(url)
    command.upgrade(alembic_config(url), "head")
    engine = make_engine(url)
    with engine.begin() as conn:
        add_months(conn, OLDEST, months=2)
    write_at(Database(engine), TIMES, monkeypatch)
    yield engine
    engine.dispose()
    drop_database(url)


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def ids(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.scalars(text("SELECT id FROM audit_log ORDER BY id")))


def attached(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(
            conn.scalars(
                text(
                    "SELECT inhrelid::regclass::text FROM pg_inherits"
                    " WHERE inhparent = 'audit_log'::regclass"
                )
            )
        )


def archive_entries(engine: Engine) -> list[AuditEntry]:
    with Database(engine).session() as session:
        query = select(AuditEntry).where(AuditEntry.action == ARCHIVED).order_by(AuditEntry.id)
        return list(session.scalars(query))


def test_two_old_months_go_to_files_and_what_remains_still_verifies(
    log: Engine, tmp_path: Path, capsys: Any
) -> None:
    url, folder = url_of(log), tmp_path / "archive"
    # As an operator runs it: a process of its own, with only what the command imports.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "vigil.cli",
            "db",
            "archive-audit",
            "--before",
            CUT,
            "--to",
            str(folder),
            "--database-url",
            url,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    printed = done.stdout
    assert "3 entries" in printed
    assert "2 entries" in printed
    assert not {partition_name(OLDEST), partition_name(SECOND)} & attached(log)
    assert partition_name(KEPT) in attached(log)
    # The archived entries are gone; the rest and the two records of the archive remain.
    assert ids(log) == [5, 7, 8, 9, 10]
    entries = archive_entries(log)
    assert [(e.object_id, e.detail["rows"], e.detail["by"]) for e in entries] == [
        (OLDEST.strftime("%Y-%m"), 3, entries[0].detail["by"]),
        (SECOND.strftime("%Y-%m"), 2, entries[0].detail["by"]),
    ]
    with Database(log).session() as session:
        assert verify(session) == (5, None)
        cut = cut_of(session)
    assert cut.month == SECOND.strftime("%Y-%m")
    assert cut.head is not None
    assert cut.head.id == 4
    assert [item.id for item in cut.after] == [6]  # the late one, spliced in after 5
    assert main(["audit", "verify", "--database-url", url]) == 0
    assert "5 entries (after the months archived" in capsys.readouterr().out

    for month, expected, entry in zip((OLDEST, SECOND), ARCHIVED_IDS, entries, strict=True):
        name = partition_name(month)
        manifest = Manifest.from_bytes((folder / f"{name}.manifest.json").read_bytes())
        data = (folder / f"{name}.jsonl.gz").read_bytes()
        assert (manifest.sha256, manifest.size) == (entry.detail["sha256"], len(data))
        lines = gzip.decompress(data).decode().splitlines()
        header, rows = json.loads(lines[0]), [json.loads(line) for line in lines[1:]]
        assert header["month"] == manifest.month == month.strftime("%Y-%m")
        assert {row["id"] for row in rows} == expected
        assert (manifest.rows, manifest.first_id, manifest.last_id) == (
            len(expected),
            min(expected),
            max(expected),
        )
        assert rows[0]["detail"]["text"] == "ünïcode"
        target = str(folder / f"{name}.jsonl.gz")
        assert main(["db", "verify-archive", target, "--database-url", url]) == 0
        assert "intact" in capsys.readouterr().out
    assert (
        Manifest.from_bytes((folder / f"{partition_name(SECOND)}.manifest.json").read_bytes()).seams
        == [6]  # entry 6 links to 5, which is in the kept month
    )

    # One changed entry in a file: its hash no longer fits, and the file's SHA-256 neither.
    damaged = folder / f"{partition_name(OLDEST)}.jsonl.gz"
    text_ = gzip.decompress(damaged.read_bytes()).replace(b'"n":1', b'"n":9')
    damaged.write_bytes(gzip.compress(text_))
    assert main(["db", "verify-archive", str(damaged)]) == 1
    err = capsys.readouterr().err
    assert "entry 2: its contents were changed after it was written" in err
    assert "SHA-256" in err


def test_a_cut_inside_the_retention_is_refused_and_nothing_changes(
    log: Engine, tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, before = url_of(log), ids(log)
    recent = months_back(23).strftime("%Y-%m")
    assert (
        main(
            [
                "db",
                "archive-audit",
                "--before",
                recent,
                "--to",
                str(tmp_path),
                "--database-url",
                url,
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "too recent" in err
    assert "24 whole months" in err
    monkeypatch.setenv("AUDIT_RETENTION_MONTHS", "36")
    assert (
        main(["db", "archive-audit", "--before", CUT, "--to", str(tmp_path), "--database-url", url])
        == 2
    )
    assert "36 whole months" in capsys.readouterr().err
    assert ids(log) == before
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(SystemExit, match="2"):  # argparse's usage error
        main(["db", "archive-audit", "--before", "2024-13", "--to", str(tmp_path)])
    assert "not a month as YYYY-MM" in capsys.readouterr().err


def test_a_dry_run_lists_the_months_and_changes_nothing(
    log: Engine, tmp_path: Path, capsys: Any
) -> None:
    url, before, partitions = url_of(log), ids(log), attached(log)
    argv = ["db", "archive-audit", "--before", CUT, "--to", str(tmp_path), "--database-url", url]
    assert main([*argv, "--dry-run"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == [
        OLDEST.strftime("%Y-%m"),
        SECOND.strftime("%Y-%m"),
    ]
    assert "3 entries" in lines[0]
    assert "2 entries" in lines[1]
    assert (ids(log), attached(log), list(tmp_path.iterdir())) == (before, partitions, [])


def test_a_run_stopped_between_writing_and_dropping_is_finished_by_running_again(
    log: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FolderFileStore(tmp_path)
    real = api.audit.archive.detach_and_drop

    def crash(*_args: Any) -> None:
        raise KeyboardInterrupt  # the process dies: its transaction is rolled back

    monkeypatch.setattr(api.audit.archive, "detach_and_drop", crash)
    with pytest.raises(KeyboardInterrupt):
        archive(Database(log), store, KEPT, retention=24, who="tester")
    oldest = partition_name(OLDEST)
    assert (tmp_path / f"{oldest}.manifest.json").is_file()
    assert oldest in attached(log)
    assert archive_entries(log) == []
    with Database(log).session() as session:
        assert verify(session) == (8, None)  # nothing happened to the log
    written = (tmp_path / f"{oldest}.manifest.json").read_bytes()

    monkeypatch.setattr(api.audit.archive, "detach_and_drop", real)
    done = archive(Database(log), store, KEPT, retention=24, who="tester")
    assert [(o.month.first, o.reused) for o in done] == [(OLDEST, True), (SECOND, False)]
    assert (tmp_path / f"{oldest}.manifest.json").read_bytes() == written  # kept as it was
    # The kept entries and the two records (the stopped run's record took id 9 and was undone).
    assert ids(log) == [5, 7, 8, 10, 11]
    with Database(log).session() as session:
        assert verify(session) == (5, None)
    # Run again: nothing is left before the cut.
    assert archive(Database(log), store, KEPT, retention=24, who="tester") == []


def test_a_damaged_archive_is_written_again_and_a_different_one_stops_the_run(
    log: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FolderFileStore(tmp_path)
    monkeypatch.setattr(
        api.audit.archive, "detach_and_drop", lambda *_: (_ for _ in ()).throw(KeyboardInterrupt)
    )
    with pytest.raises(KeyboardInterrupt):
        archive(Database(log), store, KEPT, retention=24, who="tester")
    monkeypatch.undo()
    oldest = partition_name(OLDEST)
    data = tmp_path / f"{oldest}.jsonl.gz"
    data.write_bytes(data.read_bytes()[:-5])  # cut short
    done = archive(Database(log), store, SECOND, retention=24, who="tester")
    assert [(o.month.first, o.reused) for o in done] == [(OLDEST, False)]
    assert main(["db", "verify-archive", str(data)]) == 0

    # A manifest for the second month that describes other entries: the run stops there.
    manifest = tmp_path / f"{partition_name(SECOND)}.manifest.json"
    manifest.write_text(
        json.dumps(
            {
                **json.loads((tmp_path / f"{oldest}.manifest.json").read_text()),
                "month": SECOND.strftime("%Y-%m"),
            }
        )
    )
    with pytest.raises(api.audit.archive.ArchiveError, match="other entries"):
        archive(Database(log), store, KEPT, retention=24, who="tester")
    assert partition_name(SECOND) in attached(log)


def test_the_servers_role_may_not_archive(log: Engine, tmp_path: Path, capsys: Any) -> None:
    role = f"vigil_archive_app_{os.getpid()}"
    with log.begin() as conn:
        conn.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        conn.exec_driver_sql(f"GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO {role}")
        conn.exec_driver_sql(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}")
    try:
        as_app = log.url.set(username=role).render_as_string(hide_password=False)
        argv = ["db", "archive-audit", "--before", CUT, "--to", str(tmp_path)]
        assert main([*argv, "--database-url", as_app]) == 2
        assert "does not own audit_log" in capsys.readouterr().err
        app = make_engine(as_app)
        with app.connect() as conn:
            for statement in (
                f"ALTER TABLE audit_log DETACH PARTITION {partition_name(OLDEST)}",
                f"DROP TABLE {partition_name(OLDEST)}",
            ):
                with pytest.raises(Exception, match="must be owner"), conn.begin():
                    conn.exec_driver_sql(statement)
        app.dispose()
        assert partition_name(OLDEST) in attached(log)
        assert list(tmp_path.iterdir()) == []
    finally:
        with log.begin() as conn:
            conn.exec_driver_sql(f"DROP OWNED BY {role}")
            conn.exec_driver_sql(f"DROP ROLE {role}")


def test_on_sqlite_the_command_says_it_needs_postgresql(tmp_path: Path, capsys: Any) -> None:
    url = f"sqlite:///{tmp_path / 'v.db'}"
    assert (
        main(
            [
                "db",
                "archive-audit",
                "--before",
                CUT,
                "--to",
                str(tmp_path / "a"),
                "--database-url",
                url,
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "needs PostgreSQL" in err[0]


def three_months_archived(log: Engine, folder: Path) -> dict[date, Path]:
    """Archive the three old months (the kept one too, through a later cut): each month's
    manifest."""
    before = months_back(27).strftime("%Y-%m")
    argv = ["db", "archive-audit", "--before", before, "--to", str(folder)]
    assert main([*argv, "--database-url", url_of(log)]) == 0
    return {m: folder / f"{partition_name(m)}.manifest.json" for m in (OLDEST, SECOND, KEPT)}


def test_consecutive_months_link_end_to_end_and_the_newest_to_what_is_online(
    log: Engine, tmp_path: Path, capsys: Any
) -> None:
    folder = tmp_path / "archive"
    manifests = three_months_archived(log, folder)
    capsys.readouterr()
    url = url_of(log)
    assert main(["db", "verify-archive", str(folder), "--database-url", url]) == 0
    out = capsys.readouterr().out
    assert out.count("intact") == 3
    assert f"3 months, {OLDEST:%Y-%m} to {KEPT:%Y-%m}, link end to end" in out
    assert f"{KEPT:%Y-%m} links to what is online" in out
    # The late entry 6 (the second month's, after the kept month's first) is where the
    # months interleave: each file's cuts were checked against its entries.
    second = Manifest.from_bytes(manifests[SECOND].read_bytes())
    assert [item[0] for item in second.cut_after["after"]] == [6]

    # Files named one by one, in any order, are the same series.
    named = [str(manifests[m]) for m in (KEPT, OLDEST)] + [
        str(folder / f"{partition_name(SECOND)}.jsonl.gz")
    ]
    assert main(["db", "verify-archive", *named]) == 0
    assert "link end to end" in capsys.readouterr().out

    # Older months only: they link to each other; what is online goes on from a later cut.
    older = [str(manifests[OLDEST]), str(manifests[SECOND])]
    assert main(["db", "verify-archive", *older, "--database-url", url]) == 0
    assert "the link to what is online was not checked" in capsys.readouterr().out


def test_a_missing_month_a_month_twice_and_a_changed_cut_are_reported(
    log: Engine, tmp_path: Path, capsys: Any
) -> None:
    folder = tmp_path / "archive"
    manifests = three_months_archived(log, folder)
    capsys.readouterr()

    # A gap: the second month is not given.
    assert main(["db", "verify-archive", str(manifests[OLDEST]), str(manifests[KEPT])]) == 1
    err = capsys.readouterr().err
    assert f"gap: {KEPT:%Y-%m} goes on from the cut after {SECOND:%Y-%m}" in err

    # An overlap: the same month from two places.
    copy = tmp_path / "copy"
    copy.mkdir()
    for suffix in (".manifest.json", ".jsonl.gz"):
        name = partition_name(SECOND) + suffix
        (copy / name).write_bytes((folder / name).read_bytes())
    assert main(["db", "verify-archive", str(folder), str(copy / name)]) == 1
    assert f"overlap: {SECOND:%Y-%m} is given twice" in capsys.readouterr().err

    # A manifest whose cut after was changed: the file's entries do not end there, and the
    # next month no longer goes on from it.
    second = json.loads(manifests[SECOND].read_text())
    head = second["cut_after"]["head"]
    second["cut_after"]["head"] = [head[0], head[1], "f" * 64]
    manifests[SECOND].write_text(json.dumps(second))
    assert main(["db", "verify-archive", str(folder)]) == 1
    err = capsys.readouterr().err
    assert f"the cut after {SECOND:%Y-%m} in the manifest is not where its entries end" in err
    assert f"broken link: {KEPT:%Y-%m} does not go on from where {SECOND:%Y-%m} ends" in err

    # Changed on both sides alike, the link holds, but the entries still say otherwise.
    kept = json.loads(manifests[KEPT].read_text())
    kept["cut_before"] = second["cut_after"]
    manifests[KEPT].write_text(json.dumps(kept))
    assert main(["db", "verify-archive", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "not where its entries end" in err
    assert "broken link" not in err


@pytest.fixture
def s3_location(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """``s3://archive/audit`` on a local S3-compatible server."""
    with s3_server() as endpoint:
        monkeypatch.setenv("VIGIL_S3_ENDPOINT_URL", endpoint)
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="archive")
        yield "s3://archive/audit"


def test_archives_go_to_s3_compatible_storage_too(
    log: Engine, s3_location: str, capsys: Any
) -> None:
    url = url_of(log)
    assert (
        main(["db", "archive-audit", "--before", CUT, "--to", s3_location, "--database-url", url])
        == 0
    )
    assert re.search(
        r"-> s3://archive/audit/audit_log_y\d{4}m\d{2}\.jsonl\.gz", capsys.readouterr().out
    )
    store = open_file_store(s3_location, endpoint_url=os.environ["VIGIL_S3_ENDPOINT_URL"])
    for month in (OLDEST, SECOND):
        assert store.exists(f"{partition_name(month)}.manifest.json")
        target = f"{s3_location}/{partition_name(month)}.manifest.json"
        assert main(["db", "verify-archive", target, "--database-url", url]) == 0
    assert ids(log) == [5, 7, 8, 9, 10]
    # The whole prefix: both months, linked to each other and to what is online.
    capsys.readouterr()
    assert main(["db", "verify-archive", s3_location, "--database-url", url]) == 0
    out = capsys.readouterr().out
    assert "2 months" in out
    assert "links to what is online" in out
