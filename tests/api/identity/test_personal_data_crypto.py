import base64
import doctest

import pytest

from api.identity import (
    DecryptionError,
    PersonalDataCipher,
    generate_key,
    hash_password,
    key_id,
    needs_rehash,
    verify_password,
)
from api.identity import crypto as crypto_module

OLD, NEW, LOOKUP = generate_key(), generate_key(), generate_key()


def test_docstring_examples_hold():
    result = doctest.testmod(crypto_module)
    assert result.attempted > 0
    assert result.failed == 0


def test_generate_key_gives_fresh_256_bit_base64_keys():
    keys = {generate_key() for _ in range(20)}
    assert len(keys) == 20
    assert all(len(base64.b64decode(key, validate=True)) == 32 for key in keys)


@pytest.mark.parametrize(
    "text", ["", "张伟", "11010519491231002X", "a" * 10_000, "é\u0301\U0001f600"]
)
def test_round_trip(text):
    cipher = PersonalDataCipher(NEW, lookup_key=LOOKUP)
    blob = cipher.encrypt(text)
    assert isinstance(blob, bytes)
    assert text.encode() not in blob or not text
    assert cipher.decrypt(blob) == text


def test_encryption_is_randomised_and_carries_the_key_id():
    cipher = PersonalDataCipher(NEW, lookup_key=LOOKUP)
    first, second = cipher.encrypt("same"), cipher.encrypt("same")
    assert first != second
    assert first[0] == crypto_module.VERSION
    assert first[1:5] == key_id(base64.b64decode(NEW))


def test_raw_bytes_and_base64_keys_are_equivalent():
    raw = PersonalDataCipher([base64.b64decode(NEW)], lookup_key=base64.b64decode(LOOKUP))
    text = PersonalDataCipher(NEW, lookup_key=LOOKUP)
    assert text.decrypt(raw.encrypt("x")) == "x"
    assert raw.lookup_hash("x") == text.lookup_hash("x")


def test_every_flipped_byte_is_detected():
    cipher = PersonalDataCipher(NEW, lookup_key=LOOKUP)
    blob = cipher.encrypt("13800138000")
    for position in range(len(blob)):
        altered = bytearray(blob)
        altered[position] ^= 0x01
        with pytest.raises(DecryptionError):
            cipher.decrypt(bytes(altered))


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda blob: blob[:20], "too short"),
        (lambda blob: bytes([9]) + blob[1:], "version 9"),
        (lambda blob: blob[:1] + b"\0\0\0\0" + blob[5:], "key id 00000000"),
        (lambda blob: blob[:-1] + bytes([blob[-1] ^ 0x80]), "failed authentication"),
    ],
)
def test_tampering_messages(mangle, message):
    cipher = PersonalDataCipher(NEW, lookup_key=LOOKUP)
    with pytest.raises(DecryptionError, match=message):
        cipher.decrypt(mangle(cipher.encrypt("张伟")))


def test_context_binds_a_value_to_its_field():
    cipher = PersonalDataCipher(NEW, lookup_key=LOOKUP)
    blob = cipher.encrypt("13800138000", context="phone")
    assert cipher.decrypt(blob, context="phone") == "13800138000"
    with pytest.raises(DecryptionError, match="another field"):
        cipher.decrypt(blob, context="name")
    with pytest.raises(DecryptionError):
        cipher.decrypt(blob)


def test_key_rotation():
    before = PersonalDataCipher([OLD], lookup_key=LOOKUP)
    after = PersonalDataCipher([NEW, OLD], lookup_key=LOOKUP)
    old_blob = before.encrypt("张伟")
    assert after.decrypt(old_blob) == "张伟"
    assert after.needs_reencrypt(old_blob)
    new_blob = after.reencrypt(old_blob)
    assert not after.needs_reencrypt(new_blob)
    assert after.decrypt(new_blob) == "张伟"
    # Once the old key is dropped, only re-encrypted values remain readable.
    only_new = PersonalDataCipher([NEW], lookup_key=LOOKUP)
    assert only_new.decrypt(new_blob) == "张伟"
    with pytest.raises(DecryptionError, match="does not hold"):
        only_new.decrypt(old_blob)
    assert after.lookup_hash("x") == before.lookup_hash("x")  # hashes survive rotation


def test_lookup_hash_is_keyed_normalised_and_separated_by_purpose():
    cipher = PersonalDataCipher(NEW, lookup_key=LOOKUP)
    value = "11010519491231002X"
    digest = cipher.lookup_hash(value)
    assert len(digest) == 64
    assert int(digest, 16) >= 0
    assert cipher.lookup_hash(f" {value} ") == digest
    assert cipher.lookup_hash("１１０１０５１９４９１２３１００２Ｘ") == digest  # NFKC
    assert cipher.lookup_hash("11010519491231003X") != digest
    assert cipher.lookup_hash(value, purpose="phone") != digest
    other = PersonalDataCipher(NEW, lookup_key=generate_key())
    assert other.lookup_hash(value) != digest


# Cases named by their message: the keys are random, and xdist workers must collect the same ids.
@pytest.mark.parametrize(
    ("keys", "lookup", "message"),
    [
        pytest.param(*case, id=case[2])
        for case in [
            ([], LOOKUP, "at least one"),
            (["not base64!"], LOOKUP, "encryption key 1 is not valid base64"),
            ([base64.b64encode(b"short").decode()], LOOKUP, "5 bytes"),
            ([NEW, NEW], LOOKUP, "key 2 is given twice"),
            ([NEW], base64.b64encode(b"short").decode(), "at least 16 bytes"),
            ([NEW], NEW, "must differ"),
        ]
    ],
)
def test_bad_keys_are_refused(keys, lookup, message):
    with pytest.raises(ValueError, match=message):
        PersonalDataCipher(keys, lookup_key=lookup)


def test_passwords():
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "correct horse battery")
    assert not verify_password(stored, "correct horse batterY")
    assert not verify_password("not a hash", "correct horse battery")
    assert not needs_rehash(stored)
    assert hash_password("correct horse battery") != stored  # salted
    with pytest.raises(ValueError, match="empty"):
        hash_password("")


def test_weak_password_hashes_need_rehash():
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("pw")
    assert verify_password(weak, "pw")
    assert needs_rehash(weak)
    assert needs_rehash("garbage")
