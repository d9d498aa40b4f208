"""Notifications: who is told about an event, in the app and by email, as each person chose.

fan_out() is called by services.events.emit() in the transaction of the change (once for all the
events of an events.together() block): it resolves the catalog's recipient groups to users, drops the
actor (unless the event is critical), applies each recipient's preferences, and writes in-app rows and
digest items with one bulk INSERT each, and one outbox email per recipient who wants it immediately.
Nothing is sent before the commit, and nothing at all if the change rolls back (the outbox rows roll
back with it).

Defaults: in the app on, email off. An admin of a workspace that SCIM provisions thousands of people
would otherwise get thousands of emails a day; each person turns email on per type (immediately or in
a daily digest). Critical (security) types ignore preferences: always in the app and by email at once.
"""
import uuid
from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime, time, timedelta, timezone

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import and_, bindparam, insert, literal, select, union_all, update

from extensions import db
from models import Invitation, Membership, Notification, NotificationDigestItem, NotificationPreference, Role, User, parse_uuid, utcnow
from services import ServiceError, catalog
from services.mail import queue_email

EMAIL_MODES = {"immediate": "Immediately", "digest": "Daily digest"}
DIGEST_TOKEN_TYPE = "*digest"  # the unsubscribe token of the digest email: stop every digest type
ROLE_GROUPS = {"admins": (Role.owner, Role.admin), "owners": (Role.owner,)}
PER_PAGE = 25

# What the notification says, per type; {placeholders} come from the event (see _describe).
TITLES = {
    "org.updated": "{actor} changed the settings of {org}",
    "org.deleted": "{actor} deleted the workspace {org}",
    "member.added": "{user} joined {org} as {role}",
    "member.role_changed": "{user} is now {role} in {org}",
    "member.removed": "{user} was removed from {org}",
    "invitation.created": "{actor} invited {invitee} to {org}",
    "invitation.accepted": "{invitee} accepted your invitation to {org}",
    "invitation.revoked": "{actor} revoked the invitation for {invitee}",
    "invite_link.updated": "{actor} changed the invite link of {org}",
    "user.password_changed": "Your password was changed",
    "user.password_reset": "Your password was reset",
    "user.sessions_revoked": "All your sessions were signed out",
    "setup_link.created": "{actor} created a setup link for {org}",
    "setup_link.revoked": "{actor} revoked a setup link of {org}",
    "setup_link.completed": "The IT admin finished setting up {org} through a setup link",
}

# Where a notification leads, by event group (the part of the type before the first dot). Endpoints
# not registered in this deployment fall back to the workspace overview.
LINK_ENDPOINTS = {
    "org": "orgs.org_overview",
    "member": "members.members_list",
    "invitation": "invitations.invitations_list",
    "invite_link": "invitations.invitations_list",
    "webhook": "webhooks.webhook_endpoints_list",
    "sso": "sso.sso_settings",
    "domain": "sso.sso_settings",  # claimed email domains live on the SSO settings page
    "scim": "scim.scim_settings",
    "api_key": "api_keys.api_keys_list",
    "setup_link": "setup_links.setup_links_list",
    "user": "auth.account_settings",
}


@dataclass
class Recipient:
    user_id: uuid.UUID
    email: str
    in_app: bool
    wants_email: bool
    email_mode: str


# --- Preferences ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Choice:
    """The effective choice of one user for one event type."""

    in_app: bool = True
    email: bool = False
    email_mode: str = "immediate"
    locked: bool = False  # critical: shown checked and disabled


def effective_choice(event_type, in_app=None, email=None, email_mode=None):
    """The choice that applies, from a preference row's values (None = no row) and the catalog."""
    if event_type.critical:
        return Choice(True, True, "immediate", locked=True)
    return Choice(
        True if in_app is None else in_app,
        event_type.email_by_default if email is None else email,
        email_mode if email_mode in EMAIL_MODES else "immediate",
    )


def notifiable_types():
    """The catalog types anyone can be told about (the preference matrix), grouped in catalog order."""
    return [(group, [t for t in types if t.recipients]) for group, types in catalog.groups()
            if any(t.recipients for t in types)]


