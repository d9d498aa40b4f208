"""The events feed's order: the order in which events became visible, not the order they were made.

A consumer that pulls GET /api/v1/events with a cursor must never skip an event. Ordering by
created_at would: a transaction that made its event first but committed last shows the event behind a
cursor that has already moved past it. So each org event records where it stands in commit order
(AuditEvent.feed_order) and the feed pages by (feed_order, created_at, id):

- PostgreSQL: feed_order is the writing transaction's id (pg_current_xact_id), and the feed shows only
  events of transactions older than the oldest one still running (pg_snapshot_xmin of the current
  snapshot). Every such transaction has ended, and any event that becomes visible later belongs to a
  transaction with a larger id, so it sorts after every cursor given out so far.
  The snapshot covers the whole PostgreSQL server, so a long transaction in any database of it (a
  report, a backup, another install) holds the feed back until it ends: the feed is late, never lossy.
- SQLite: one transaction writes at a time, holding the lock until it commits, so a per-org counter
  (the org's largest feed_order plus one) taken at insert is already in commit order.
"""
import base64
import binascii
import json
from datetime import datetime

from sqlalchemy import func, literal, literal_column, select, tuple_

from extensions import db
from models import AuditEvent
from models.base import parse_uuid


def _is_postgresql():
    return db.session.get_bind().dialect.name == "postgresql"


def feed_order_for(org_id):
    """The SQL value an org event's feed_order is inserted with (None for user-level events)."""
    if org_id is None:
        return None
    if _is_postgresql():
        return literal_column("pg_current_xact_id()::text::bigint")
    return (select(func.coalesce(func.max(AuditEvent.feed_order), 0) + 1)
            .where(AuditEvent.org_id == org_id).scalar_subquery())


def settled(query):
    """Only events whose transactions, and every transaction before them, have ended."""
    if not _is_postgresql():
        return query
    return query.where(AuditEvent.feed_order < literal_column("pg_snapshot_xmin(pg_current_snapshot())::text::bigint"))


def page(query, position, limit):
    """Up to limit events after position, in commit order."""
    order = (AuditEvent.feed_order, AuditEvent.created_at, AuditEvent.id)
    query = settled(query)
    if position is not None:
        # A row comparison (on both databases), the cursor's values bound with the columns' own types.
        query = query.where(tuple_(*order) > tuple_(*(literal(value, column.type) for column, value in zip(order, position))))
    return db.session.scalars(query.order_by(*order).limit(limit)).all()


def encode_cursor(event):
    raw = json.dumps(["feed", event.feed_order, event.created_at.isoformat(), str(event.id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor):
    """(feed_order, created_at, id) from a feed cursor, or None for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        kind, order, created_at, event_id = json.loads(raw)
        created_at = datetime.fromisoformat(created_at)
        event_id = parse_uuid(event_id)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        return None
    if kind != "feed" or not isinstance(order, int) or event_id is None or created_at.tzinfo is None:
        return None
    return order, created_at, event_id
