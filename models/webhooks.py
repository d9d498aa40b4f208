"""Webhook endpoints, messages, deliveries and attempts (DESIGN.md sections 5 and 6).

A message is one event as sent to webhooks (its body is fixed once written, so every retry sends the
same bytes under the same webhook-id). A delivery is that message on its way to one endpoint; its row
is the source of truth for status, attempt count, next attempt time and lease. An attempt is one HTTP
request made for a delivery, kept for the admin's attempt log.
"""
import uuid
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db
from models.base import CreatedAt, OrgScoped, UTCDateTime, UUIDPrimaryKey


class WebhookEndpoint(UUIDPrimaryKey, CreatedAt, OrgScoped, db.Model):
    __tablename__ = "webhook_endpoints"

    url: Mapped[str] = mapped_column(String(2048), nullable=False)
    description: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    # True: every webhook event type, including ones added to the catalog later.
    all_events: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    event_types: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # Fernet tokens (services/crypto.py) of "whsec_..." secrets. The previous secret keeps signing
    # next to the current one until previous_secret_expires_at (rotation with overlap).
    secret_encrypted: Mapped[str] = mapped_column(Text, nullable=False)
    previous_secret_encrypted: Mapped[str | None] = mapped_column(Text, nullable=True)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    secret_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Start of the current run of failed attempts; NULL after any success. Auto-disable reads it.
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    created_by = relationship("User", lazy="joined")

    def subscribes_to(self, event_type):
        return self.all_events or event_type in (self.event_types or [])


class WebhookMessage(UUIDPrimaryKey, CreatedAt, OrgScoped, db.Model):
    __tablename__ = "webhook_messages"

    event_type: Mapped[str] = mapped_column(String(80), nullable=False)
    # The exact JSON body sent on every attempt: {"type", "timestamp", "data"}.
    body: Mapped[str] = mapped_column(Text, nullable=False)
    audit_event_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("audit_events.id", ondelete="SET NULL"), nullable=True)
    is_test: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)

    @property
    def webhook_id(self):
        """The webhook-id header: the same on every retry, so receivers can deduplicate."""
        return f"msg_{self.id.hex}"


class WebhookDelivery(UUIDPrimaryKey, CreatedAt, OrgScoped, db.Model):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("message_id", "endpoint_id"),
        # The sweeper's query: pending deliveries by due time.
        Index("ix_webhook_deliveries_status_next", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint_created", "endpoint_id", "created_at"),
    )

    message_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("webhook_messages.id", ondelete="CASCADE"), nullable=False)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="pending")  # pending, succeeded, failed
    attempt_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Attempts since the delivery was last (re)queued by hand; indexes the retry schedule.
    round_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # A worker that claimed the delivery holds it until lease_expires_at; after that the sweeper
    # hands it to another worker (the first one died mid-delivery).
    lease_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    succeeded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    message = relationship("WebhookMessage", lazy="joined", innerjoin=True)
    endpoint = relationship("WebhookEndpoint", lazy="select")

    @property
    def is_settled(self):
        return self.status != "pending"


class WebhookAttempt(UUIDPrimaryKey, CreatedAt, OrgScoped, db.Model):
    __tablename__ = "webhook_attempts"
    __table_args__ = (
        Index("ix_webhook_attempts_delivery_created", "delivery_id", "created_at"),
        Index("ix_webhook_attempts_endpoint_created", "endpoint_id", "created_at"),
        Index("ix_webhook_attempts_created", "created_at"),  # retention prunes by age
    )

    delivery_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), nullable=False)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False)
    attempt_number: Mapped[int] = mapped_column(Integer, nullable=False)
    succeeded: Mapped[bool] = mapped_column(Boolean, nullable=False)
    request_url: Mapped[str] = mapped_column(String(2048), nullable=False)
    # Signatures are shown shortened: they are not secret, but there is no need to keep them whole.
    request_headers: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    response_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response_headers: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    response_body: Mapped[str | None] = mapped_column(Text, nullable=True)  # first 20 KB, decoded leniently
    duration_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)

    delivery = relationship("WebhookDelivery", lazy="joined", innerjoin=True)
