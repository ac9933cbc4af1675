"""Personal data at rest: authenticated encryption, keyed lookup hashes, password hashes.

Names, ID numbers and phone numbers are stored encrypted with AES-256-GCM
(:class:`PersonalDataCipher`). A stored value is::

    version (1 byte) | key id (4 bytes) | nonce (12 bytes) | ciphertext + tag

The key id is derived from the key itself, so the settings need nothing but
the keys: the cipher holds several, encrypts with the first (newest) and
decrypts with whichever made the value. Rotating a key is therefore: put the
new key first, keep the old ones until :meth:`PersonalDataCipher.needs_reencrypt`
finds no stored value left under them.

Finding a patient by ID number must not need decrypting every row, so the
cipher also gives :meth:`PersonalDataCipher.lookup_hash`, an HMAC-SHA256 under a
separate key: equal inputs give equal hashes, and without the key nobody can
test guesses against the table (a plain hash of an 18-digit ID with a
structured birth date would fall to brute force).

Passwords are hashed with Argon2id (argon2-cffi's RFC 9106 defaults).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import unicodedata
from collections.abc import Sequence

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = 1
KEY_ID_BYTES = 4
NONCE_BYTES = 12  # the GCM standard nonce; random nonces are safe far beyond 2^32 values per key
_HEADER = 1 + KEY_ID_BYTES
_MIN_LOOKUP_KEY = 16

_PASSWORDS = PasswordHasher()


class DecryptionError(ValueError):
    """A stored value cannot be decrypted: altered, truncated, or under an unknown key."""


def generate_key() -> str:
    """A new random 256-bit key, base64-encoded as the settings expect it."""
    return base64.b64encode(os.urandom(32)).decode("ascii")


def _key_bytes(key: bytes | str, what: str) -> bytes:
    if isinstance(key, str):
        try:
            return base64.b64decode(key.strip(), validate=True)
        except binascii.Error:
            raise ValueError(f"{what} is not valid base64") from None
    return bytes(key)


def key_id(key: bytes) -> bytes:
    """The 4-byte id stored with every value encrypted under ``key``."""
    return hashlib.sha256(b"vigil personal-data key id\x00" + key).digest()[:KEY_ID_BYTES]


class PersonalDataCipher:
    """Encrypts and decrypts personal data; computes keyed lookup hashes.

    Parameters
    ----------
    keys
        One AES key (16, 24 or 32 bytes; raw or base64 text) or several, newest
        first: the first encrypts, all decrypt.
    lookup_key
        Key of the lookup HMAC (at least 16 bytes; raw or base64 text). It must
        differ from the encryption keys and must never change while hashes made
        with it are stored.

    Examples
    --------
    >>> cipher = PersonalDataCipher(generate_key(), lookup_key=generate_key())
    >>> cipher.decrypt(cipher.encrypt("张伟"))
    '张伟'
    >>> cipher.lookup_hash("11010519491231002X") == cipher.lookup_hash("11010519491231002X")
    True
    """

    def __init__(self, keys: bytes | str | Sequence[bytes | str], *, lookup_key: bytes | str):
        key_list = [keys] if isinstance(keys, bytes | str) else list(keys)
        if not key_list:
            raise ValueError("at least one encryption key is needed")
        self._ciphers: dict[bytes, AESGCM] = {}
        raw_keys = []
        for number, key in enumerate(key_list, start=1):
            raw = _key_bytes(key, f"encryption key {number}")
            if len(raw) not in (16, 24, 32):
                raise ValueError(
                    f"encryption key {number} has {len(raw)} bytes; AES needs 16, 24 or 32"
                )
            kid = key_id(raw)
            if kid in self._ciphers:
                raise ValueError(f"encryption key {number} is given twice (or shares its id)")
            self._ciphers[kid] = AESGCM(raw)
            raw_keys.append(raw)
        self._current = key_id(raw_keys[0])
        lookup = _key_bytes(lookup_key, "lookup key")
        if len(lookup) < _MIN_LOOKUP_KEY:
            raise ValueError(f"the lookup key needs at least {_MIN_LOOKUP_KEY} bytes")
        if lookup in raw_keys:
            raise ValueError("the lookup key must differ from the encryption keys")
        self._lookup_key = lookup

    def encrypt(self, value: str, context: str = "") -> bytes:
        """``value`` encrypted under the newest key.

        ``context`` (e.g. the column name) is authenticated but not stored: a
        value encrypted for one context does not decrypt in another, so
        ciphertexts cannot be swapped between fields unnoticed.
        """
        header = bytes([VERSION]) + self._current
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self._current].encrypt(
            nonce, value.encode("utf-8"), header + context.encode("utf-8")
        )
        return header + nonce + sealed

    def decrypt(self, blob: bytes, context: str = "") -> str:
        """The text in ``blob``; :class:`DecryptionError` if it was altered or the key is gone."""
        blob = bytes(blob)
        if len(blob) < _HEADER + NONCE_BYTES + 16:
            raise DecryptionError(f"encrypted value is too short ({len(blob)} bytes)")
        if blob[0] != VERSION:
            raise DecryptionError(f"unknown encrypted-value format version {blob[0]}")
        header, nonce, sealed = (
            blob[:_HEADER],
            blob[_HEADER : _HEADER + NONCE_BYTES],
            blob[_HEADER + NONCE_BYTES :],
        )
        cipher = self._ciphers.get(header[1:])
        if cipher is None:
            raise DecryptionError(
                f"encrypted under key id {header[1:].hex()}, which this server does not hold"
            )
        try:
            plain = cipher.decrypt(nonce, sealed, header + context.encode("utf-8"))
        except InvalidTag:
            raise DecryptionError(
                "encrypted value failed authentication: altered, or stored for another field"
            ) from None
        return plain.decode("utf-8")

    def needs_reencrypt(self, blob: bytes) -> bool:
        """Whether ``blob`` was made with an older key than the newest one."""
        return bytes(blob[1:_HEADER]) != self._current

    def reencrypt(self, blob: bytes, context: str = "") -> bytes:
        """``blob`` decrypted and encrypted again under the newest key (for key rotation)."""
        return self.encrypt(self.decrypt(blob, context), context)

    def lookup_hash(self, value: str, purpose: str = "") -> str:
        """Hex HMAC-SHA256 of ``value`` (NFKC-normalised, trimmed) under the lookup key.

        Pass the canonical form (e.g. from ``validate_national_id``) so that
        equal values hash alike. ``purpose`` separates kinds of value: hashes
        made for one purpose never match another's.
        """
        normalised = unicodedata.normalize("NFKC", value).strip()
        message = purpose.encode("utf-8") + b"\x00" + normalised.encode("utf-8")
        return hmac.new(self._lookup_key, message, hashlib.sha256).hexdigest()


def hash_password(password: str) -> str:
    """An Argon2id hash of ``password`` (salt and parameters included)."""
    if not password:
        raise ValueError("password is empty")
    return _PASSWORDS.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash``; False for a malformed hash."""
    try:
        return _PASSWORDS.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether ``password_hash`` was made with weaker parameters than the current ones.

    Re-hash the password on the user's next successful log-in when it was.
    """
    try:
        return _PASSWORDS.check_needs_rehash(password_hash)
    except (InvalidHashError, ValueError):
        return True
