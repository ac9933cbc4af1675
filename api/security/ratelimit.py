"""Rate limits per client address, per account and per kit code, with a soft lock-out.

An attack found that the right password still worked after 76 wrong ones, that
16 guessing clients slowed everyone else from 9 ms to 740 ms, and that the
kit-code patient log-in took 170 guesses a second (issue 11 item 3). This module
counts and decides; the routes ask it before checking a secret and tell it the
outcome afterwards::

    throttle.check_address(address)          # every log-in style request; may raise
    throttle.account_attempt(user_name)      # before the password is checked; may raise
    if password_ok:
        throttle.account_succeeded(user_name)
    else:
        throttle.account_failed(user_name)   # may lock the account for a while

:class:`RateLimitedError` carries ``retry_after`` (whole seconds) and a message
fit for the user; a route answers it with a 429 problem document and a
``Retry-After`` header. :class:`StoreUnavailableError` means the counting
backend cannot be reached; a route answers 503 with ``Retry-After``.

Why the ``limits`` library: it is maintained, typed, and implements the
moving-window strategy (an exact sliding log: at most N hits in any window of
the given length, no burst at window edges) atomically on both backends we need
— a Lua script on Redis, a lock in memory — behind one interface, with
key prefixes and expiring keys on Redis and expiring entries in memory. Its
plain counters (``incr`` with expiry, ``get_expiry``, ``clear``) carry the
lock-out state. Hand-written Lua and a hand-written memory store would repeat
all of that.

Attempts are counted before the secret is checked, each taking a slot of the
window atomically, so parallel requests get exactly the allowance and no more
(a success gives the account's slots back); counting only failures afterwards
would let every request in flight through the check first.

Identifiers (user names, kit codes, addresses) never reach the backend in
clear: keys are keyed hashes (HMAC-SHA256 with the server's secret), so a dump
of Redis shows neither who tried to log in nor which kit codes exist.

Memory on the embedded default: entries expire with their window (the
``limits`` memory storage sweeps them every few milliseconds), so what is held
is bounded by the requests of the last window; IPv6 clients are counted per /64,
the block one subscriber is normally given, so one client cannot mint keys by
rotating addresses within it.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import threading
import time
import unicodedata
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Literal

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import MovingWindowRateLimiter

Scope = Literal["address", "account", "kit_code"]


@dataclass(frozen=True)
class RatePolicy:
    """How many attempts are allowed, and for how long a lock-out lasts.

    The defaults follow NIST SP 800-63B §5.2.2 (limit failed attempts per
    account; at most 100 consecutive failures) and OWASP's authentication cheat
    sheet (soft, time-based lock-out rather than a permanent one, so that an
    attacker cannot lock a clinician out for good).
    """

    account_failures: int = 5
    """Log-in attempts per account within ``account_window_s`` (a success gives
    them back) before a lock-out: enough for a few typos, far too few to guess."""
    account_window_s: int = 15 * 60
    lockout_first_s: int = 60
    """The first lock-out is a minute: a user who mistyped waits briefly."""
    lockout_max_s: int = 60 * 60
    """Each further lock-out doubles, up to an hour: about five guesses an hour
    at steady state, yet a locked-out user is never locked out for long."""
    lockout_memory_s: int = 24 * 60 * 60
    """Lock-outs within a day count towards the doubling; a success forgets them."""
    address_attempts: int = 20
    """Log-in style requests per client address per ``address_window_s``: a
    clinic behind one NAT address still logs in, 16 guessing clients do not."""
    address_window_s: int = 60
    kit_code_failures_before_otp: int = 3
    """Kit-code log-in attempts within ``kit_code_window_s`` before a one-time
    code sent to the registered phone or e-mail is required as well: the
    patient's own typos cost nothing, a finder of a discarded cassette gets three
    guesses a day."""
    kit_code_failures: int = 10
    """Kit-code log-in attempts within ``kit_code_window_s`` (a success gives
    them back) before the kit code is locked out as accounts are, one-time code
    or not."""
    kit_code_window_s: int = 24 * 60 * 60


DEFAULT_POLICY = RatePolicy()


class RateLimitedError(Exception):
    """Too many attempts: refuse this request without checking any secret.

    Attributes
    ----------
    scope : str
        What was limited: ``address``, ``account`` or ``kit_code``.
    retry_after : int
        Whole seconds after which a new attempt can succeed (at least 1); the
        value of the ``Retry-After`` header.
    """

    def __init__(self, scope: Scope, retry_after: float) -> None:
        self.scope: Scope = scope
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(_MESSAGES[scope].format(wait=_as_wait(self.retry_after)))

    @property
    def message(self) -> str:
        return str(self)


class StoreUnavailableError(RuntimeError):
    """The backend that counts attempts (or keeps one-time codes) cannot be reached.

    Failing closed (a 503 with ``Retry-After``) rather than open: letting
    guesses through unlimited exactly while nothing counts them is what an
    attacker would wait for.
    """

    retry_after = 30


_MESSAGES: dict[Scope, str] = {
    "address": "Too many attempts from your network. Please try again in {wait}.",
    "account": (
        "Too many failed log-ins for this account. It is locked for {wait}; "
        "you can try again after that."
    ),
    "kit_code": "Too many failed attempts with this kit code. Please try again in {wait}.",
}


def _as_wait(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} seconds"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minutes" if minutes < 90 else f"{math.ceil(minutes / 60)} hours"


@dataclass(frozen=True)
class KitCodeState:
    """What this kit-code log-in attempt must bring besides the patient's details."""

    otp_required: bool


