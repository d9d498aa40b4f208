"""Second factors of an account (services/twofactor.py): an authenticator app (TOTP), passkeys and
security keys (WebAuthn), recovery codes, and remembered devices. They belong to a user, not to an
org: one account's factors serve every workspace it belongs to."""
import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.base import CreatedAt, UTCDateTime, UUIDPrimaryKey


def _user_fk():
    return mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)


class TotpFactor(UUIDPrimaryKey, CreatedAt, db.Model):
    """An authenticator app (RFC 6238). At most one per user; a row with confirmed_at NULL is a setup
    in progress (the QR code was shown, no code was typed yet) and does not count as a factor."""

    __tablename__ = "totp_factors"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False,
                                               unique=True)
    # The base32 shared secret, encrypted (services/crypto.py): it must be read again to check codes.
    secret_encrypted: Mapped[str] = mapped_column(String(255), nullable=False)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The last 30-second time step whose code was accepted: a code of that step or an earlier one is
    # refused, so a code works once even within its window (RFC 6238 section 5.2).
    last_used_step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Passkey(UUIDPrimaryKey, CreatedAt, db.Model):
    """A WebAuthn credential (a passkey or a security key), registered as discoverable so it can sign
    in without a password (WebAuthn Level 2, section 6.2.2 "client-side discoverable credential")."""

    __tablename__ = "passkeys"

    user_id: Mapped[uuid.UUID] = _user_fk()
    name: Mapped[str] = mapped_column(String(60), nullable=False)
    credential_id: Mapped[bytes] = mapped_column(LargeBinary(1023), nullable=False, unique=True)
    # COSE public key: checks the signature of every later assertion.
    public_key: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    # The authenticator's signature counter (section 6.1.1): a value that does not grow means a clone.
    sign_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    transports: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class RecoveryCode(UUIDPrimaryKey, CreatedAt, db.Model):
    """One of ten single-use codes for when the other factors are lost. Only its SHA-256 is stored:
    a code carries 80 random bits, far beyond guessing a hash offline."""

    __tablename__ = "recovery_codes"
    __table_args__ = (Index("ix_recovery_codes_user_hash", "user_id", "code_hash", unique=True),)

    user_id: Mapped[uuid.UUID] = _user_fk()
    code_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class RememberedDevice(UUIDPrimaryKey, CreatedAt, db.Model):
    """"Remember this device": a server-side grant that skips the second factor in one browser. The
    browser holds a random token in a cookie; only its SHA-256 is stored. It holds for the account's
    session epoch it was made in, so logging out everywhere (which moves the epoch) ends it."""

    __tablename__ = "remembered_devices"

    user_id: Mapped[uuid.UUID] = _user_fk()
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    session_epoch: Mapped[int] = mapped_column(Integer, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    user_agent: Mapped[str | None] = mapped_column(String(255), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
