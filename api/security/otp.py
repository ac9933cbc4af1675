"""One-time codes for the kit-code log-in after its first failures.

Once :class:`~api.security.ratelimit.Throttle` says a kit code needs a one-time
code, the log-in sends a fresh 6-digit code to the phone or e-mail the patient
registered, and the next attempts must bring it. Someone holding a discarded
cassette then needs the patient's phone as well as their ID number.

A code is drawn with :mod:`secrets`, and only its keyed hash (HMAC-SHA256 with
the server's secret, bound to the kit code) is stored, with a time to live, in
Redis or in memory. Each code allows ``max_attempts`` tries, compared in
constant time, and works once: the try that matches deletes it, and only the
caller whose delete succeeded is let in. Issuing again replaces the old code,
but not more often than every ``resend_after_s`` (texts cost money and pester
the patient).

Sending is the caller's notifier (``send(channel, address, text)``); SMS and
SMTP delivery are another module's concern.

The kit-code log-in, wired together with the throttle::

    throttle.check_address(address)                  # RateLimitedError -> 429
    state = throttle.kit_code_attempt(kit_code)      # RateLimitedError -> 429
    if state.otp_required and not submitted_otp:
        codes.send(kit_code, notifier, channel, registered_contact)
        return "a code was sent"                     # whether or not the details match
    ok = details_match(...)
    if state.otp_required:
        try:
            codes.verify(kit_code, submitted_otp)    # OneTimeCodeError -> 401/422
        except OneTimeCodeError:
            ok = False
    if ok:
        throttle.kit_code_succeeded(kit_code)
    else:
        throttle.kit_code_failed(kit_code)

"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal, Protocol

import redis

from api.security.ratelimit import StoreUnavailableError

Channel = Literal["sms", "email"]


class Notifier(Protocol):
    """Delivers a short text to a phone number or an e-mail address."""

    def send(self, channel: Channel, address: str, text: str) -> None: ...


class OneTimeCodeError(Exception):
    """The one-time code was not accepted; the message is fit for the user."""


class ResendTooSoonError(OneTimeCodeError):
    """A code was sent moments ago; ``retry_after`` seconds until another may be."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, int(retry_after + 0.999))
        super().__init__(
            f"A code was sent a moment ago. You can ask for another in {self.retry_after} seconds."
        )


@dataclass(frozen=True)
class OtpPolicy:
    digits: int = 6
    """A million possibilities against at most ``max_attempts`` tries: 1 in 200,000 per code."""
    ttl_s: int = 10 * 60
    """Long enough for a slow SMS, short enough that an old message is useless."""
    max_attempts: int = 5
    resend_after_s: int = 60


class OtpStore(Protocol):
    """Where the digest of the current code lives, per subject, with a time to live."""

    def put(self, key: str, digest: bytes, ttl_s: int, resend_after_s: int) -> float:
        """Store a new digest with zero attempts, unless one was stored less than
        ``resend_after_s`` ago: then store nothing and return the seconds to wait (else 0)."""
        ...

    def attempt(self, key: str) -> tuple[bytes, int] | None:
        """Atomically count one attempt; the digest and attempts so far, or None if none is live."""
        ...

    def consume(self, key: str) -> bool:
        """Delete the code; True only for the one caller that deleted it."""
        ...


class MemoryOtpStore:
    """The embedded default: a dict behind one lock, expired entries dropped as it goes.

    At most ``max_entries`` live codes are held; past that the one closest to
    expiry is dropped (its patient asks for a new code), so memory stays bounded
    whatever a client does.
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[bytes, int, float, float]] = {}  # digest, tries, t0, t1
        self._max_entries = max_entries

    def put(self, key: str, digest: bytes, ttl_s: int, resend_after_s: int) -> float:
        now = time.monotonic()
        with self._lock:
            live = self._live(key, now)
            if live is not None and now - live[2] < resend_after_s:
                return resend_after_s - (now - live[2])
            if live is None and len(self._entries) >= self._max_entries:
                self._entries = {k: e for k, e in self._entries.items() if e[3] > now}
                if len(self._entries) >= self._max_entries:
                    del self._entries[min(self._entries, key=lambda k: self._entries[k][3])]
            self._entries[key] = (digest, 0, now, now + ttl_s)
            return 0.0

    def attempt(self, key: str) -> tuple[bytes, int] | None:
        with self._lock:
            live = self._live(key, time.monotonic())
            if live is None:
                return None
            digest, tries, issued, expires = live
            self._entries[key] = (digest, tries + 1, issued, expires)
            return digest, tries + 1

    def consume(self, key: str) -> bool:
        with self._lock:
            return self._entries.pop(key, None) is not None

    def _live(self, key: str, now: float) -> tuple[bytes, int, float, float] | None:
        entry = self._entries.get(key)
        if entry is not None and entry[3] <= now:
            del self._entries[key]
            return None
        return entry


# Each script runs atomically on the server: no two callers see the same attempt count,
# and a resend check cannot race with another resend.
_PUT = """
local issued = redis.call('HGET', KEYS[1], 'issued')
local now = tonumber(ARGV[4])
if issued and now - tonumber(issued) < tonumber(ARGV[3]) then
  return tostring(tonumber(ARGV[3]) - (now - tonumber(issued)))
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'digest', ARGV[1], 'tries', 0, 'issued', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return '0'
"""
_ATTEMPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return nil end
local tries = redis.call('HINCRBY', KEYS[1], 'tries', 1)
return {redis.call('HGET', KEYS[1], 'digest'), tries}
"""


