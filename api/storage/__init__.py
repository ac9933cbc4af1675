"""Content-addressed stores for photos and qualification documents.

Every blob is named by the SHA-256 of its bytes, so storing the same bytes twice
is harmless and a name can never point at different bytes. Two backends share
one interface (:class:`BlobStore`):

* :class:`~api.storage.folder.FolderBlobStore`: a local or network folder
  (``file:///srv/vigil/photos`` or a plain path). Bytes are fsynced under a
  temporary name, then renamed into place.
* :class:`~api.storage.s3.S3BlobStore`: an S3-compatible object store
  (``s3://bucket/prefix``: AWS S3, MinIO, Ceph, Garage...). One PUT is atomic and
  S3 reads are strongly consistent after a successful write, and the server
  checks the SHA-256 of what it received.

Either way ``put`` returns only once the bytes are stored durably, so a database
row that names the digest never points at a blob that is not there yet.
:func:`open_store` picks the backend from a URL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from api.config import Settings
from api.storage.base import BlobStore, check_digest
from api.storage.folder import FolderBlobStore

__all__ = ["BlobStore", "FolderBlobStore", "check_digest", "open_store", "store_for"]


def store_for(settings: Settings, kind: Literal["photos", "documents"]) -> BlobStore:
    """The store for photos or documents: ``<VIGIL_STORAGE_URL>/<kind>`` when set, else a folder.

    Without ``VIGIL_STORAGE_URL`` the folders are ``PHOTO_DIR`` and ``DOCUMENT_DIR``
    (under the data directory by default), as before.
    """
    if settings.storage_url:
        location = f"{settings.storage_url.rstrip('/')}/{kind}"
        return open_store(location, endpoint_url=settings.s3_endpoint_url)
    folder = settings.resolved_photo_dir if kind == "photos" else settings.resolved_document_dir
    return FolderBlobStore(folder)


def open_store(location: str | Path, *, endpoint_url: str | None = None) -> BlobStore:
    """The store at ``location``: a folder path, ``file:///path`` or ``s3://bucket/prefix``.

    ``endpoint_url`` points the S3 client at a store other than AWS (MinIO,
    Ceph...); credentials and region come from the usual ``AWS_*`` environment
    variables or files, never from Vigil's own settings.

    >>> open_store("file:///srv/vigil/photos")
    FolderBlobStore('/srv/vigil/photos')
    """
    if isinstance(location, Path):
        return FolderBlobStore(location)
    parts = urlsplit(location)
    if parts.scheme == "s3":
        from api.storage.s3 import S3BlobStore

        return S3BlobStore(parts.netloc, parts.path.strip("/"), endpoint_url=endpoint_url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"file URLs name a local path, got host {parts.netloc!r}")
        return FolderBlobStore(Path(unquote(parts.path)))
    if parts.scheme == "":
        return FolderBlobStore(Path(location))
    raise ValueError(f"storage URL must be file:// or s3://, got {location!r}")
