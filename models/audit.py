import uuid
from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.base import UTCDateTime, UUIDPrimaryKey, utcnow


class AuditEvent(UUIDPrimaryKey, db.Model):
    """One thing that happened, written by services.events.emit() in the transaction of the change.

    org_id is NULL for events that belong to a user rather than an org (user.password_changed).
    Actor columns are copied, not joined, so the log still reads right after the actor is deleted.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_org_created", "org_id", "created_at"),
        Index("ix_audit_events_org_action_created", "org_id", "action", "created_at"),
        Index("ix_audit_events_created", "created_at"),  # retention prunes by age across orgs
        Index("ix_audit_events_org_feed", "org_id", "feed_order", "created_at", "id"),  # the API's events feed
    )

    org_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=True)
    action: Mapped[str] = mapped_column(String(80), nullable=False)
    actor_type: Mapped[str] = mapped_column(String(20), nullable=False)  # user, api_key, scim, idp, system
    actor_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    actor_label: Mapped[str] = mapped_column(String(254), nullable=False)
    # [{"type": "user", "id": "...", "label": "ada@example.com"}, ...]
    targets: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    data: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    ip: Mapped[str | None] = mapped_column(String(45), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    # Where the event stands in commit order, for the events feed (services/feed.py): on PostgreSQL the
    # id of the transaction that wrote it, on SQLite (one writer at a time) a counter per org. NULL for
    # user-level events, which no feed shows.
    feed_order: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