def client_key(address: str | None) -> str:
    """The part of a client address that is counted: IPv4 whole, IPv6 per /64.

    Examples
    --------
    >>> client_key("203.0.113.7")
    '203.0.113.7'
    >>> client_key("2001:db8:1:2:aaaa::1")
    '2001:db8:1:2::/64'
    >>> client_key("::ffff:203.0.113.7")
    '203.0.113.7'
    >>> client_key(None)
    'unknown'
    """
    if not address:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]  # a test client's name, a unix socket: counted as given
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class Throttle:
    """Counts attempts and failures and decides whether the next one may proceed.

    Thread-safe and shareable: one instance per application (the memory backend
    only counts within this process, which is the embedded default's one server).

    Parameters
    ----------
    storage : limits.storage.Storage
        Where counts live; see :meth:`from_url`.
    secret : bytes
        Key for hashing identifiers into storage keys (the server's secret key;
        every process sharing a Redis must use the same one).
    policy : RatePolicy
        Thresholds and durations.

    Examples
    --------
    >>> throttle = Throttle.from_url(None, secret=b"k" * 32)
    >>> for _ in range(5):
    ...     throttle.account_attempt("alice")  # then the password is wrong:
    ...     throttle.account_failed("alice")
    >>> throttle.account_attempt("alice")
    Traceback (most recent call last):
    ...
    api.security.ratelimit.RateLimitedError: Too many failed log-ins for this account. \
It is locked for 60 seconds; you can try again after that.
    """

    def __init__(self, storage: Storage, *, secret: bytes, policy: RatePolicy = DEFAULT_POLICY):
        if len(secret) < 16:
            raise ValueError("the throttle's secret must be at least 16 bytes")
        self.storage = storage
        self.policy = policy
        self._secret = secret
        self._limiter = MovingWindowRateLimiter(storage)
        self._address_item = RateLimitItemPerSecond(
            policy.address_attempts, policy.address_window_s
        )
        self._account_item = RateLimitItemPerSecond(
            policy.account_failures, policy.account_window_s
        )
        self._kit_code_item = RateLimitItemPerSecond(
            policy.kit_code_failures, policy.kit_code_window_s
        )
        # The attempts a kit code gets without a one-time code: a window of its own, so
        # that "among the first three?" is one atomic hit, on Redis as in memory.
        self._kit_code_free_item = RateLimitItemPerSecond(
            policy.kit_code_failures_before_otp, policy.kit_code_window_s
        )
        # The memory storage locks per key, but its locks are created and dropped racily
        # and a lock-out spans several keys: one lock makes each step atomic. Redis needs
        # none (its steps are Lua scripts, and the lock-out tolerates interleaving).
        self._serial: AbstractContextManager[object] = (
            threading.Lock() if isinstance(storage, MemoryStorage) else nullcontext()
        )

    @classmethod
    def from_url(
        cls,
        url: str | None,
        *,
        secret: bytes,
        prefix: str = "vigil:throttle",
        policy: RatePolicy = DEFAULT_POLICY,
    ) -> Throttle:
        """A throttle on Redis (``redis://...``) or, for ``None``, in memory.

        ``prefix`` starts every Redis key, so that deployments (or test runs)
        sharing one Redis do not count each other's attempts.
        """
        if url is None or url.startswith("memory://"):
            storage: Storage = MemoryStorage()
        elif url.startswith(("redis://", "rediss://", "redis+unix://")):
            # Short timeouts: a log-in must not hang on a Redis that went away.
            storage = RedisStorage(
                url,
                key_prefix=prefix,
                wrap_exceptions=True,
                socket_timeout=2.0,
                socket_connect_timeout=2.0,
            )
        else:
            raise ValueError(f"unsupported throttle backend: {url.split(':', 1)[0]}")
        return cls(storage, secret=secret, policy=policy)

    # Addresses -----------------------------------------------------------

    def check_address(self, address: str | None) -> None:
        """Count one log-in style request from ``address``.

        Raises
        ------
        RateLimitedError
            With scope ``address`` once the address used its allowance.
        StoreUnavailableError
            When the backend cannot be reached.
        """
        key = self._key("address", client_key(address))
        with self._store():
            if self._limiter.hit(self._address_item, key):
                return
            reset = self._limiter.get_window_stats(self._address_item, key).reset_time
        raise RateLimitedError("address", reset - time.time())

    # Accounts ------------------------------------------------------------

    def account_attempt(self, account: str) -> None:
        """Count an attempt to log in to ``account``; call it before checking the password.

        The attempt is counted before the password is looked at, atomically, so
        that parallel requests cannot slip more guesses past the limit than it
        allows; :meth:`account_succeeded` gives the allowance back.

        Raises
        ------
        RateLimitedError
            With scope ``account`` and the seconds left, while the account is
            locked out or has used its attempts.
        StoreUnavailableError
            When the backend cannot be reached.
        """
        self._attempt("account", account, self._account_item)

    def account_failed(self, account: str) -> None:
        """Record that the password was wrong: the failure that uses up the attempts locks.

        The lock-out lasts ``lockout_first_s`` and doubles with each further one
        within ``lockout_memory_s``, up to ``lockout_max_s``. Nothing is raised:
        this request is answered as a failure, the next meets the lock.
        """
        self._lock_if_spent("account", account, self._account_item)

    def account_succeeded(self, account: str) -> None:
        """Forget the account's attempts and earlier lock-outs (not the address's count)."""
        self._forget("account", account, self._account_item)

    # Kit codes -----------------------------------------------------------

    def kit_code_attempt(self, kit_code: str) -> KitCodeState:
        """Count an attempt to log in with ``kit_code`` and say whether it needs a one-time code.

        As with accounts, the attempt is counted first, so that parallel guesses
        cannot outrun the limit: at most ``kit_code_failures_before_otp`` attempts
        within ``kit_code_window_s`` go without a one-time code (a success gives
        them back; a lock-out does not). A request that only asks for a one-time
        code to be sent counts too.

        Raises
        ------
        RateLimitedError
            With scope ``kit_code`` while the kit code is locked out or has
            used its attempts.
        StoreUnavailableError
            When the backend cannot be reached.
        """
        self._attempt("kit_code", kit_code, self._kit_code_item)
        key = self._key("kit_code", kit_code)
        with self._store():
            free = self._limiter.hit(self._kit_code_free_item, key, "free")
        return KitCodeState(otp_required=not free)

    def kit_code_failed(self, kit_code: str) -> None:
        """Record a failed kit-code log-in: the failure that uses up the attempts locks."""
        self._lock_if_spent("kit_code", kit_code, self._kit_code_item)

    def kit_code_succeeded(self, kit_code: str) -> None:
        """Forget the kit code's attempts and lock-outs."""
        self._forget("kit_code", kit_code, self._kit_code_item)

    # Internals -----------------------------------------------------------

    def _key(self, scope: str, identifier: str) -> str:
        # "Alice", "ALICE" and a full-width "Ａｌｉｃｅ" are one account to count, whatever
        # the log-in does with case; so are the spellings of one kit code.
        folded = unicodedata.normalize("NFKC", identifier).casefold()
        message = f"{scope}\0{folded}".encode("utf-8", "surrogatepass")
        digest = hmac.new(self._secret, message, hashlib.sha256)
        return f"{scope}:{digest.hexdigest()[:32]}"

    @contextmanager
    def _store(self) -> Iterator[None]:
        """One atomic step on the storage; a storage error becomes StoreUnavailableError."""
        try:
            with self._serial:
                yield
        except StorageError as exc:
            raise StoreUnavailableError("the rate-limit store cannot be reached") from exc

    def _attempt(self, scope: Scope, identifier: str, item: RateLimitItem) -> None:
        """Refuse while locked or spent, else count one attempt."""
        key = self._key(scope, identifier)
        with self._store():
            # The level first, then the lock: a lock is set before its level is raised, so
            # whoever sees the new level also sees the lock (no transaction spans these
            # reads on Redis, and the order is what keeps parallel guesses within limits).
            level = self._level(key)
            if not self.storage.get(key + ":lock"):
                if self._limiter.hit(item, key, str(level)):
                    return
                # Spent, and the failure that spent it has not locked yet (it is still
                # being checked, or the route never reported it): lock now.
                self._lock(key, level)
            expires = self.storage.get_expiry(key + ":lock")
        raise RateLimitedError(scope, expires - time.time())

    def _level(self, key: str) -> int:
        """How many lock-outs ``key`` had lately; each one counts attempts afresh."""
        return int(self.storage.get(key + ":level"))

    def _lock_if_spent(self, scope: Scope, identifier: str, item: RateLimitItem) -> None:
        key = self._key(scope, identifier)
        with self._store():
            level = self._level(key)
            if not self._limiter.test(item, key, str(level)):
                self._lock(key, level)

    def _lock(self, key: str, level: int) -> None:
        policy = self.policy
        seconds = min(policy.lockout_max_s, policy.lockout_first_s * 2 ** min(level, 30))
        # Only the caller that creates the lock raises the level, so that concurrent
        # failures lock once, not once each. The raised level is a fresh count of
        # attempts for after the lock-out, without clearing one that others still hit.
        if self.storage.incr(key + ":lock", seconds) != 1:
            return
        self.storage.incr(key + ":level", policy.lockout_memory_s)

    def _forget(self, scope: Scope, identifier: str, item: RateLimitItem) -> None:
        key = self._key(scope, identifier)
        with self._store():
            for level in range(self._level(key) + 1):
                self._limiter.clear(item, key, str(level))
            self.storage.clear(key + ":level")
            if scope == "kit_code":
                self._limiter.clear(self._kit_code_free_item, key, "free")


def enforce_login_limits(throttle: Throttle, *, address: str | None, account: str | None) -> None:
    """What a log-in style route runs before it looks at any secret.

    Framework-free, so that a FastAPI dependency is one line around it, e.g.
    ``Depends(lambda request: enforce_login_limits(throttle, address=request.client.host,
    account=None))``, and the account check follows once the body is parsed.

    Raises
    ------
    RateLimitedError
        The address used its allowance, or the account is locked out.
    StoreUnavailableError
        When the backend cannot be reached.
    """
    throttle.check_address(address)
    if account is not None:
        throttle.account_attempt(account)
