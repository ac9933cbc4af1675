"""The folder and the S3 store keep the same promises; S3 is a local moto server."""

import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from stack_services import s3_server

from api.config import Settings
from api.storage import BlobStore, FolderBlobStore, open_store, store_for
from api.storage.s3 import S3BlobStore


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with s3_server() as endpoint:
        yield endpoint


@pytest.fixture
def bucket(s3_endpoint: str, request: pytest.FixtureRequest) -> str:
    name = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:50].strip("-")
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture(params=["folder", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "folder":
        return open_store(f"file://{tmp_path}/blobs")
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = request.getfixturevalue("bucket")
    return open_store(f"s3://{bucket}/photos", endpoint_url=endpoint)


def stored_objects(store: BlobStore) -> list[str]:
    if isinstance(store, FolderBlobStore):
        return sorted(p.name for p in store.root.rglob("*") if p.is_file())
    assert isinstance(store, S3BlobStore)
    listing = store.client.list_objects_v2(Bucket=store.bucket)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def test_round_trip(store: BlobStore) -> None:
    data = b"\xff\xd8 a photo \x00 with every byte value" + bytes(range(256))
    sha = store.put(data)
    assert sha == hashlib.sha256(data).hexdigest()
    assert store.exists(sha)
    assert store.get(sha) == data


def test_put_is_idempotent(store: BlobStore) -> None:
    first = store.put(b"same bytes")
    assert store.put(b"same bytes") == first
    other = store.put(b"other bytes")
    assert len(stored_objects(store)) == 2
    assert store.get(first) == b"same bytes"
    assert store.get(other) == b"other bytes"


def test_missing_blob(store: BlobStore) -> None:
    absent = hashlib.sha256(b"never stored").hexdigest()
    assert not store.exists(absent)
    with pytest.raises(FileNotFoundError):
        store.get(absent)


@pytest.mark.parametrize(
    "name", ["../../etc/passwd", "A" * 64, "0" * 63, "0" * 65, "", "0" * 62 + "/x"]
)
def test_a_name_that_is_not_a_digest_is_refused(store: BlobStore, name: str) -> None:
    with pytest.raises(ValueError, match="SHA-256"):
        store.get(name)
    with pytest.raises(ValueError, match="SHA-256"):
        store.exists(name)


def test_large_object(store: BlobStore) -> None:
    data = os.urandom(6 * 1024 * 1024 + 7)  # a 12-MP JPEG is a few MB
    sha = store.put(data)
    assert store.get(sha) == data


def test_s3_keys_sit_under_the_prefix(s3_endpoint: str, bucket: str) -> None:
    store = open_store(f"s3://{bucket}/deployment-a/photos", endpoint_url=s3_endpoint)
    sha = store.put(b"x")
    assert stored_objects(store) == [f"deployment-a/photos/{sha[:2]}/{sha}"]
    # Another prefix in the same bucket is another store.
    other = open_store(f"s3://{bucket}/deployment-b/photos", endpoint_url=s3_endpoint)
    assert not other.exists(sha)


def test_the_settings_choose_the_backend(s3_endpoint: str, bucket: str, tmp_path: Path) -> None:
    shared = Settings(storage_url=f"s3://{bucket}/vigil", s3_endpoint_url=s3_endpoint)
    photos, documents = store_for(shared, "photos"), store_for(shared, "documents")
    sha = photos.put(b"photo")
    assert photos.get(sha) == b"photo"
    assert not documents.exists(sha)  # photos and documents keep apart

    local = Settings(data_dir=tmp_path)
    folder = store_for(local, "photos")
    assert isinstance(folder, FolderBlobStore)
    assert folder.root == tmp_path / "photos"


@pytest.mark.parametrize("url", ["ftp://host/x", "s3:///no-bucket", "file://otherhost/srv/photos"])
def test_unusable_storage_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match=r"s3|file|bucket"):
        open_store(url)


def test_the_folder_store_syncs_each_directory_a_new_photo_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rename is on disk only once its directory is, and a new fan-out directory only once
    its parent is: without that, a power loss could drop a photo whose row was committed.
    The real fsync runs; the test only notes which files and directories it was given."""
    synced: list[tuple[int, int]] = []
    real_fsync = os.fsync

    def noting(fd: int) -> None:
        status = os.fstat(fd)
        synced.append((status.st_dev, status.st_ino))
        real_fsync(fd)

    def identity(path: Path) -> tuple[int, int]:
        status = path.stat()
        return status.st_dev, status.st_ino

    store = FolderBlobStore(tmp_path / "blobs")
    monkeypatch.setattr(os, "fsync", noting)
    digest = store.put(b"first photo")
    path = store.path(digest)
    # The file, its directory, and the parents of the three directories made for it.
    made = [path.parent, path.parent.parent, store.root]
    assert synced[0] == identity(path)
    assert set(synced[1:]) == {identity(d) for d in [*made, tmp_path]}

    synced.clear()
    second = b"second photo"
    folder = store.path(hashlib.sha256(second).hexdigest()).parent
    folder.mkdir(parents=True)
    store.put(second)  # into a directory that exists: only it changes
    assert synced[1:] == [identity(folder)]