def choices_for(user_id):
    """{event type name: Choice} for every notifiable type."""
    rows = {p.event_type: p for p in db.session.scalars(
        select(NotificationPreference).where(NotificationPreference.user_id == user_id))}
    result = {}
    for _, types in notifiable_types():
        for event_type in types:
            row = rows.get(event_type.name)
            result[event_type.name] = effective_choice(
                event_type, *((row.in_app, row.email, row.email_mode) if row else ()))
    return result


def _preference_row(user_id, type_name):
    row = db.session.scalar(select(NotificationPreference).where(
        NotificationPreference.user_id == user_id, NotificationPreference.event_type == type_name))
    if row is None:
        row = NotificationPreference(user_id=user_id, event_type=type_name, in_app=True, email=False, email_mode="immediate")
        db.session.add(row)
    return row


def set_preferences(user, choices, actor):
    """Save {type: (in_app, email, email_mode)} for user. Critical types are not changeable and are
    skipped; an unknown type or mode is refused (ServiceError naming the field)."""
    changed = []
    current = choices_for(user.id)
    for type_name, (in_app, email, email_mode) in choices.items():
        event_type = catalog.CATALOG.get(type_name)
        if event_type is None or type_name not in current:
            raise ServiceError(f"{type_name} is not a notification type.", field=type_name)
        if email_mode not in EMAIL_MODES:
            raise ServiceError("Choose immediately or daily digest.", field=f"mode:{type_name}")
        if event_type.critical:
            continue
        wanted = Choice(bool(in_app), bool(email), email_mode)
        if wanted != current[type_name]:
            row = _preference_row(user.id, type_name)
            row.in_app, row.email, row.email_mode = wanted.in_app, wanted.email, wanted.email_mode
            changed.append(type_name)
    if changed:
        db.session.flush()
        _emit_preferences_updated(user, actor, changed)
    return changed


def _emit_preferences_updated(user, actor, changed):
    from services.events import emit, user_target  # events imports this module
    emit(None, "notification.preferences_updated", actor, [user_target(user)],
         {"user": {"id": str(user.id), "email": user.email}, "event_types": sorted(changed)})


# --- Unsubscribe links (RFC 8058 one-click) -----------------------------------------------------

def _serializer():
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="orgkit.notifications.unsubscribe")


def unsubscribe_token(user_id, type_name):
    """A signed token naming (user, type). It does not expire: an unsubscribe link must keep working."""
    return _serializer().dumps({"u": str(user_id), "t": type_name})


def read_unsubscribe_token(token):
    """(user, type name) for a valid token, else ServiceError with a reason to show."""
    try:
        payload = _serializer().loads(token or "")
    except BadSignature:
        raise ServiceError("This unsubscribe link is not valid. It may have been cut short by your email program.",
                           code="invalid_token") from None
    user = db.session.get(User, parse_uuid(payload.get("u"))) if isinstance(payload, dict) else None
    type_name = payload.get("t") if isinstance(payload, dict) else None
    if user is None:
        raise ServiceError("This unsubscribe link belongs to an account that no longer exists.", code="invalid_token")
    if type_name != DIGEST_TOKEN_TYPE:
        event_type = catalog.CATALOG.get(type_name)
        if event_type is None or not event_type.recipients:
            raise ServiceError("This unsubscribe link names a kind of email Orgkit no longer sends.", code="invalid_token")
        if event_type.critical:
            raise ServiceError("Security notices cannot be turned off.", code="critical")
    return user, type_name


def type_label(type_name):
    if type_name == DIGEST_TOKEN_TYPE:
        return "the daily digest"
    return catalog.get(type_name).description.rstrip(".")


def unsubscribe(user, type_name, actor):
    """Stop emails of one type (or every type in the daily digest) for user. Idempotent."""
    if type_name == DIGEST_TOKEN_TYPE:
        names = [name for name, choice in choices_for(user.id).items()
                 if choice.email and choice.email_mode == "digest" and not choice.locked]
    else:
        names = [type_name] if choices_for(user.id)[type_name].email else []
    for name in names:
        _preference_row(user.id, name).email = False
    if names:
        db.session.flush()
        _emit_preferences_updated(user, actor, names)
    return names


def _absolute(path):
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + path


def _path(endpoint, **values):
    """A URL path built without a request (fan_out also runs in jobs)."""
    return current_app.url_map.bind("localhost").build(endpoint, values)


