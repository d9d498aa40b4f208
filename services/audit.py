"""Reading an org's audit log: the filters of the audit page, keyset pagination and the CSV export.

Every query starts from events_for_org(), so no caller can read another org's events.
"""
import base64
import binascii
import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import and_, or_, select

from extensions import db
from models import AuditEvent, parse_uuid
from services import ServiceError, catalog


def events_for_org(org_id):
    return select(AuditEvent).where(AuditEvent.org_id == org_id)


def recent_events(org_id, limit=8):
    return db.session.scalars(
        events_for_org(org_id).order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc()).limit(limit)
    ).all()


@dataclass(frozen=True)
class AuditFilters:
    action: str | None = None
    actor: str | None = None     # matches the actor's label (email, key name...), case-insensitive
    since: date | None = None    # inclusive, UTC days
    until: date | None = None    # inclusive, UTC days

    @classmethod
    def from_args(cls, args):
        """Parse query-string filters; ServiceError (with field) for a value that makes no sense."""
        action = (args.get("action") or "").strip() or None
        if action is not None and action not in catalog.CATALOG:
            raise ServiceError("Choose an action from the list.", field="action")
        actor = (args.get("actor") or "").strip()[:254] or None
        since = _parse_day(args.get("since"), "since")
        until = _parse_day(args.get("until"), "until")
        if since and until and since > until:
            raise ServiceError("The start date is after the end date.", field="until")
        return cls(action, actor, since, until)

    def as_args(self):
        args = {"action": self.action, "actor": self.actor,
                "since": self.since.isoformat() if self.since else None,
                "until": self.until.isoformat() if self.until else None}
        return {key: value for key, value in args.items() if value}

    def apply(self, query):
        if self.action:
            query = query.where(AuditEvent.action == self.action)
        if self.actor:
            escaped = self.actor.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(db.func.lower(AuditEvent.actor_label).like(f"%{escaped}%", escape="\\"))
        if self.since:
            query = query.where(AuditEvent.created_at >= datetime.combine(self.since, time.min, timezone.utc))
        if self.until:
            end = datetime.combine(self.until + timedelta(days=1), time.min, timezone.utc)
            query = query.where(AuditEvent.created_at < end)
        return query


def _parse_day(value, field):
    value = (value or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ServiceError("Use a date like 2024-05-31.", field=field) from None


def filtered_events(org_id, filters):
    """The org's events matching filters, newest first, in a stable order (created_at, then id)."""
    return filters.apply(events_for_org(org_id)).order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())


@dataclass(frozen=True)
class EventPage:
    events: list
    next_cursor: str | None
    is_first: bool


def page_of_events(org_id, filters, cursor=None, per_page=50, session=None):
    """One page, keyset-paginated: stable while new events arrive (no row shifts between pages)."""
    session = session or db.session
    query = filtered_events(org_id, filters)
    position = decode_cursor(cursor)
    if position is not None:
        created_at, event_id = position
        query = query.where(or_(
            AuditEvent.created_at < created_at,
            and_(AuditEvent.created_at == created_at, AuditEvent.id < event_id),
        ))
    rows = session.scalars(query.limit(per_page + 1)).all()
    has_more = len(rows) > per_page
    rows = rows[:per_page]
    next_cursor = encode_cursor(rows[-1]) if has_more else None
    return EventPage(rows, next_cursor, position is None)


def encode_cursor(event):
    raw = json.dumps([event.created_at.isoformat(), str(event.id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor):
    """(created_at, id) from a cursor, or None for a missing or tampered one (first page)."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, event_id = json.loads(raw)
        created_at = datetime.fromisoformat(created_at)
        event_id = parse_uuid(event_id)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        return None
    if event_id is None or created_at.tzinfo is None:
        return None
    return created_at, event_id


CSV_COLUMNS = ["time", "action", "actor_type", "actor", "actor_id", "targets", "ip", "user_agent", "data", "id"]


def csv_row(event):
    targets = "; ".join(f"{t.get('type')}:{t.get('label')}" for t in event.targets or [])
    return [_spreadsheet_safe(value) for value in (
        event.created_at.isoformat(), event.action, event.actor_type, event.actor_label, event.actor_id or "",
        targets, event.ip or "", event.user_agent or "", json.dumps(event.data or {}, sort_keys=True), str(event.id),
    )]


def _spreadsheet_safe(value):
    # Labels and user agents come from users: a cell starting with = + - @ would run as a formula when
    # the export is opened in a spreadsheet (OWASP "CSV injection"), so such cells get a leading quote.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def iter_filtered_events(session, org_id, filters, batch=500):
    """Every matching event, read through session in keyset batches: an export of any size uses
    bounded memory."""
    cursor = None
    while True:
        page = page_of_events(org_id, filters, cursor, per_page=batch, session=session)
        yield from page.events
        session.expunge_all()
        if page.next_cursor is None:
            return
        cursor = page.next_cursor