class RedisOtpStore:
    """Production: one hash per subject under ``prefix``, expiring by itself."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix
        self._put = client.register_script(_PUT)
        self._attempt = client.register_script(_ATTEMPT)

    def put(self, key: str, digest: bytes, ttl_s: int, resend_after_s: int) -> float:
        now = f"{time.time():.3f}"
        with _reachable():
            wait = self._put([self._key(key)], [digest, ttl_s * 1000, resend_after_s, now])
        return float(wait)

    def attempt(self, key: str) -> tuple[bytes, int] | None:
        with _reachable():
            found = self._attempt([self._key(key)])
        if found is None:
            return None
        digest, tries = found
        return bytes(digest), int(tries)

    def consume(self, key: str) -> bool:
        with _reachable():
            return bool(self._client.delete(self._key(key)))

    def _key(self, key: str) -> str:
        return f"{self._prefix}:{key}"


@contextmanager
def _reachable() -> Iterator[None]:
    try:
        yield
    except redis.RedisError as exc:
        raise StoreUnavailableError("the one-time code store cannot be reached") from exc


class OneTimeCodes:
    """Issues, sends and checks one-time codes for a subject (a kit code).

    Parameters
    ----------
    store : OtpStore
        :class:`RedisOtpStore` or :class:`MemoryOtpStore`; see :meth:`from_url`.
    secret : bytes
        The server's secret; codes are stored only as HMACs under it.
    policy : OtpPolicy
        Length, lifetime, attempts and resend interval.

    Examples
    --------
    >>> codes = OneTimeCodes.from_url(None, secret=b"s" * 32)
    >>> code = codes.issue("VGL-7Q2M")
    >>> len(code), code.isdigit()
    (6, True)
    >>> codes.verify("VGL-7Q2M", code)
    >>> codes.verify("VGL-7Q2M", code)
    Traceback (most recent call last):
    ...
    api.security.otp.OneTimeCodeError: This code has expired or was already used. Ask for a new one.
    """

    def __init__(self, store: OtpStore, *, secret: bytes, policy: OtpPolicy | None = None):
        if len(secret) < 16:
            raise ValueError("the one-time codes' secret must be at least 16 bytes")
        self.store = store
        self.policy = policy or OtpPolicy()
        self._secret = secret

    @classmethod
    def from_url(
        cls,
        url: str | None,
        *,
        secret: bytes,
        prefix: str = "vigil:otp",
        policy: OtpPolicy | None = None,
    ) -> OneTimeCodes:
        """Codes kept in Redis (``redis://...``) or, for ``None``, in this process's memory."""
        if url is None or url.startswith("memory://"):
            return cls(MemoryOtpStore(), secret=secret, policy=policy)
        client = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        return cls(RedisOtpStore(client, prefix), secret=secret, policy=policy)

    def issue(self, subject: str) -> str:
        """A fresh code for ``subject``, replacing any earlier one; the caller sends it.

        Raises
        ------
        ResendTooSoonError
            A code was issued less than ``resend_after_s`` ago.
        """
        code = "".join(secrets.choice("0123456789") for _ in range(self.policy.digits))
        wait = self.store.put(
            self._key(subject),
            self._digest(subject, code),
            self.policy.ttl_s,
            self.policy.resend_after_s,
        )
        if wait > 0:
            raise ResendTooSoonError(wait)
        return code

    def send(self, subject: str, notifier: Notifier, channel: Channel, address: str) -> None:
        """Issue a code for ``subject`` and deliver it through ``notifier``.

        Raises
        ------
        ResendTooSoonError
            A code was issued less than ``resend_after_s`` ago.
        """
        code = self.issue(subject)
        minutes = self.policy.ttl_s // 60
        notifier.send(
            channel,
            address,
            f"Your Vigil code is {code}. It expires in {minutes} minutes. "
            "Nobody from Vigil will ever ask you for it.",
        )

    def verify(self, subject: str, code: str) -> None:
        """Accept ``code`` for ``subject`` once; it is then used up.

        Spaces and hyphens the user typed are ignored.

        Raises
        ------
        OneTimeCodeError
            Wrong (with the tries left), expired, already used, or out of tries.
        StoreUnavailableError
            When Redis cannot be reached (a 503, as for the throttle).
        """
        key = self._key(subject)
        counted = self.store.attempt(key)
        if counted is None:
            raise OneTimeCodeError("This code has expired or was already used. Ask for a new one.")
        digest, tries = counted
        if tries > self.policy.max_attempts:
            self.store.consume(key)
            raise OneTimeCodeError("Too many wrong codes. Ask for a new one.")
        typed = code.replace(" ", "").replace("-", "")
        if not hmac.compare_digest(digest, self._digest(subject, typed)):
            left = self.policy.max_attempts - tries
            if left <= 0:
                self.store.consume(key)
                raise OneTimeCodeError("Too many wrong codes. Ask for a new one.")
            raise OneTimeCodeError(f"This code is not right. {left} tries left.")
        if not self.store.consume(key):  # another request used it at the same moment
            raise OneTimeCodeError("This code has expired or was already used. Ask for a new one.")

    def _key(self, subject: str) -> str:
        return hmac.new(self._secret, b"otp-key\0" + subject.encode(), hashlib.sha256).hexdigest()[
            :32
        ]

    def _digest(self, subject: str, code: str) -> bytes:
        message = f"otp\0{subject}\0{code}".encode("utf-8", "surrogatepass")
        return hmac.new(self._secret, message, hashlib.sha256).digest()
