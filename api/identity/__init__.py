"""Identity and personal data: national ID numbers, phone numbers, encryption, passwords."""

from api.identity.crypto import (
    DecryptionError,
    PersonalDataCipher,
    generate_key,
    hash_password,
    key_id,
    needs_rehash,
    verify_password,
)
from api.identity.national_id import (
    CnResidentId,
    NationalIdError,
    cn_check_character,
    make_test_id,
    parse_cn_resident_id,
    validate_national_id,
)
from api.identity.phone import PhoneError, validate_phone

__all__ = [
    "CnResidentId",
    "DecryptionError",
    "NationalIdError",
    "PersonalDataCipher",
    "PhoneError",
    "cn_check_character",
    "generate_key",
    "hash_password",
    "key_id",
    "make_test_id",
    "needs_rehash",
    "parse_cn_resident_id",
    "validate_national_id",
    "validate_phone",
    "verify_password",
]