def unsubscribe_url(user_id, type_name):
    return _absolute(_path("notifications.notifications_unsubscribe", token=unsubscribe_token(user_id, type_name)))


def unsubscribe_headers(url):
    # RFC 8058 section 3.1: List-Unsubscribe with an https URI plus List-Unsubscribe-Post: the mail
    # client POSTs "List-Unsubscribe=One-Click" to the URI, without cookies, to unsubscribe at once.
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


# --- Fan-out -------------------------------------------------------------------------------------

class _Fields(dict):
    def __missing__(self, key):
        return "someone"


def _describe(event_type, org, actor_label, targets, data):
    """(title, body) of a notification about this event, from the event alone (same for everyone)."""
    user = data.get("user") if isinstance(data.get("user"), dict) else {}
    invitation = data.get("invitation") if isinstance(data.get("invitation"), dict) else {}
    target_user = next((t for t in targets if t.get("type") == "user"), {})
    fields = _Fields(actor=actor_label, org=org.name if org is not None else "your account")
    if user.get("name") or user.get("email") or target_user.get("label"):
        fields["user"] = user.get("name") or user.get("email") or target_user.get("label")
    if data.get("role"):
        fields["role"] = str(data["role"])
    if invitation.get("email"):
        fields["invitee"] = invitation["email"]
    endpoint = data.get("endpoint") if isinstance(data.get("endpoint"), dict) else {}
    if event_type.name == "webhook.endpoint.disabled" and endpoint.get("url"):
        # Which endpoint and why, so an admin can act on the notice alone (410, or failing since when).
        how = "Orgkit disabled it automatically" if data.get("automatic") else f"Disabled by {actor_label}"
        title = f"Webhook endpoint {endpoint['url']} was disabled in {fields['org']}"
        body = (f"{data.get('reason') or 'No reason was given.'} {how}: nothing is sent to it until an admin "
                "enables it again. Messages since then can be recovered from its page.")
        return title[:255], body
    if event_type.name == "member.removed" and data.get("reason") == "left":
        title = "{user} left {org}".format_map(fields)
    elif event_type.name == "scim.token.revoked" and data.get("reason", "revoked") != "revoked":
        # A token that followed its creator out (services/credentials.py): the summary says why.
        title = f"SCIM token of {fields['org']} stopped working: generate a new one"
    elif event_type.name in TITLES:
        title = TITLES[event_type.name].format_map(fields)
    else:
        title = event_type.description.rstrip(".") + (f" in {org.name}" if org is not None else "")
    # A trust change (services/trust.py) says what exactly changed.
    summary = data.get("summary") if isinstance(data.get("summary"), str) else ""
    body = f"{event_type.description} {summary + ' ' if summary else ''}By {actor_label}."
    return title[:255], body


def event_sentence(audit_event, org):
    """An audit event as one readable line (the notification title), e.g. "Mia is now viewer in Acme",
    for activity feeds; types outside the catalog fall back to their code."""
    event_type = catalog.CATALOG.get(audit_event.action)
    if event_type is None:
        return audit_event.action
    title, _ = _describe(event_type, org, audit_event.actor_label, audit_event.targets or [], audit_event.data or {})
    return title


def _link(event_type, org, for_removed_member=False):
    endpoint = LINK_ENDPOINTS.get(event_type.group)
    views = current_app.view_functions
    if event_type.name == "org.deleted" or for_removed_member:
        return _path("workspaces.workspaces_list")
    if org is None:
        return _path(endpoint) if endpoint in views else _path("notifications.notifications_inbox")
    if endpoint not in views or endpoint == "auth.account_settings":
        endpoint = "orgs.org_overview"
    return _path(endpoint, org_slug=org.slug)


def _inviter_id(org, targets, data):
    invitation = data.get("invitation") if isinstance(data.get("invitation"), dict) else {}
    invited_by = invitation.get("invited_by") if isinstance(invitation.get("invited_by"), dict) else {}
    if parse_uuid(invited_by.get("id")):  # services.invitations.invitation_payload names the inviter
        return parse_uuid(invited_by["id"])
    invitation_id = invitation.get("id") or next((t.get("id") for t in targets if t.get("type") == "invitation"), None)
    found = Invitation.get_for_org(org.id, invitation_id) if org is not None and invitation_id else None
    return found.invited_by_id if found is not None else None


