"""Org API keys (DESIGN.md section 7) and the Idempotency-Key records of the JSON API."""
import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db
from models.base import CreatedAt, OrgScoped, UTCDateTime, UUIDPrimaryKey


class ApiKey(UUIDPrimaryKey, CreatedAt, OrgScoped, db.Model):
    """A bearer key for /api/v1. Only its SHA-256 is stored; the key is shown once."""

    __tablename__ = "api_keys"
    __table_args__ = (
        # revoke_keys_created_by(): the keys one person made in one org.
        Index("ix_api_keys_org_created_by", "org_id", "created_by_id"),
    )

    name: Mapped[str] = mapped_column(String(100), nullable=False)
    # "ok_live_" and the first four characters of the random part, and the key's last four: enough
    # for an admin to tell keys apart and match a leaked one, not enough to guess it.
    prefix: Mapped[str] = mapped_column(String(20), nullable=False)
    last_four: Mapped[str] = mapped_column(String(4), nullable=False)
    key_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)  # hex SHA-256
    # Hierarchical: ["read"], ["read", "write"] or ["read", "write", "admin"] (services/api_keys.py).
    scopes: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    # NULL for keys an operator made with the CLI; such keys are capped by their scopes only.
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_by_label: Mapped[str] = mapped_column(String(254), nullable=False)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Written at most once a minute per key, or when the IP changes (services/api_keys.record_use).
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_ip: Mapped[str | None] = mapped_column(String(45), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)

    created_by = relationship("User", lazy="joined")

    def is_expired(self, now):
        return self.expires_at is not None and self.expires_at <= now

    @property
    def is_revoked(self):
        return self.revoked_at is not None

    @property
    def scope(self):
        """The widest scope the key holds."""
        for name in ("admin", "write", "read"):
            if name in (self.scopes or []):
                return name
        return "read"


class ApiIdempotencyRecord(UUIDPrimaryKey, CreatedAt, OrgScoped, db.Model):
    """The answer to a POST sent with an Idempotency-Key, written in the transaction of the change,
    so a retry gets the same answer and the change happens once."""

    __tablename__ = "api_idempotency_records"
    __table_args__ = (
        UniqueConstraint("api_key_id", "idempotency_key"),
        Index("ix_api_idempotency_records_created", "created_at"),  # pruned by age
    )

    api_key_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False)
    idempotency_key: Mapped[str] = mapped_column(String(255), nullable=False)
    # SHA-256 of method, path and body: the same key with another request is refused (422).
    request_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    response_status: Mapped[int] = mapped_column(Integer, nullable=False)
    response_body: Mapped[str] = mapped_column(Text, nullable=False)
