"""Encryption of secrets that must be used again later (webhook signing secrets, SAML SP keys).

Fernet (AES-128-CBC + HMAC-SHA256, from the `cryptography` package) with the key from ENCRYPTION_KEY.
Several comma-separated keys may be given: the first encrypts, all decrypt (MultiFernet), so an
operator can rotate the key. When ENCRYPTION_KEY is empty a key is derived from SECRET_KEY, so a
local run works without extra setup (DESIGN.md section 2).
"""
import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app


class DecryptionError(Exception):
    """The stored value was encrypted with a key that is no longer configured, or was altered."""


def _keys(config):
    configured = [k.strip() for k in (config.get("ENCRYPTION_KEY") or "").split(",") if k.strip()]
    if configured:
        return configured
    digest = hashlib.sha256(b"orgkit-encryption-key:" + config["SECRET_KEY"].encode()).digest()
    return [base64.urlsafe_b64encode(digest).decode()]


def _fernet(config=None):
    config = config or current_app.config
    return MultiFernet([Fernet(key) for key in _keys(config)])


def encrypt(plaintext, config=None):
    """The plaintext string encrypted as a URL-safe ASCII token."""
    return _fernet(config).encrypt(plaintext.encode()).decode()


def decrypt(token, config=None):
    try:
        return _fernet(config).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError("stored secret cannot be decrypted with the configured ENCRYPTION_KEY") from exc
