"""Blobs in a folder, fanned out as ``ab/cd/abcd...`` so no directory grows huge."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from itertools import takewhile
from pathlib import Path
from typing import BinaryIO

from api.storage.base import BlobStore, check_digest


class FolderBlobStore(BlobStore):
    """A folder on a local disk or a shared network file system (NFS, SMB, CephFS).

    A file is written to a temporary name in its final directory, fsynced and
    renamed into place, so a crash never leaves a half-written file under a real
    name; rename within one directory is atomic on POSIX file systems, NFS
    included. The directory is fsynced after the rename, so the name survives a
    power loss as the row that refers to it does.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.root)!r})"

    def path(self, sha256: str) -> Path:
        check_digest(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        target = self.path(sha)
        if target.exists():
            return sha
        replace_durably(target, lambda fh: fh.write(data))
        return sha

    def get(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).exists()


def replace_durably(target: Path, fill: Callable[[BinaryIO], object]) -> None:
    """Write ``target`` through ``fill`` under a temporary name, fsync it, rename it into
    place and fsync the directory: a crash leaves the old file or the whole new one, never a
    part, and once this returns a power loss cannot undo the rename (a row committed after it
    never names a missing file)."""
    # The fan-out directories this write creates: their entries need fsyncing too. Those
    # above the first that exists exist too.
    created = list(takewhile(lambda d: not d.exists(), (target.parent, *target.parent.parents)))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fill(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    for directory in dict.fromkeys((target.parent, *(d.parent for d in created))):
        fsync_directory(directory)


def fsync_directory(path: Path) -> None:
    """Flush ``path``'s entries (a rename or a new name in it) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
