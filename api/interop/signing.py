"""Webhook signatures as the Standard Webhooks specification describes them.

Headers: ``webhook-id`` (the stable message id receivers de-duplicate by),
``webhook-timestamp`` (Unix seconds of this attempt) and ``webhook-signature``: space-separated
``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``, one per secret, so an endpoint's
secret can be rotated without a gap (sign with the new and the old one until the receiver
has switched). Secrets are ``whsec_`` + base64 of 24 to 64 random bytes.

The HMAC itself is computed by ``standardwebhooks``, the specification authors' reference
library. Its ``verify`` is not used: it takes one secret only, has a fixed five-minute
tolerance and no clock to inject, and lets malformed headers escape as ``ValueError`` or
``UnicodeDecodeError``. :func:`verify` here parses every header strictly and raises only
:class:`SignatureError`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import secrets as random
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"
SCHEME = "v1"
TOLERANCE = timedelta(minutes=5)
"""How far a timestamp may be from the receiver's clock (the specification's example)."""

# Neither the id nor the timestamp may contain "." (the separator of the signed content).
_MESSAGE_ID = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
_SECRET_BYTES = range(24, 65)


class SignatureError(ValueError):
    """A webhook failed verification; the message says why, for the receiver's log."""


def new_secret() -> str:
    """A fresh endpoint secret: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(random.token_bytes(32)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The key bytes of a ``whsec_`` secret, refusing anything malformed or too short."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a webhook secret starts with {SECRET_PREFIX!r}")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except binascii.Error as error:
        raise ValueError("a webhook secret is base64 after its prefix") from error
    if len(key) not in _SECRET_BYTES:
        raise ValueError("a webhook secret holds 24 to 64 bytes")
    return key


def _signature(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """``v1,<base64 HMAC>`` over ``{id}.{timestamp}.{body}`` (by the reference library)."""
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return Webhook(secret_key(secret)).sign(message_id, moment, body)


def sign(
    message_id: str, body: bytes, secrets: Sequence[str], *, at: datetime | None = None
) -> dict[str, str]:
    """The three Standard Webhooks headers for one delivery attempt.

    Parameters
    ----------
    message_id
        The stable message id (the same on every retry).
    body
        The exact bytes that will be sent, UTF-8.
    secrets
        The endpoint's secrets, newest first; each adds one signature.
    at
        The attempt's time; now when ``None``.
    """
    if not _MESSAGE_ID.match(message_id):
        raise ValueError("a message id is 1 to 200 characters of A-Z a-z 0-9 _ -")
    if not secrets:
        raise ValueError("at least one secret is needed to sign")
    if at is not None and at.utcoffset() is None:
        raise ValueError("the attempt's time must carry a UTC offset")
    timestamp = int((at or datetime.now(UTC)).timestamp())
    text = body.decode("utf-8")
    signatures = [_signature(secret, message_id, timestamp, text) for secret in secrets]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signatures),
    }


def _offered(header: str) -> list[bytes]:
    # Signatures of other schemes (e.g. "v1a", asymmetric) or malformed ones are skipped:
    # the header may carry several and only one needs to match.
    offered = []
    for token in header.split():
        scheme, _, encoded = token.partition(",")
        if scheme != SCHEME:
            continue
        try:
            offered.append(base64.b64decode(encoded, validate=True))
        except binascii.Error:
            continue
    return offered


def verify(
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[str],
    *,
    tolerance: timedelta = TOLERANCE,
    now: datetime | None = None,
) -> str:
    """Check a received webhook; return its message id, or raise :class:`SignatureError`.

    ``secrets`` are the receiver's current secrets (two while one is being rotated); a
    signature made with any of them is accepted.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    message_id = lowered.get("webhook-id", "")
    timestamp = lowered.get("webhook-timestamp", "")
    header = lowered.get("webhook-signature", "")
    if not (message_id and timestamp and header):
        raise SignatureError("webhook-id, webhook-timestamp and webhook-signature are required")
    if not _MESSAGE_ID.match(message_id):
        raise SignatureError("webhook-id is malformed")
    if not _TIMESTAMP.match(timestamp):
        raise SignatureError("webhook-timestamp is not a whole number of seconds")
    if now is not None and now.utcoffset() is None:
        raise ValueError("now must carry a UTC offset")
    skew = abs((now or datetime.now(UTC)).timestamp() - int(timestamp))
    if skew > tolerance.total_seconds():
        raise SignatureError(f"webhook-timestamp is {skew:.0f} s from now, over the tolerance")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SignatureError("the body is not UTF-8") from error
    offered = _offered(header)
    for secret in secrets:
        expected = base64.b64decode(
            _signature(secret, message_id, int(timestamp), text).partition(",")[2]
        )
        if any(hmac.compare_digest(expected, signature) for signature in offered):
            return message_id
    raise SignatureError("no signature matches")
