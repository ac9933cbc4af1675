"""Blobs in an S3-compatible object store, through boto3.

boto3 is the reference S3 client: maintained by AWS, spoken to by every
S3-compatible server (MinIO, Ceph RGW, Garage, Cloudflare R2), with retries and
a connection pool, and a client that is safe to share between the threads
FastAPI runs handlers in.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from api.storage.base import BlobStore, check_digest

_MISSING = {"404", "NoSuchKey", "NotFound"}


def missing(error: ClientError) -> bool:
    """Whether an S3 error says the key is not there (servers differ in how they say it)."""
    return error.response.get("Error", {}).get("Code") in _MISSING


def key_exists(client: Any, bucket: str, key: str) -> bool:
    """Whether ``key`` is in ``bucket``: a HEAD request, nothing read."""
    try:
        client.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if missing(error):
            return False
        raise
    return True


class S3BlobStore(BlobStore):
    """Objects ``<prefix>/ab/abcd...`` in ``bucket``.

    Durability: a PUT either stores the whole object or nothing, S3 (and MinIO,
    Ceph) answer success only once the object is stored redundantly, and reads
    after a successful PUT see it (strong read-after-write consistency). The
    SHA-256 goes with each PUT as a checksum, so AWS S3 and MinIO refuse bytes
    that were damaged on the way (the moto test server does not check it).
    Storing the same bytes again overwrites the object with identical bytes,
    which is harmless; no HEAD first, because repeated puts are rare and each
    HEAD would cost every new photo a round trip.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        client: Any = None,
    ) -> None:
        if not bucket:
            raise ValueError("an s3:// storage URL needs a bucket: s3://bucket/prefix")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client or boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            config=Config(
                # Path-style addressing works with every S3-compatible server,
                # including ones reached by IP address.
                s3={"addressing_style": "path"} if endpoint_url else {},
                retries={"mode": "standard", "max_attempts": 5},
                # FastAPI's thread pool runs up to 40 handlers at once.
                max_pool_connections=40,
            ),
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.bucket!r}, {self.prefix!r})"

    def key(self, sha256: str) -> str:
        check_digest(sha256)
        name = f"{sha256[:2]}/{sha256}"
        return f"{self.prefix}/{name}" if self.prefix else name

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).digest()
        sha = digest.hex()
        self.client.put_object(
            Bucket=self.bucket,
            Key=self.key(sha),
            Body=data,
            ChecksumSHA256=base64.b64encode(digest).decode("ascii"),
        )
        return sha

    def get(self, sha256: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.key(sha256))
        except ClientError as error:
            if missing(error):
                raise FileNotFoundError(f"no blob {sha256} in s3://{self.bucket}") from None
            raise
        body: bytes = response["Body"].read()
        return body

    def exists(self, sha256: str) -> bool:
        return key_exists(self.client, self.bucket, self.key(sha256))
