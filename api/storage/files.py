"""Named files beside the content-addressed stores: archives that people look up by name.

Photos and documents are named by their SHA-256 (:class:`~api.storage.BlobStore`); an
archive of an audit-log month is looked up by its month, possibly years later, and may be
larger than memory, so it is stored from a local file and read back as a stream. The same
locations serve (a folder, ``file:///path`` or ``s3://bucket/prefix``, see
:func:`~api.storage.open_store`), with the same durability: a folder's file is fsynced under
a temporary name and renamed into place (and its directory fsynced); an S3 upload, multipart
for large files, becomes visible whole or not at all.

>>> open_file_store("file:///srv/vigil/archive")
FolderFileStore('/srv/vigil/archive')
"""

from __future__ import annotations

import re
import shutil
from abc import ABC, abstractmethod
from pathlib import Path
from typing import IO, Any

from api.storage import FolderBlobStore, open_store
from api.storage.folder import replace_durably

# Plain names only: nothing that could climb out of the folder or into another key prefix.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}")


def check_name(name: str) -> str:
    """``name`` if it is a plain file name (letters, digits, ``._-``), else :class:`ValueError`.

    >>> check_name("audit_log_y2024m11.jsonl.gz")
    'audit_log_y2024m11.jsonl.gz'
    """
    if not _NAME.fullmatch(name):
        raise ValueError(f"not a plain file name: {name!r}")
    return name


class FileStore(ABC):
    """Files by name. ``put_file`` replaces a file of the same name whole."""

    @abstractmethod
    def put_file(self, name: str, source: Path) -> None:
        """Store the local file ``source`` durably as ``name``."""

    @abstractmethod
    def open(self, name: str) -> IO[bytes]:
        """The bytes stored as ``name``, as a stream; :class:`FileNotFoundError` if none."""

    @abstractmethod
    def exists(self, name: str) -> bool:
        """Whether a file is stored as ``name``."""

    @abstractmethod
    def where(self, name: str) -> str:
        """Where ``name`` is, for people (a path or an ``s3://`` URL)."""

    @abstractmethod
    def names(self) -> list[str]:
        """The names of the files stored, sorted; :class:`FileNotFoundError` if the folder
        itself is missing."""


class FolderFileStore(FileStore):
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.root)!r})"

    def path(self, name: str) -> Path:
        return self.root / check_name(name)

    def put_file(self, name: str, source: Path) -> None:
        target = self.path(name)
        with open(source, "rb") as fh:
            replace_durably(target, lambda out: shutil.copyfileobj(fh, out, 1 << 20))

    def open(self, name: str) -> IO[bytes]:
        return open(self.path(name), "rb")

    def exists(self, name: str) -> bool:
        return self.path(name).is_file()

    def where(self, name: str) -> str:
        return str(self.path(name))

    def names(self) -> list[str]:
        # A temporary name of a write in progress (``.tmp-...``) is no file yet.
        return sorted(
            p.name for p in self.root.iterdir() if p.is_file() and _NAME.fullmatch(p.name)
        )


class S3FileStore(FileStore):
    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client, self.bucket, self.prefix = client, bucket, prefix.strip("/")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.bucket!r}, {self.prefix!r})"

    def key(self, name: str) -> str:
        check_name(name)
        return f"{self.prefix}/{name}" if self.prefix else name

    def put_file(self, name: str, source: Path) -> None:
        # boto3's transfer manager streams the file, in parts when it is large, with a
        # SHA-256 checksum on each part that the server checks.
        self.client.upload_file(
            str(source), self.bucket, self.key(name), ExtraArgs={"ChecksumAlgorithm": "SHA256"}
        )

    def open(self, name: str) -> IO[bytes]:
        from api.storage.s3 import ClientError, missing

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.key(name))
        except ClientError as error:
            if missing(error):
                raise FileNotFoundError(self.where(name)) from None
            raise
        body: IO[bytes] = response["Body"]
        return body

    def exists(self, name: str) -> bool:
        from api.storage.s3 import key_exists

        return key_exists(self.client, self.bucket, self.key(name))

    def where(self, name: str) -> str:
        return f"s3://{self.bucket}/{self.key(name)}"

    def names(self) -> list[str]:
        # The files right under the prefix (not those of a deeper "folder").
        prefix = f"{self.prefix}/" if self.prefix else ""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix, Delimiter="/"
        )
        return sorted(
            item["Key"].removeprefix(prefix) for page in pages for item in page.get("Contents", [])
        )


def open_file_store(location: str | Path, *, endpoint_url: str | None = None) -> FileStore:
    """The named-file store at ``location``, read as :func:`~api.storage.open_store` reads it."""
    blobs = open_store(location, endpoint_url=endpoint_url)
    if isinstance(blobs, FolderBlobStore):
        return FolderFileStore(blobs.root)
    from api.storage.s3 import S3BlobStore

    assert isinstance(blobs, S3BlobStore)
    return S3FileStore(blobs.client, blobs.bucket, blobs.prefix)
