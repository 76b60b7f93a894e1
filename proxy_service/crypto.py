"""Personal data at rest: encryption, lookup hashes and masking.

ID numbers, phone numbers and addresses are stored encrypted (Fernet: AES-128-CBC with an
HMAC), by the services (`encrypt`/`decrypt` on `*_enc` columns). Values the services read
and write whole — transcripts, filled slots, notes, disability status, stored responses —
use the column types below, which encrypt on write and decrypt on read, so the database
never holds them in clear. Looking a resident up by phone uses a keyed hash, never the
plain number. Lists, logs and API list views show masked forms only.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy.types import Text, TypeDecorator

from contract import normalize_digits
from proxy_service.settings import get_settings


def _fernet_key(key: str) -> bytes:
    raw = base64.urlsafe_b64decode(key.encode())
    if len(raw) != 32:
        raise ValueError("DATA_ENCRYPTION_KEY must be urlsafe base64 of 32 bytes (comma-separated when rotating)")
    return base64.urlsafe_b64encode(raw)


@functools.lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    """The first key encrypts; every key decrypts (a rotation in progress)."""
    return MultiFernet([Fernet(_fernet_key(key)) for key in keys])


def _keys(key: str | None) -> tuple[str, ...]:
    return (key,) if key else get_settings().data_keys


def encrypt_bytes(plain: bytes, key: str | None = None) -> bytes:
    return _fernet(_keys(key)).encrypt(plain)


def decrypt_bytes(token: bytes, key: str | None = None) -> bytes:
    try:
        return _fernet(_keys(key)).decrypt(token)
    except InvalidToken as error:
        raise ValueError("stored personal data cannot be decrypted with these keys") from error


def reencrypt_bytes(token: bytes) -> bytes:
    """The same plaintext under the newest key (MultiFernet.rotate), for key rotation."""
    try:
        return _fernet(get_settings().data_keys).rotate(token)
    except InvalidToken as error:
        raise ValueError("stored personal data cannot be decrypted with these keys") from error


def encrypt(plain: str | None, key: str | None = None) -> str | None:
    return None if plain is None else encrypt_bytes(plain.encode(), key).decode()


def decrypt(token: str | None, key: str | None = None) -> str | None:
    return None if token is None else decrypt_bytes(token.encode(), key).decode()


def reencrypt(token: str | None) -> str | None:
    return None if token is None else reencrypt_bytes(token.encode()).decode()


def lookup_hash(value: str, key: str | None = None) -> str:
    """A keyed hash for equality look-ups (phone numbers) without storing them in clear.

    Its key (DATA_HMAC_KEY) is not an encryption key: rotating those keeps every hash."""
    secret = (key or get_settings().hmac_key).encode()
    return hmac.new(secret, normalize_digits(value).encode(), hashlib.sha256).hexdigest()


def mask_phone(phone: str | None) -> str:
    digits = normalize_digits(phone or "")
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}****{digits[-4:]}"


def mask_name(name: str | None) -> str:
    """'王秀英' → '王*英', '李明' → '李*', '欧阳娜娜' → '欧**娜': enough to tell bookings apart."""
    name = (name or "").strip()
    if len(name) <= 1:
        return "*" * len(name)
    if len(name) == 2:
        return f"{name[0]}*"
    return f"{name[0]}{'*' * (len(name) - 2)}{name[-1]}"


class EncryptedText(TypeDecorator):
    """A text column stored as Fernet ciphertext."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return encrypt(value)

    def process_result_value(self, value, dialect):
        return decrypt(value)


class EncryptedJSON(TypeDecorator):
    """A JSON value (list, dict, bool …) stored as Fernet ciphertext of its JSON text."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else encrypt(json.dumps(value, ensure_ascii=False))

    def process_result_value(self, value, dialect):
        return None if value is None else json.loads(decrypt(value))
