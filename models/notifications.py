"""Notifications: the in-app inbox rows, per-user preferences, and items waiting for a daily digest.

Notifications belong to a user (not to an org: an inbox spans every workspace, and user-level events
such as a password change have no org), so they are queried through Notification.for_user() and
get_for_user_or_404(), never by hand in a route.
"""
import uuid
from datetime import datetime

from flask import abort
from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint, Uuid, func, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db
from models.base import UTCDateTime, UUIDPrimaryKey, parse_uuid, utcnow

# The predicate of "unread" used by the badge, the inbox and the partial index: the three must agree
# word for word, or PostgreSQL and SQLite will not use the index for the count.
UNREAD_SQL = "read_at IS NULL AND archived_at IS NULL"


class Notification(UUIDPrimaryKey, db.Model):
    """One thing a user was told about in the app. Written in bulk by services.notifications.fan_out()
    in the transaction of the event it came from."""

    __tablename__ = "notifications"
    __table_args__ = (
        # The bell's badge is `SELECT count(*) ... WHERE user_id = ? AND <UNREAD_SQL>`: an index-only
        # scan of this partial index, whose size is the unread rows alone (not the user's whole history).
        # read_at and archived_at are always NULL in it; they are listed so that SQLite's planner (which
        # has no statistics until ANALYZE) counts three matching terms here against one on
        # ix_notifications_user_created, and picks this index instead of a coin toss between the two.
        Index(
            "ix_notifications_user_unread", "user_id", "read_at", "archived_at",
            postgresql_where=db.text(UNREAD_SQL), sqlite_where=db.text(UNREAD_SQL),
        ),
        # The tabs and the bell's latest ten: newest first for one user (unread ones are the newest, so
        # the Unread tab finds its page early in this index).
        Index("ix_notifications_user_created", "user_id", "created_at"),
        # Retention prunes by age across all users (services/retention.py).
        Index("ix_notifications_created", "created_at"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    # NULL for events about a user rather than a workspace (user.password_changed).
    org_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=True, index=True
    )
    type: Mapped[str] = mapped_column(String(80), nullable=False)  # a catalog event type name
    title: Mapped[str] = mapped_column(String(255), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # A local path to what the notification is about (never an absolute URL: see safe_next_url).
    link: Mapped[str | None] = mapped_column(String(500), nullable=True)
    # The audit event it came from; kept when the audit row is pruned.
    event_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("audit_events.id", ondelete="SET NULL"), nullable=True, index=True
    )
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    org = relationship("Organization", lazy="joined")

    @property
    def is_read(self):
        return self.read_at is not None

    @property
    def is_archived(self):
        return self.archived_at is not None

    @classmethod
    def for_user(cls, user_id):
        """A SELECT of this user's notifications."""
        return select(cls).where(cls.user_id == user_id)

    @classmethod
    def unread_filter(cls):
        return (cls.read_at.is_(None), cls.archived_at.is_(None))

    @classmethod
    def get_for_user_or_404(cls, user_id, notification_id):
        """The user's notification with this id; 404 for someone else's, or a malformed id."""
        notification_id = parse_uuid(notification_id)
        found = None
        if notification_id is not None:
            found = db.session.scalar(cls.for_user(user_id).where(cls.id == notification_id))
        if found is None:
            abort(404)
        return found


class NotificationPreference(UUIDPrimaryKey, db.Model):
    """A user's choice for one event type. No row means the defaults (in the app on, email off).

    Critical (security) types ignore these rows: they are always delivered in the app and by email.
    """

    __tablename__ = "notification_preferences"
    __table_args__ = (UniqueConstraint("user_id", "event_type"),)

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    event_type: Mapped[str] = mapped_column(String(80), nullable=False)
    in_app: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    email: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    email_mode: Mapped[str] = mapped_column(String(20), nullable=False, default="immediate")  # immediate, digest
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)


class NotificationDigestItem(UUIDPrimaryKey, db.Model):
    """An event a user chose to receive by email in a daily digest, waiting for that digest.

    Kept apart from Notification because a user may want a type in the digest but not in the app.
    digested_at is set in the same transaction that queues the digest email, so an item is in exactly
    one digest even if the digest job runs twice.
    """

    __tablename__ = "notification_digest_items"
    __table_args__ = (
        # The sweeper's question: whose items are waiting? Only waiting rows are in this index.
        Index(
            "ix_notification_digest_items_waiting", "user_id", "created_at",
            postgresql_where=db.text("digested_at IS NULL"), sqlite_where=db.text("digested_at IS NULL"),
        ),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    org_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=True)
    type: Mapped[str] = mapped_column(String(80), nullable=False)
    title: Mapped[str] = mapped_column(String(255), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False, default="")
    link: Mapped[str | None] = mapped_column(String(500), nullable=True)
    event_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("audit_events.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    digested_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    org = relationship("Organization", lazy="joined")


def unread_count(user_id):
    """The bell's number: one COUNT over the partial index ix_notifications_user_unread."""
    return db.session.scalar(
        select(func.count()).select_from(Notification)
        .where(Notification.user_id == user_id, *Notification.unread_filter())
    )