@lru_cache(maxsize=1024)
def _recipient_query(number, event_type_name, roles):
    """The SELECT of one event's recipients, with their preferences for its type, tagged with number (its
    place in the fan-out), built once per shape: roles (a sorted tuple) selects the org's members with
    those roles (parameter org_<number>), no roles the listed people (users_<number>). Building and
    keying a fresh union of these was a tenth of a SCIM create's Python (bench/scim.py)."""
    pref = NotificationPreference
    query = (
        select(literal(number).label("event"), User.id, User.email, pref.in_app, pref.email, pref.email_mode)
        .outerjoin(pref, and_(pref.user_id == User.id, pref.event_type == event_type_name))
        .where(User.is_deactivated.is_(False))
    )
    if roles:
        return (query.join(Membership, Membership.user_id == User.id)
                .where(Membership.org_id == bindparam(f"org_{number}"), Membership.role.in_(roles),
                       Membership.deactivated_at.is_(None)))
    return query.where(User.id.in_(bindparam(f"users_{number}", expanding=True)))


def _union(shapes):
    """union_all of the recipient queries of shapes ((number, event type name, roles), ...): built once
    for the few events of one change, afresh for a bulk fan-out (its statement is not worth keeping)."""
    if len(shapes) > 8:
        return _build_union(shapes)
    return _kept_union(shapes)


def _build_union(shapes):
    queries = [_recipient_query(*shape) for shape in shapes]
    return union_all(*queries) if len(queries) > 1 else queries[0]


_kept_union = lru_cache(maxsize=256)(_build_union)


def _recipient_queries(number, event_type, org, actor, targets, data):
    """The shapes (_recipient_query) and parameters of the SELECTs of the people the catalog's recipient
    groups name for this event."""
    user_ids, roles = set(), set()
    for group in event_type.recipients:
        if group == "target_user":
            user_ids.update(parse_uuid(t.get("id")) for t in targets if t.get("type") == "user")
        elif group == "actor":
            user_ids.add(parse_uuid(actor.user_id))
        elif group == "inviter":
            user_ids.add(_inviter_id(org, targets, data))
        elif group in ROLE_GROUPS:
            roles.update(ROLE_GROUPS[group])
        else:
            raise KeyError(f"unknown recipient group {group!r} in catalog entry {event_type.name}")
    user_ids.discard(None)
    shapes, parameters = [], {}
    if roles and org is not None:
        shapes.append((number, event_type.name, tuple(sorted(roles))))
        parameters[f"org_{number}"] = org.id
    if user_ids:
        shapes.append((number, event_type.name, ()))
        parameters[f"users_{number}"] = sorted(user_ids)
    return shapes, parameters


def _recipients(event_type, actor, rows):
    """{user_id: Recipient} from an event's recipient rows, preferences applied (a person in two groups
    comes twice, with the same row)."""
    recipients = {}
    for _, user_id, email, in_app, wants_email, email_mode in rows:
        choice = effective_choice(event_type, in_app, wants_email, email_mode)
        recipients[user_id] = Recipient(user_id, email, choice.in_app, choice.email, choice.email_mode)
    # Nobody is told about what they did themselves, except for security events (was it really you?).
    if not event_type.critical and actor.user_id is not None:
        recipients.pop(parse_uuid(actor.user_id), None)
    return recipients


_INSERT_NOTIFICATIONS = insert(Notification.__table__)
_INSERT_DIGEST_ITEMS = insert(NotificationDigestItem.__table__)


def fan_out(emitted):
    """Write the notifications, digest items and immediate emails of events, given as [(org, event
    type, actor, audit event)] by services.events. The recipients of every event are read in one round
    trip, and each kind of row written with one INSERT. Returns how many people were told, summed over
    the events."""
    told = []
    shapes, parameters = [], {}
    for org, event_type, actor, event in emitted:
        if event_type.recipients:
            targets, data = list(event.targets or ()), event.data or {}
            found, found_parameters = _recipient_queries(len(told), event_type, org, actor, targets, data)
            if found:
                shapes += found
                parameters.update(found_parameters)
                told.append((event, org, event_type, actor, targets, data, []))
    if not shapes:
        return 0
    for row in db.session.execute(_union(tuple(shapes)), parameters):
        told[row[0]][-1].append(row)
    in_app_rows, digest_rows, count = [], [], 0
    for event, org, event_type, actor, targets, data, rows in told:
        recipients = _recipients(event_type, actor, rows)
        count += len(recipients)
        if recipients:
            _notify(in_app_rows, digest_rows, recipients, event, org, event_type, actor, targets, data)
    # Core executemany INSERTs on the session's connection: one statement for 5,000 rows, without the
    # ORM's per-row unit-of-work bookkeeping (these rows are not needed as objects in this transaction).
    if in_app_rows:
        db.session.execute(_INSERT_NOTIFICATIONS, in_app_rows)
    if digest_rows:
        db.session.execute(_INSERT_DIGEST_ITEMS, digest_rows)
    return count


