"""The interface every blob store keeps."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod

_DIGEST = re.compile(r"[0-9a-f]{64}")


def check_digest(sha256: str) -> str:
    """``sha256`` if it is a lower-case SHA-256 hex digest, else :class:`ValueError`.

    Digests reach the stores from URLs and database rows; checking them keeps a
    hostile name (``../..``, a key prefix) from ever reaching a path or a key.

    >>> check_digest("0" * 64) == "0" * 64
    True
    """
    if not _DIGEST.fullmatch(sha256):
        raise ValueError("not a SHA-256 hex digest")
    return sha256


class BlobStore(ABC):
    """Bytes by their SHA-256.

    ``put`` is idempotent and durable; ``get`` raises :class:`FileNotFoundError`
    for a digest that was never stored and :class:`ValueError` for a text that
    is not a digest.
    """

    @abstractmethod
    def put(self, data: bytes) -> str:
        """Store ``data`` durably and return its SHA-256 (hex); storing it again is harmless."""

    @abstractmethod
    def get(self, sha256: str) -> bytes:
        """The bytes stored under ``sha256``."""

    @abstractmethod
    def exists(self, sha256: str) -> bool:
        """Whether bytes are stored under ``sha256``."""
