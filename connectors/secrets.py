"""Credentials at rest: Fernet (AES-128-CBC with HMAC-SHA256) under keys from the environment.

`CIRCULUS_CONNECTOR_KEYS` holds one or more Fernet keys, comma-separated: the first encrypts,
all decrypt (rotation: put the new key first, re-save the sources, drop the old key). Unset, a
key is derived from SECRET_KEY so that a development setup works; production sets its own.
"""

import base64
import hashlib
import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class CredentialsUnreadable(Exception):
    """The stored credentials cannot be decrypted with the configured keys."""

    public = True

    def __str__(self) -> str:
        return (
            "the stored credentials cannot be decrypted with the keys in "
            "CIRCULUS_CONNECTOR_KEYS (key changed?): set them again in the admin"
        )


def _fernet() -> MultiFernet:
    keys = list(settings.CONNECTOR_KEYS)
    if not keys:
        derived = hashlib.sha256(("circulus-connectors:" + settings.SECRET_KEY).encode()).digest()
        keys = [base64.urlsafe_b64encode(derived).decode()]
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "CIRCULUS_CONNECTOR_KEYS: each key is 32 url-safe base64-encoded bytes "
            "(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key())')"
        ) from exc


def encrypt(values: dict) -> str:
    return _fernet().encrypt(json.dumps(values, sort_keys=True).encode()).decode()


def decrypt(token: str) -> dict:
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken:
        raise CredentialsUnreadable() from None
