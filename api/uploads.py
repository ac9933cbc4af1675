"""Reading uploaded files safely: bounded size, type sniffed from the bytes."""

from __future__ import annotations

from fastapi import UploadFile

from api.errors import InvalidError, TooLargeError, UnsupportedError

_DOCUMENT_MAGIC = {
    b"%PDF-": "application/pdf",
    b"\xff\xd8\xff": "image/jpeg",
    b"\x89PNG\r\n\x1a\n": "image/png",
}


def read_limited(upload: UploadFile, limit: int, what: str = "file") -> bytes:
    """The upload's bytes; 413 past ``limit``, 422 when empty."""
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise TooLargeError(f"{what} is larger than {limit} bytes")
    if not data:
        raise InvalidError(f"{what} is empty")
    return data


def sniff_document(data: bytes) -> str:
    """The content type of a qualification document, judged from its first bytes."""
    for magic, content_type in _DOCUMENT_MAGIC.items():
        if data.startswith(magic):
            return content_type
    raise UnsupportedError("documents must be PDF, JPEG or PNG files")
