"""Standard Webhooks signatures: the specification's test vector, round trips, every rejection."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from api.interop.signing import (
    TOLERANCE,
    SignatureError,
    new_secret,
    secret_key,
    sign,
    verify,
)

# The reference library's published test vector (standard-webhooks repository,
# libraries/python/tests/test_webhooks.py, test_sign_function).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIME = datetime.fromtimestamp(1614265330, UTC)
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
BODY = '{"resourceType":"Bundle","id":"李四|^~\\\\&"}'.encode()


def test_signing_reproduces_the_published_test_vector() -> None:
    headers = sign(VECTOR_ID, VECTOR_BODY, [VECTOR_SECRET], at=VECTOR_TIME)
    assert headers == {
        "webhook-id": VECTOR_ID,
        "webhook-timestamp": "1614265330",
        "webhook-signature": VECTOR_SIGNATURE,
    }
    assert verify(headers, VECTOR_BODY, [VECTOR_SECRET], now=VECTOR_TIME) == VECTOR_ID


def test_a_signed_body_verifies_here_and_with_the_reference_library() -> None:
    secret = new_secret()
    headers = sign("msg_0001", BODY, [secret])
    assert verify(headers, BODY, [secret]) == "msg_0001"
    # An independent receiver (the specification's own library) accepts it too.
    assert Webhook(secret).verify(BODY, headers, json_parse=False) is None


def test_header_names_are_case_insensitive() -> None:
    secret = new_secret()
    headers = {name.title(): value for name, value in sign("m1", BODY, [secret], at=NOW).items()}
    assert verify(headers, BODY, [secret], now=NOW) == "m1"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda body: body + b" ",
        lambda body: body.replace(b"Bundle", b"Bundlf"),
        lambda body: b"",
    ],
)
def test_a_changed_body_is_rejected(tamper: Callable[[bytes], bytes]) -> None:
    secret = new_secret()
    headers = sign("msg_0001", BODY, [secret], at=NOW)
    with pytest.raises(SignatureError, match="no signature matches"):
        verify(headers, tamper(BODY), [secret], now=NOW)


def test_a_changed_id_or_timestamp_is_rejected() -> None:
    secret = new_secret()
    headers = sign("msg_0001", BODY, [secret], at=NOW)
    with pytest.raises(SignatureError, match="no signature matches"):
        verify(headers | {"webhook-id": "msg_0002"}, BODY, [secret], now=NOW)
    later = str(int(NOW.timestamp()) + 1)
    with pytest.raises(SignatureError, match="no signature matches"):
        verify(headers | {"webhook-timestamp": later}, BODY, [secret], now=NOW)


@pytest.mark.parametrize(
    "offset", [TOLERANCE + timedelta(seconds=1), -TOLERANCE - timedelta(seconds=1)]
)
def test_a_timestamp_outside_the_tolerance_is_rejected(offset: timedelta) -> None:
    secret = new_secret()
    headers = sign("msg_0001", BODY, [secret], at=NOW)
    with pytest.raises(SignatureError, match="over the tolerance"):
        verify(headers, BODY, [secret], now=NOW + offset)
    # Inside the tolerance the same headers pass; a receiver may widen it.
    assert verify(headers, BODY, [secret], now=NOW + offset / 2) == "msg_0001"
    assert verify(headers, BODY, [secret], now=NOW + offset, tolerance=2 * TOLERANCE)


def test_a_wrong_secret_is_rejected() -> None:
    headers = sign("msg_0001", BODY, [new_secret()], at=NOW)
    with pytest.raises(SignatureError, match="no signature matches"):
        verify(headers, BODY, [new_secret()], now=NOW)


def test_rotated_secrets_keep_deliveries_verifiable_throughout() -> None:
    old, new, unrelated = new_secret(), new_secret(), new_secret()
    # During the rotation the sender signs with both; the header carries two signatures.
    headers = sign("msg_0001", BODY, [new, old], at=NOW)
    assert len(headers["webhook-signature"].split()) == 2
    assert verify(headers, BODY, [old], now=NOW) == "msg_0001"  # receiver not switched yet
    assert verify(headers, BODY, [new], now=NOW) == "msg_0001"  # receiver switched
    assert verify(headers, BODY, [unrelated, new], now=NOW) == "msg_0001"
    with pytest.raises(SignatureError):
        verify(headers, BODY, [unrelated], now=NOW)
    # After the rotation the old secret no longer signs, and a receiver still on it fails.
    after = sign("msg_0002", BODY, [new], at=NOW)
    with pytest.raises(SignatureError):
        verify(after, BODY, [old], now=NOW)


def test_malformed_or_foreign_signatures_are_skipped_not_fatal() -> None:
    secret = new_secret()
    valid = sign("msg_0001", BODY, [secret], at=NOW)
    noise = "garbage v1,@@@ v1,a,b v2,AAAA v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw== ,"
    headers = valid | {"webhook-signature": f"{noise} {valid['webhook-signature']}"}
    assert verify(headers, BODY, [secret], now=NOW) == "msg_0001"
    with pytest.raises(SignatureError, match="no signature matches"):
        verify(valid | {"webhook-signature": noise}, BODY, [secret], now=NOW)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"webhook-id": ""}, "required"),
        ({"webhook-timestamp": ""}, "required"),
        ({"webhook-signature": ""}, "required"),
        ({"webhook-id": "msg.0001"}, "webhook-id is malformed"),
        ({"webhook-id": "msg 0001"}, "webhook-id is malformed"),
        ({"webhook-timestamp": "1764417600.5"}, "whole number"),
        ({"webhook-timestamp": "-1764417600"}, "whole number"),
        ({"webhook-timestamp": "1e9"}, "whole number"),
        ({"webhook-timestamp": "nan"}, "whole number"),
    ],
)
def test_malformed_headers_are_rejected_with_a_reason(change: dict[str, str], reason: str) -> None:
    secret = new_secret()
    headers = sign("msg_0001", BODY, [secret], at=NOW) | change
    with pytest.raises(SignatureError, match=reason):
        verify(headers, BODY, [secret], now=NOW)


def test_a_body_that_is_not_utf8_is_rejected_where_the_reference_library_would_crash() -> None:
    secret = new_secret()
    headers = sign("msg_0001", BODY, [secret])  # now: the library reads the real clock
    with pytest.raises(SignatureError, match="not UTF-8"):
        verify(headers, b"\xff\xfe", [secret])
    with pytest.raises(UnicodeDecodeError):
        Webhook(secret).verify(b"\xff\xfe", headers)
    with pytest.raises(ValueError, match="not enough values"):
        Webhook(secret).verify(BODY, headers | {"webhook-signature": "garbage"})
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, headers | {"webhook-signature": "v1,AAAA"})


def test_secrets_are_fresh_well_formed_and_checked() -> None:
    first, second = new_secret(), new_secret()
    assert first != second
    assert first.startswith("whsec_")
    assert len(secret_key(first)) == 32
    assert len(secret_key(VECTOR_SECRET)) == 24
    short = "whsec_" + base64.b64encode(b"x" * 23).decode()
    for bad, reason in [
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "starts with"),
        ("whsec_not base64!!", "base64"),
        (short, "24 to 64 bytes"),
        ("whsec_" + base64.b64encode(b"x" * 65).decode(), "24 to 64 bytes"),
    ]:
        with pytest.raises(ValueError, match=reason):
            secret_key(bad)
    with pytest.raises(ValueError, match="starts with"):
        sign("msg_0001", BODY, [short[len("whsec_") :]])
    with pytest.raises(ValueError, match="at least one secret"):
        sign("msg_0001", BODY, [])
    with pytest.raises(ValueError, match="message id"):
        sign("msg.0001", BODY, [first])
    with pytest.raises(ValueError, match="UTC offset"):
        sign("msg_0001", BODY, [first], at=datetime(2026, 11, 29, 12, 0))