def _notify(in_app_rows, digest_rows, recipients, event, org, event_type, actor, targets, data):
    """Add one event's notification and digest rows to the lists, and queue its immediate emails."""
    title, body = _describe(event_type, org, actor.label, targets, data)
    link = _link(event_type, org)
    removed_ids = set()
    if event_type.name == "member.removed":  # the removed person can no longer open the members page
        removed_ids = {parse_uuid(t.get("id")) for t in targets if t.get("type") == "user"}
        removed_link = _link(event_type, org, for_removed_member=True)
    # A deleted org's rows would go with it (ON DELETE CASCADE): keep the notice, unattached.
    org_id = org.id if org is not None and event_type.name != "org.deleted" else None
    now = event.created_at or utcnow()

    def row(recipient):
        return {"id": uuid.uuid4(), "user_id": recipient.user_id, "org_id": org_id, "type": event_type.name,
                "title": title, "body": body, "event_id": event.id, "created_at": now,
                "link": removed_link if recipient.user_id in removed_ids else link}

    # Nobody's inbox shows what they just did themselves: a security event still emails its actor
    # (was it really you?), but an in-app notice of one's own action is noise (issue 16).
    actor_id = parse_uuid(actor.user_id) if actor.user_id is not None else None
    in_app_rows += [row(r) for r in recipients.values() if r.in_app and r.user_id != actor_id]
    digest_rows += [{**row(r), "digested_at": None} for r in recipients.values()
                    if r.wants_email and r.email_mode == "digest"]
    for recipient in recipients.values():
        if recipient.wants_email and recipient.email_mode == "immediate":
            _queue_notification_email(recipient, event, event_type, org, actor, title, body,
                                      removed_link if recipient.user_id in removed_ids else link)


def _queue_notification_email(recipient, event, event_type, org, actor, title, body, link):
    headers, unsubscribe = {}, None
    if not event_type.critical:
        # Security notices carry no unsubscribe: they cannot be turned off (like a password reset email).
        unsubscribe = unsubscribe_url(recipient.user_id, event_type.name)
        headers = unsubscribe_headers(unsubscribe)
    prefix = f"[{org.name}] " if org is not None else "[Orgkit] "
    queue_email(
        recipient.email, (prefix + title)[:255], "notification", headers=headers,
        title=title, body=body, org_name=org.name if org is not None else None, event_type=event_type,
        actor_label=actor.label, ip=actor.ip, user_agent=actor.user_agent, occurred_at=event.created_at,
        link_url=_absolute(link) if link else None, unsubscribe_url=unsubscribe,
        settings_url=_absolute(_path("notifications.notification_settings")),
    )


# --- The inbox -----------------------------------------------------------------------------------

TABS = ("unread", "all", "archived")


@dataclass
class Page:
    items: list
    number: int
    has_prev: bool
    has_next: bool
    prev_url: str = ""
    next_url: str = ""

    @property
    def label(self):
        return f"Page {self.number}"


def inbox_query(user_id, tab="unread", org_id=None):
    query = Notification.for_user(user_id)
    if tab == "unread":
        query = query.where(*Notification.unread_filter())
    elif tab == "archived":
        query = query.where(Notification.archived_at.is_not(None))
    else:
        query = query.where(Notification.archived_at.is_(None))
    if org_id is not None:
        query = query.where(Notification.org_id == org_id)
    return query


