"""Column types and mixins shared by every model: UUID keys, UTC timestamps, org scoping."""
import uuid
from datetime import datetime, timezone

from flask import abort
from sqlalchemy import DateTime, ForeignKey, Uuid, select
from sqlalchemy.orm import Mapped, declared_attr, mapped_column
from sqlalchemy.types import TypeDecorator

from extensions import db


def utcnow():
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC timestamp on PostgreSQL and SQLite alike.

    SQLite stores no offset, so values are normalised to UTC on the way in and marked UTC on the way
    out; every datetime the app sees is aware.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is timezone.utc:  # PostgreSQL in UTC (config.py): nothing to convert
            return value
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class UUIDPrimaryKey:
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)


class CreatedAt:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class OrgScoped:
    """A tenant-owned row. Every query on it goes through for_org() or get_for_org_or_404()."""

    @declared_attr
    def org_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False, index=True)

    @classmethod
    def for_org(cls, org_id):
        """A SELECT of this model limited to one org."""
        return select(cls).where(cls.org_id == org_id)

    @classmethod
    def get_for_org(cls, org_id, object_id):
        """The row with this id in this org, or None (also for malformed ids)."""
        object_id = parse_uuid(object_id)
        if object_id is None:
            return None
        return db.session.scalar(cls.for_org(org_id).where(cls.id == object_id))

    @classmethod
    def get_for_org_or_404(cls, org_id, object_id):
        obj = cls.get_for_org(org_id, object_id)
        if obj is None:
            abort(404)
        return obj


def parse_uuid(value):
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return None
