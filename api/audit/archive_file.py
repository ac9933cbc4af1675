"""An archived month of the audit log: a gzip JSON Lines file and its manifest.

The file's first line says what it is (format, month, columns); each further line is one
entry, in id order, as a JSON object of the table's columns (``at`` in UTC, to the
microsecond, as its hash covers it), so every entry's hash can be recomputed from the file
alone (:func:`~api.audit.chain.link`). The gzip header carries no time or name, so the same
rows give the same bytes. The manifest (JSON) names the file, its SHA-256 and size (bytes), the
number of entries, the first and last ids and times, a digest of the entries' hashes (what
the file holds, whatever its compression) and the chain around it: the cut before and after
the month (:class:`~api.audit.chain.Cut`) and the ids of its *seams*, the entries whose
predecessor in the chain is in a neighbouring month.

:func:`verify_file` checks a file against its manifest as a stream, in bounded memory, its
cuts included; :func:`verify_series` checks that consecutive months' archives link end to end.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import IO, Any, NamedTuple, cast

from api.audit.chain import GENESIS, Cut, Link, Walk, fields_of, hashed_time, link

FORMAT = "vigil-audit-archive/1"
COLUMNS = (
    "id",
    "at",
    "actor_id",
    "actor_role",
    "action",
    "object_type",
    "object_id",
    "detail",
    "prev_hash",
    "entry_hash",
)
# Reading back: chunks of the compressed file; the same size as the transfer's parts.
CHUNK = 1 << 20


class Row(NamedTuple):
    """One entry, from the table or from an archive (the columns, in :data:`COLUMNS` order)."""

    id: int
    at: datetime
    actor_id: int | None
    actor_role: str | None
    action: str
    object_type: str
    object_id: str
    detail: dict[str, Any]
    prev_hash: str
    entry_hash: str

    def to_line(self) -> bytes:
        data = self._asdict()
        data["at"] = hashed_time(self.at)
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"

    @classmethod
    def from_line(cls, line: bytes) -> Row:
        data = json.loads(line)
        if not isinstance(data, dict) or set(data) != set(COLUMNS):
            raise ValueError("not an entry of the audit log")
        data["at"] = datetime.fromisoformat(data["at"])
        return cls(**data)


def month_label(month: date) -> str:
    """``2024-11`` for any day of November 2024."""
    return f"{month.year:04d}-{month.month:02d}"


def file_names(partition: str) -> tuple[str, str]:
    """The archive's file and manifest names for a month's partition."""
    return f"{partition}.jsonl.gz", f"{partition}.manifest.json"


def partition_of(name: str) -> str | None:
    """The partition whose archive file or manifest is called ``name`` (None: neither).

    >>> partition_of("audit_log_y2024m11.manifest.json"), partition_of("notes.txt")
    ('audit_log_y2024m11', None)
    """
    for suffix in file_names(""):
        if name.endswith(suffix) and name != suffix:
            return name.removesuffix(suffix)
    return None


@dataclass
class Manifest:
    """What an archive file holds; JSON beside it (see the module's description)."""

    month: str
    partition: str
    start: str  # the month's bounds (UTC), as the partition has them
    end: str
    file: str
    rows: int = 0
    first_id: int | None = None
    last_id: int | None = None
    first_at: str | None = None
    last_at: str | None = None
    entries_sha256: str = ""
    first_prev_hash: str | None = None
    last_hash: str | None = None
    seams: list[int] = field(default_factory=list)
    cut_before: dict[str, Any] = field(default_factory=dict)
    cut_after: dict[str, Any] = field(default_factory=dict)
    sha256: str = ""
    size: int = 0
    written_at: str = ""
    format: str = FORMAT

    def identity(self) -> tuple[Any, ...]:
        """What the rows are, whatever the compression and whenever written: two manifests
        with the same identity describe the same entries at the same place in the chain."""
        return (
            self.month,
            self.rows,
            self.first_id,
            self.last_id,
            self.entries_sha256,
            self.first_prev_hash,
            self.last_hash,
            self.seams,
            self.cut_before,
            self.cut_after,
        )

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), indent=2, sort_keys=True).encode() + b"\n"

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        parsed = json.loads(data)
        if not isinstance(parsed, dict) or parsed.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} manifest")
        return cls(**parsed)

    def header(self) -> bytes:
        """The archive file's first line."""
        described = {
            "format": self.format,
            "table": "audit_log",
            "month": self.month,
            "start": self.start,
            "end": self.end,
            "columns": list(COLUMNS),
            "hash": "entry_hash = SHA-256 over prev_hash and the fields (api/audit/chain.py)",
        }
        return json.dumps(described, separators=(",", ":")).encode() + b"\n"