def inbox_page(user_id, tab="unread", org_id=None, number=1, per_page=PER_PAGE):
    """One page of the inbox, newest first. No total count: a user may have 100,000 rows."""
    number = max(1, number)
    items = db.session.scalars(
        inbox_query(user_id, tab, org_id).order_by(Notification.created_at.desc(), Notification.id.desc())
        .offset((number - 1) * per_page).limit(per_page + 1)
    ).all()
    return Page(items[:per_page], number, number > 1, len(items) > per_page)


def latest(user_id, limit=10):
    """The bell's dropdown: the newest notifications that are not archived."""
    return db.session.scalars(
        inbox_query(user_id, "all").order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)
    ).all()


def mark_read(notification, now=None):
    if notification.read_at is None:
        notification.read_at = now or utcnow()
    db.session.flush()


def mark_unread(notification):
    notification.read_at = None
    db.session.flush()


def archive(notification, now=None):
    now = now or utcnow()
    notification.archived_at = notification.archived_at or now
    notification.read_at = notification.read_at or now
    db.session.flush()


def unarchive(notification):
    notification.archived_at = None
    db.session.flush()


def mark_all_read(user_id, org_id=None, now=None):
    """Mark every unread notification of the user (in one workspace, if given) read. Returns how many."""
    conditions = [Notification.user_id == user_id, *Notification.unread_filter()]
    if org_id is not None:
        conditions.append(Notification.org_id == org_id)
    result = db.session.execute(
        update(Notification).where(*conditions).values(read_at=now or utcnow()).execution_options(synchronize_session=False))
    return result.rowcount


def archive_all_read(user_id, org_id=None, now=None):
    """Archive every read notification that is not archived yet. Returns how many."""
    conditions = [Notification.user_id == user_id, Notification.read_at.is_not(None), Notification.archived_at.is_(None)]
    if org_id is not None:
        conditions.append(Notification.org_id == org_id)
    result = db.session.execute(
        update(Notification).where(*conditions).values(archived_at=now or utcnow()).execution_options(synchronize_session=False))
    return result.rowcount


# --- Daily digest --------------------------------------------------------------------------------

def digest_cutoff(now=None):
    """The latest digest time (NOTIFICATION_DIGEST_HOUR o'clock UTC) at or before now."""
    now = now or utcnow()
    hour = int(current_app.config.get("NOTIFICATION_DIGEST_HOUR", 8))
    cutoff = datetime.combine(now.date(), time(hour), tzinfo=timezone.utc)
    return cutoff if cutoff <= now else cutoff - timedelta(days=1)


def users_with_digest_due(cutoff, limit=1000):
    """Users with items waiting from before cutoff (the partial index of waiting items answers it)."""
    return db.session.scalars(
        select(NotificationDigestItem.user_id)
        .where(NotificationDigestItem.digested_at.is_(None), NotificationDigestItem.created_at < cutoff)
        .distinct().limit(limit)
    ).all()


def send_digest(user_id, cutoff, now=None):
    """Gather the user's waiting items from before cutoff into one email, and mark them digested in the
    same transaction (so a second run finds nothing). Returns the email, or None when nothing waited."""
    user = db.session.get(User, parse_uuid(user_id))
    items = db.session.scalars(
        select(NotificationDigestItem)
        .where(NotificationDigestItem.user_id == parse_uuid(user_id), NotificationDigestItem.digested_at.is_(None),
               NotificationDigestItem.created_at < cutoff)
        .order_by(NotificationDigestItem.created_at)
        .with_for_update(of=NotificationDigestItem)
    ).all()
    if not items:
        return None
    now = now or utcnow()
    for item in items:
        item.digested_at = now
    db.session.flush()
    if user is None or user.is_deactivated:
        return None
    groups = {}
    for item in items:
        groups.setdefault(item.org.name if item.org is not None else "Your account", []).append(item)
    unsubscribe = unsubscribe_url(user.id, DIGEST_TOKEN_TYPE)
    count = len(items)
    return queue_email(
        user.email, f"Your Orgkit daily digest: {count} update{'s' if count != 1 else ''}", "notification_digest",
        headers=unsubscribe_headers(unsubscribe), user=user, groups=sorted(groups.items()), count=count,
        since=cutoff - timedelta(days=1), until=cutoff, absolute=_absolute,
        type_unsubscribe_url=lambda type_name: unsubscribe_url(user.id, type_name),
        unsubscribe_url=unsubscribe, settings_url=_absolute(_path("notifications.notification_settings")),
    )
