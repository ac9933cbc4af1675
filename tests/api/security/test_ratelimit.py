"""Rate limits and lock-outs, on the real Redis and in memory."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from api.security.ratelimit import (
    RateLimitedError,
    RatePolicy,
    StoreUnavailableError,
    Throttle,
    client_key,
    enforce_login_limits,
)

SECRET = b"throttle-test-secret-32-bytes!!!"

MakeThrottle = Callable[..., Throttle]


@pytest.fixture
def make_throttle(backend_url: str | None, backend_prefix: str) -> MakeThrottle:
    def make(**policy: int) -> Throttle:
        return Throttle.from_url(
            backend_url, secret=SECRET, prefix=backend_prefix, policy=RatePolicy(**policy)
        )

    return make


def test_address_gets_its_allowance_then_a_retry_after(make_throttle: MakeThrottle) -> None:
    throttle = make_throttle()
    for _ in range(20):
        throttle.check_address("198.51.100.4")
    with pytest.raises(RateLimitedError) as refused:
        throttle.check_address("198.51.100.4")
    assert refused.value.scope == "address"
    assert 1 <= refused.value.retry_after <= 60
    assert "try again in" in refused.value.message
    throttle.check_address("198.51.100.5")  # another address is not affected


def test_threads_hammering_one_address_get_exactly_the_allowance(
    make_throttle: MakeThrottle,
) -> None:
    throttle = make_throttle(address_attempts=25)
    allowed = 0
    lock = threading.Lock()
    start = threading.Barrier(16)

    def client() -> None:
        nonlocal allowed
        start.wait()
        for _ in range(10):
            try:
                throttle.check_address("192.0.2.77")
            except RateLimitedError:
                continue
            with lock:
                allowed += 1

    threads = [threading.Thread(target=client) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert allowed == 25


def test_ipv6_clients_are_counted_per_64(make_throttle: MakeThrottle) -> None:
    throttle = make_throttle(address_attempts=3)
    for host in ("2001:db8::1", "2001:db8::2", "2001:db8::3"):
        throttle.check_address(host)
    with pytest.raises(RateLimitedError):
        throttle.check_address("2001:db8::ffff")
    throttle.check_address("2001:db8:0:1::1")  # the next /64 is someone else
    assert client_key("2001:db8::1") == client_key("2001:db8::ffff")


def test_account_is_locked_after_five_failures_even_for_the_right_password(
    make_throttle: MakeThrottle,
) -> None:
    throttle = make_throttle()
    for _ in range(5):
        throttle.account_attempt("alice")
        throttle.account_failed("alice")
    with pytest.raises(RateLimitedError) as refused:
        throttle.account_attempt("alice")  # the right password would not even be looked at
    assert refused.value.scope == "account"
    assert 55 <= refused.value.retry_after <= 60
    assert "locked for" in refused.value.message
    throttle.account_attempt("bob")


def test_parallel_guesses_cannot_outrun_the_account_limit(make_throttle: MakeThrottle) -> None:
    throttle = make_throttle()
    allowed = []
    start = threading.Barrier(16)

    def guesser() -> None:
        start.wait()
        for _ in range(4):
            try:
                throttle.account_attempt("grace")
            except RateLimitedError:
                continue
            allowed.append(1)  # the password is checked here, and is wrong
            throttle.account_failed("grace")

    threads = [threading.Thread(target=guesser) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(allowed) == 5
    with pytest.raises(RateLimitedError) as refused:
        throttle.account_attempt("grace")
    assert refused.value.retry_after <= 60  # locked once, not once per parallel failure


def test_success_resets_the_account_but_not_the_address(make_throttle: MakeThrottle) -> None:
    throttle = make_throttle(address_attempts=10)
    for _ in range(4):
        enforce_login_limits(throttle, address="203.0.113.9", account="carol")
        throttle.account_failed("carol")
    enforce_login_limits(throttle, address="203.0.113.9", account="carol")
    throttle.account_succeeded("carol")
    for _ in range(4):
        throttle.account_attempt("carol")
        throttle.account_failed("carol")
    throttle.account_attempt("carol")  # 4 + 4 failures, but a success in between
    for _ in range(5):
        throttle.check_address("203.0.113.9")  # 5 + 5 = the address's allowance of 10
    with pytest.raises(RateLimitedError) as refused:
        enforce_login_limits(throttle, address="203.0.113.9", account="carol")
    assert refused.value.scope == "address"


def test_lockouts_double_up_to_the_cap(make_throttle: MakeThrottle) -> None:
    throttle = make_throttle(account_failures=2, lockout_first_s=1, lockout_max_s=2)
    seen = []
    for _ in range(3):
        for _ in range(2):
            throttle.account_attempt("dave")
            throttle.account_failed("dave")
        with pytest.raises(RateLimitedError) as refused:
            throttle.account_attempt("dave")
        seen.append(refused.value.retry_after)
        time.sleep(refused.value.retry_after + 0.3)
    assert seen == [1, 2, 2]
    throttle.account_attempt("dave")  # the last lock-out has ended


def test_spellings_of_one_account_share_its_attempts(make_throttle: MakeThrottle) -> None:
    throttle = make_throttle(account_failures=3)
    for spelling in ("Ivan", "IVAN", "ｉｖａｎ"):
        throttle.account_attempt(spelling)
        throttle.account_failed(spelling)
    with pytest.raises(RateLimitedError):
        throttle.account_attempt("ivan")


def test_an_unreported_failure_still_locks(make_throttle: MakeThrottle) -> None:
    throttle = make_throttle(account_failures=3)
    for _ in range(3):
        throttle.account_attempt("heidi")  # the route crashed before reporting the outcome
    with pytest.raises(RateLimitedError):
        throttle.account_attempt("heidi")


def test_kit_code_asks_for_a_one_time_code_after_three_failures(
    make_throttle: MakeThrottle,
) -> None:
    throttle = make_throttle()
    code = "VGL-7Q2M-XK4P"
    needs = []
    for _ in range(5):
        needs.append(throttle.kit_code_attempt(code).otp_required)
        throttle.kit_code_failed(code)
    assert needs == [False, False, False, True, True]
    assert throttle.kit_code_attempt("VGL-OTHER-CODE").otp_required is False
    throttle.kit_code_succeeded(code)
    assert throttle.kit_code_attempt(code).otp_required is False


def test_parallel_kit_code_guesses_get_three_without_a_one_time_code(
    make_throttle: MakeThrottle,
) -> None:
    throttle = make_throttle()
    without_otp = []
    start = threading.Barrier(20)

    def guesser() -> None:
        start.wait()
        try:
            state = throttle.kit_code_attempt("VGL-RACE-CODE")
        except RateLimitedError:
            return
        if not state.otp_required:
            without_otp.append(1)
        throttle.kit_code_failed("VGL-RACE-CODE")

    threads = [threading.Thread(target=guesser) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(without_otp) == 3


def test_kit_code_is_locked_after_its_failure_limit_and_stays_in_otp_mode(
    make_throttle: MakeThrottle,
) -> None:
    throttle = make_throttle(kit_code_failures=4, lockout_first_s=1)
    for _ in range(4):
        throttle.kit_code_attempt("VGL-LOCK")
        throttle.kit_code_failed("VGL-LOCK")
    with pytest.raises(RateLimitedError) as refused:
        throttle.kit_code_attempt("VGL-LOCK")
    assert refused.value.scope == "kit_code"
    time.sleep(1.2)
    assert throttle.kit_code_attempt("VGL-LOCK").otp_required is True


def test_identifiers_never_reach_redis_in_clear(redis_url: str, redis_prefix: str) -> None:
    import redis

    throttle = Throttle.from_url(redis_url, secret=SECRET, prefix=redis_prefix)
    throttle.check_address("198.51.100.200")
    throttle.account_attempt("erin.secret.name")
    throttle.kit_code_attempt("VGL-SECRET-CODE")
    throttle.kit_code_failed("VGL-SECRET-CODE")
    keys = [k.decode() for k in redis.Redis.from_url(redis_url).scan_iter(f"{redis_prefix}*")]
    assert len(keys) >= 3
    assert all(k.startswith(redis_prefix) for k in keys)
    joined = " ".join(keys)
    for clear in ("198.51.100.200", "erin", "SECRET"):
        assert clear not in joined
    ttls = [redis.Redis.from_url(redis_url).ttl(k) for k in keys]
    assert all(ttl > 0 for ttl in ttls)  # every key expires by itself


def test_two_processes_sharing_redis_share_the_counts(redis_url: str, redis_prefix: str) -> None:
    first = Throttle.from_url(redis_url, secret=SECRET, prefix=redis_prefix)
    second = Throttle.from_url(redis_url, secret=SECRET, prefix=redis_prefix)
    for _ in range(5):
        first.account_attempt("frank")
        first.account_failed("frank")
    with pytest.raises(RateLimitedError):
        second.account_attempt("frank")


def test_unreachable_redis_fails_closed() -> None:
    throttle = Throttle.from_url("redis://127.0.0.1:1/0", secret=SECRET)
    with pytest.raises(StoreUnavailableError):
        throttle.check_address("192.0.2.1")
    with pytest.raises(StoreUnavailableError):
        throttle.account_attempt("alice")


def test_a_short_secret_or_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        Throttle.from_url(None, secret=b"short")
    with pytest.raises(ValueError, match="unsupported"):
        Throttle.from_url("memcached://127.0.0.1:11211", secret=SECRET)
