"""emit(): the one entry point for "something happened" (DESIGN.md section 5).

Called by services inside the transaction of the change it describes. From the catalog entry it
writes the audit event (always) and hands the event to the other outputs (webhook deliveries,
notifications and their emails), which write rows in the same transaction and enqueue their work to
run after the commit. So an event is either fully recorded or not at all.
"""
from contextlib import contextmanager
from dataclasses import dataclass

from extensions import db
from models import AuditEvent
from services import catalog, feed, notifications
from services import webhooks


@dataclass(frozen=True)
class Actor:
    """Who did it: a user, an API key, a SCIM token, an IdP login or Orgkit itself."""

    type: str
    id: str | None
    label: str
    ip: str | None = None
    user_agent: str | None = None
    user_id: object = None  # the acting user's id, when a person is behind it (for notifications)

    @classmethod
    def for_user(cls, user, ip=None, user_agent=None):
        return cls("user", str(user.id), user.email, ip, (user_agent or "")[:255] or None, user.id)

    @classmethod
    def for_idp(cls, connection, ip=None, user_agent=None):
        """The org's identity provider, acting through a SAML response (JIT provisioning, role mapping)."""
        return cls("idp", str(connection.id), f"SAML IdP {connection.idp_entity_id or ''}".strip()[:200], ip,
                   (user_agent or "")[:255] or None)

    @classmethod
    def for_api_key(cls, key, ip=None, user_agent=None):
        """An API key acts for nobody in particular: no user_id, so no "you did this" exceptions."""
        return cls("api_key", str(key.id), f"API key {key.name} ({key.prefix}…{key.last_four})"[:254], ip,
                   (user_agent or "")[:255] or None)


SYSTEM = Actor("system", None, "Orgkit")


def target(kind, obj_id, label):
    return {"type": kind, "id": str(obj_id) if obj_id is not None else None, "label": label}


def user_target(user):
    return target("user", user.id, user.email)


_TOGETHER_KEY = "orgkit_events_together"


@contextmanager
def together():
    """Emit the events of one change together: each audit event is written at emit() as always, and
    their webhook and notification fan-out once when the block ends, reading the org's endpoints and
    the recipients of every type in one statement each and writing each kind of row in one (a SCIM
    create's two events: 6 statements, not 12). Nothing reads outbox rows inside such a block; an
    exception drops the pending fan-out with the transaction it belonged to. Nested blocks join the
    outer one."""
    info = db.session.info
    if _TOGETHER_KEY in info:
        yield
        return
    pending = info[_TOGETHER_KEY] = []
    try:
        yield
    finally:
        del info[_TOGETHER_KEY]
    _fan_out(pending)


def emit(org, type, actor, targets=(), data=None):
    """Record that something happened in org (None for user-level events). Returns the AuditEvent."""
    event_type = catalog.get(type)
    event = AuditEvent(
        org_id=org.id if org is not None else None,
        action=event_type.name,
        actor_type=actor.type,
        actor_id=actor.id,
        actor_label=actor.label,
        targets=list(targets),
        data=data or {},
        ip=actor.ip,
        user_agent=actor.user_agent,
        feed_order=feed.feed_order_for(org.id if org is not None else None),
    )
    db.session.add(event)
    db.session.flush()
    # Further outputs (webhook messages, notifications, emails) are written here, in this transaction:
    # at once, or at the end of the together() block this emit is part of.
    emitted = (org, event_type, actor, event)
    pending = db.session.info.get(_TOGETHER_KEY)
    if pending is not None:
        pending.append(emitted)
    else:
        _fan_out([emitted])
    return event


def _fan_out(emitted):
    if not emitted:
        return
    db.session.flush()
    webhooks.fan_out(emitted)
    notifications.fan_out(emitted)
