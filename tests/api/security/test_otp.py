"""One-time codes: single use, expiry, attempt limit, resend interval; Redis and memory."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from api.security.otp import (
    MemoryOtpStore,
    OneTimeCodeError,
    OneTimeCodes,
    OtpPolicy,
    ResendTooSoonError,
)
from api.security.ratelimit import StoreUnavailableError

SECRET = b"one-time-code-test-secret-32byte"

MakeCodes = Callable[..., OneTimeCodes]


@pytest.fixture
def make_codes(backend_url: str | None, backend_prefix: str) -> MakeCodes:
    def make(**policy: int) -> OneTimeCodes:
        return OneTimeCodes.from_url(
            backend_url, secret=SECRET, prefix=backend_prefix, policy=OtpPolicy(**policy)
        )

    return make


@dataclass
class Outbox:
    """A notifier that keeps what it was asked to send, as a real inbox would."""

    sent: list[tuple[str, str, str]] = field(default_factory=list)

    def send(self, channel: str, address: str, text: str) -> None:
        self.sent.append((channel, address, text))


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_a_code_works_once(make_codes: MakeCodes) -> None:
    codes = make_codes()
    code = codes.issue("VGL-ONCE")
    assert len(code) == 6
    assert code.isdigit()
    codes.verify("VGL-ONCE", f"{code[:3]} {code[3:]}")  # typed with a space
    with pytest.raises(OneTimeCodeError, match="already used"):
        codes.verify("VGL-ONCE", code)


def test_a_code_is_bound_to_its_kit_code(make_codes: MakeCodes) -> None:
    codes = make_codes()
    code = codes.issue("VGL-A")
    codes.issue("VGL-B")
    with pytest.raises(OneTimeCodeError):
        codes.verify("VGL-B", code)  # unless both drew the same digits, 1 in a million
    codes.verify("VGL-A", code)


def test_wrong_codes_count_down_then_even_the_right_one_is_refused(make_codes: MakeCodes) -> None:
    codes = make_codes(max_attempts=3)
    code = codes.issue("VGL-TRIES")
    with pytest.raises(OneTimeCodeError, match="2 tries left"):
        codes.verify("VGL-TRIES", _wrong(code))
    with pytest.raises(OneTimeCodeError, match="1 tries left"):
        codes.verify("VGL-TRIES", "not-a-code")
    with pytest.raises(OneTimeCodeError, match="Too many wrong codes"):
        codes.verify("VGL-TRIES", _wrong(code))
    with pytest.raises(OneTimeCodeError, match="already used"):
        codes.verify("VGL-TRIES", code)


def test_a_code_expires(make_codes: MakeCodes) -> None:
    codes = make_codes(ttl_s=1, resend_after_s=0)
    code = codes.issue("VGL-OLD")
    time.sleep(1.3)
    with pytest.raises(OneTimeCodeError, match="expired"):
        codes.verify("VGL-OLD", code)


def test_resend_waits_then_replaces_the_old_code(make_codes: MakeCodes) -> None:
    codes = make_codes(resend_after_s=1)
    first = codes.issue("VGL-RESEND")
    with pytest.raises(ResendTooSoonError) as refused:
        codes.issue("VGL-RESEND")
    assert refused.value.retry_after == 1
    time.sleep(1.1)
    second = codes.issue("VGL-RESEND")
    if first != second:
        with pytest.raises(OneTimeCodeError):
            codes.verify("VGL-RESEND", first)
    codes.verify("VGL-RESEND", second)


def test_concurrent_right_answers_let_exactly_one_in(make_codes: MakeCodes) -> None:
    codes = make_codes(max_attempts=20)
    code = codes.issue("VGL-RACE")
    accepted = []
    start = threading.Barrier(12)

    def submit() -> None:
        start.wait()
        try:
            codes.verify("VGL-RACE", code)
        except OneTimeCodeError:
            return
        accepted.append(1)

    threads = [threading.Thread(target=submit) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(accepted) == 1


def test_send_delivers_the_code_through_the_notifier(make_codes: MakeCodes) -> None:
    codes = make_codes()
    outbox = Outbox()
    codes.send("VGL-SEND", outbox, "sms", "+41790000000")
    [(channel, address, text)] = outbox.sent
    assert (channel, address) == ("sms", "+41790000000")
    code = next(
        word for word in text.replace(".", " ").split() if word.isdigit() and len(word) == 6
    )
    codes.verify("VGL-SEND", code)


def test_redis_holds_only_a_keyed_hash(redis_url: str, redis_prefix: str) -> None:
    import redis

    codes = OneTimeCodes.from_url(redis_url, secret=SECRET, prefix=redis_prefix)
    code = codes.issue("VGL-HIDDEN")
    client = redis.Redis.from_url(redis_url)
    [key] = list(client.scan_iter(f"{redis_prefix}*"))
    assert b"VGL-HIDDEN" not in key
    stored = {bytes(k): bytes(v) for k, v in client.hgetall(key).items()}  # type: ignore[arg-type]
    assert set(stored) == {b"digest", b"tries", b"issued"}
    assert len(stored[b"digest"]) == 32  # an HMAC-SHA256, not the six digits
    assert code.encode() not in stored[b"digest"]
    assert 0 < client.ttl(key) <= 600


def test_memory_store_stays_bounded() -> None:
    store = MemoryOtpStore(max_entries=3)
    codes = OneTimeCodes(store, secret=SECRET)
    issued = {f"VGL-{n}": codes.issue(f"VGL-{n}") for n in range(5)}
    assert len(store._entries) == 3
    codes.verify("VGL-4", issued["VGL-4"])  # the newest survive


def test_unreachable_redis_is_a_store_error() -> None:
    codes = OneTimeCodes.from_url("redis://127.0.0.1:1/0", secret=SECRET)
    with pytest.raises(StoreUnavailableError):
        codes.issue("VGL-DOWN")