class Writer:
    """Writes a month's entries (in id order) into an archive file, noting what the manifest
    says of them; deterministic: the same entries give the same bytes."""

    def __init__(self, out: IO[bytes], manifest: Manifest) -> None:
        self.manifest = manifest
        self._gzip = gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=6)
        self._gzip.write(manifest.header())
        self._entries = hashlib.sha256()
        self._buffer: list[bytes] = []

    def add(self, row: Row) -> None:
        m = self.manifest
        if m.rows == 0:
            m.first_id, m.first_at, m.first_prev_hash = row.id, hashed_time(row.at), row.prev_hash
        elif row.prev_hash != m.last_hash:
            m.seams.append(row.id)
        m.rows += 1
        m.last_id, m.last_at, m.last_hash = row.id, hashed_time(row.at), row.entry_hash
        self._entries.update(row.entry_hash.encode() + b"\n")
        self._buffer.append(row.to_line())
        if len(self._buffer) >= 1000:
            self._flush()

    def close(self) -> None:
        self._flush()
        self._gzip.close()
        self.manifest.entries_sha256 = self._entries.hexdigest()

    def _flush(self) -> None:
        self._gzip.write(b"".join(self._buffer))
        self._buffer.clear()


class _Hashing:
    """A read-only stream that hashes and counts what is read through it."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw, self.sha, self.size = raw, hashlib.sha256(), 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.sha.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass


def verify_file(raw: IO[bytes], manifest: Manifest, limit: int = 10) -> list[str]:
    """What is wrong with the archive file ``raw`` against ``manifest`` (empty: nothing).

    Re-hashes the compressed bytes, re-counts the entries, recomputes each entry's hash from
    its fields, and checks ids, times, the entries' digest, and every link from the chain's
    cut before the month to its cut after it; stops after ``limit`` problems.
    """
    problems: list[str] = []
    hashing = _Hashing(raw)
    try:
        with gzip.GzipFile(fileobj=cast(IO[bytes], hashing), mode="rb") as unzipped:
            _check_lines(_lines(unzipped), manifest, problems, limit)
    except (OSError, EOFError, ValueError) as exc:  # a damaged gzip stream or line
        problems.append(f"unreadable: {exc}")
    hashing.drain()
    if hashing.sha.hexdigest() != manifest.sha256 or hashing.size != manifest.size:
        problems.append(
            f"file has SHA-256 {hashing.sha.hexdigest()} and {hashing.size} bytes, the manifest"
            f" says {manifest.sha256} and {manifest.size}"
        )
    return problems[:limit]


def _lines(stream: gzip.GzipFile) -> Iterator[bytes]:
    while line := stream.readline(CHUNK * 16):
        yield line


def _check_lines(lines: Iterator[bytes], m: Manifest, problems: list[str], limit: int) -> None:
    header = json.loads(next(lines, b"null"))
    if not isinstance(header, dict) or (header.get("format"), header.get("month")) != (
        m.format,
        m.month,
    ):
        problems.append("the first line does not describe this month's archive")
        return
    start, end = datetime.fromisoformat(m.start), datetime.fromisoformat(m.end)
    chain = _CutToCut(m)
    entries = hashlib.sha256()
    count, first, last = 0, None, None
    for line in lines:
        row = Row.from_line(line)
        count += 1
        entries.update(row.entry_hash.encode() + b"\n")
        if last is None:
            first = row
        elif row.id <= last.id:
            problems.append(f"entry {row.id} follows entry {last.id}: not in id order")
        if not start <= row.at < end:
            problems.append(f"entry {row.id} is not of {m.month}")
        problems.extend(chain.follow(row))
        last = row
        if len(problems) >= limit:
            return
    problems.extend(chain.finish())
    found = (
        count,
        first.id if first else None,
        last.id if last else None,
        first.prev_hash if first else None,
        last.entry_hash if last else None,
        entries.hexdigest(),
    )
    said = (m.rows, m.first_id, m.last_id, m.first_prev_hash, m.last_hash, m.entries_sha256)
    names = ("entries", "first id", "last id", "first entry's link", "last hash", "digest")
    for name, got, expected in zip(names, found, said, strict=True):
        if got != expected:
            problems.append(f"{name}: the file has {got}, the manifest says {expected}")


class _CutToCut:
    """Follows a month's entries through the chain from the manifest's cut before the month
    to its cut after it (:class:`~api.audit.chain.Cut`), so that the cuts, which link the
    month to its neighbours, are checked against the entries, not taken on trust.

    Entries the cut after lists as late (written after the next month's first, so each
    links to an entry of that month) are compared with the cut's copy; every other entry,
    and the earlier months' late entries the cut before splices in, must link to the one
    before it, starting from the cut before's head, up to the cut after's head.
    """

    def __init__(self, m: Manifest) -> None:
        before, self.after = Cut.from_json(m.cut_before), Cut.from_json(m.cut_after)
        self.month = m.month
        self.late = {item.id: item for item in self.after.after}
        # An earlier month's late entry can be late for this month's cut too (clocks far
        # apart): it is not in this file, and the cut after carries it on unchanged.
        carried = [item for item in before.after if item.id in self.late]
        self.missing_late = set(self.late) - {item.id for item in carried}
        spliced = tuple(item for item in before.after if item.id not in self.late)
        self.walk = Walk(Cut(before.month, before.head, spliced))

    def follow(self, row: Row) -> list[str]:
        if row.id in self.late:
            self.missing_late.discard(row.id)
            problems = []
            if Link(row.id, row.prev_hash, row.entry_hash) != self.late[row.id]:
                problems.append(f"entry {row.id} is not as the cut after {self.month} lists it")
            if row.entry_hash != link(row.prev_hash, fields_of(row)):
                problems.append(f"entry {row.id}: its contents were changed after it was written")
            return problems
        broken = self.walk.follow(row)
        if broken is None:
            return []
        self.walk.previous = row.entry_hash  # one problem per entry, not every one after it
        return [f"entry {broken.entry_id}: {broken.reason}"]

    def finish(self) -> list[str]:
        problems = []
        broken = self.walk.finish()
        if broken is not None:
            problems.append(f"entry {broken.entry_id} (archived before): {broken.reason}")
        head = self.after.head.entry_hash if self.after.head else GENESIS
        if self.after.month != self.month or head != self.walk.previous:
            problems.append(
                f"the cut after {self.month} in the manifest is not where its entries end"
            )
        if self.missing_late:
            late = ", ".join(map(str, sorted(self.missing_late)))
            problems.append(f"the cut after {self.month} lists entries not in the file: {late}")
        return problems


def verify_series(manifests: Iterable[Manifest]) -> list[str]:
    """Where archives of consecutive months do not link end to end (empty: they do).

    Sorted by month, each archive must go on from where the one before ends: its cut
    before is the previous one's cut after (which :func:`verify_file` checks against that
    month's entries). Reports a month given twice (an overlap), archives missing between
    two given (a gap: the later one goes on from a month after the earlier), and a cut that
    differs (a broken link: a manifest changed, or an archive of other entries).
    """
    problems = []
    ordered = sorted(manifests, key=lambda m: m.month)
    for earlier, later in itertools.pairwise(ordered):
        goes_on_from = Cut.from_json(later.cut_before).month
        if later.month == earlier.month:
            same = later.identity() == earlier.identity()
            problems.append(
                f"overlap: {later.month} is given twice"
                + ("" if same else ", and the two archives hold different entries")
            )
        elif goes_on_from is not None and goes_on_from > earlier.month:
            problems.append(
                f"gap: {later.month} goes on from the cut after {goes_on_from}, but the archive"
                f" before it is of {earlier.month}: the months after {earlier.month} up to"
                f" {goes_on_from} are missing"
            )
        elif later.cut_before != earlier.cut_after:
            problems.append(
                f"broken link: {later.month} does not go on from where {earlier.month} ends"
                " (its cut before is not that month's cut after)"
            )
    return problems
