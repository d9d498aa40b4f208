"""Sessions: the server-side record behind every login, and the per-org grants it holds.

A browser's Flask session carries the id of one UserSession inside Flask-Login's user id
("<user id>:<session id>"), so the remember-me cookie carries it too. A request whose record is ended,
expired or unknown is signed out: logout and "log out everywhere" end the record, and every copy of the
cookie (or of the remember-me cookie) stops working with it (DESIGN.md section 7).

What a session is good for is recorded per org (issue 13, "Per-org authentication"):
- a password grant: a password login (or sign-up, an accepted invitation, a password reset) or an
  owner's break-glass login; it opens every org that does not require SSO of the person;
- one SSO grant per org whose IdP signed the person in; it opens that org only.
An org that requires SSO (services/sso/enforcement.py) needs its own SSO grant (break-glass: its owners'
password grant). Losing or being suspended from A's membership, or unlinking A's identity, ends A's
grants only.

The verbs every login path calls, after all its checks passed (and after any second factor):
    start_password_session(user, remember=False)   # password-style logins
    grant_sso(user, org)                           # an org's IdP signed user in (ACS)
    end_session()                                  # logout
    end_all_sessions(user, reason)                 # logout everywhere, password change or reset
Each rotates the CSRF token (a token seen before the login is worthless after it). Like every service
these flush and leave the commit to the route; unlike most they also write the browser's Flask session,
which is what they are for.
"""
import json
import uuid
from dataclasses import dataclass
from functools import lru_cache

from flask import current_app, g, request, session
from flask_login import current_user, login_user, logout_user
from sqlalchemy import and_, bindparam, delete, exists, func, select, update
from sqlalchemy.orm import contains_eager

import db_scope
from extensions import db
from models import Role, SessionSsoGrant, User, UserSession, parse_uuid, utcnow
from services.json_text import unstorable_text

PASSWORD = "password"
BREAK_GLASS = "break_glass"
PASSWORD_METHODS = (PASSWORD, BREAK_GLASS)
# Flask-Login keeps its user id here (and copies it into the remember-me cookie).
LOGIN_ID_KEY = "_user_id"
# What a browser keeps across a login: the flash messages of the page that follows.
KEPT_ACROSS_LOGIN = ("_flashes",)


def _lifetime():
    # A session ends at the latest when a remember-me cookie would (REMEMBER_COOKIE_DAYS).
    return current_app.config["REMEMBER_COOKIE_DURATION"]


def login_id(user, user_session):
    return f"{user.id}:{user_session.id}"


def load_user(login_id_value, org_slug=None, unread_count=False, workspaces=False):
    """Flask-Login's user loader: the user of a live session record, or None (signed out).

    A cookie that names an ended, expired or unknown record also loses its remember-me cookie, so a
    copied pair of cookies dies together.

    One statement per request, whatever the page needs of the session (bench/load.py): on an org page
    (org_slug) it also fetches the caller's membership in that org, whether this session holds the
    org's SSO grant and whether the org has Require SSO on at all (org_page_lookup(), read by
    tenancy), and on PostgreSQL binds that org and user for row-level security in the same statement
    (tenancy then calls bind_org(..., set_by_lookup=True)); with unread_count the bell's number, and
    with workspaces the switcher's orgs (tenancy.user_workspaces()), for the top bar of a full page.
    Nothing here writes: a read is a SELECT and no more."""
    raw_user, _, raw_session = (login_id_value or "").partition(":")
    user_id, session_id = parse_uuid(raw_user), parse_uuid(raw_session)
    row = None
    if org_slug is not None and unstorable_text(org_slug):
        # A slug no column can hold names no org (the URL is refused as a 404, whose page still shows
        # who is signed in); PostgreSQL would raise on the comparison.
        org_slug = None
    query_for_org = org_slug is not None
    dialect_name = db.session.get_bind().dialect.name
    if user_id is not None and session_id is not None:
        row = db.session.execute(_load_user_statement(query_for_org, bool(unread_count), bool(workspaces), dialect_name), {
            "session_id": session_id, "user_id": user_id, "now": utcnow(), "org_slug": org_slug}).first()
    if row is None or row[0].is_deactivated:
        _forget_login()
        return None
    g.user_session = row[1]
    if query_for_org:
        membership, org = row[2], row[3]
        g.org_page_lookup = OrgPageLookup(org_slug, membership if org is not None else None,
                                          org.id if org is not None else None, row.has_sso_grant,
                                          row.org_requires_sso, dialect_name == "postgresql")
    if unread_count:
        g.notification_bell = {"count": row.unread_count, "items": None}
    if workspaces:
        g.user_workspaces = _workspaces_from(row.workspaces)  # what tenancy.user_workspaces() gives
    return row[0]


@dataclass(frozen=True)
class Workspace:
    """One org of the workspace switcher: what the top bar and the inbox's filter read of it."""
    id: uuid.UUID
    name: str
    slug: str


def _workspaces_column(dialect_name):
    """The signed-in user's orgs (50 at most, by name) as one JSON array of [position, id, name,
    slug], so the switcher costs no statement of its own. The position keeps SQL's order whatever
    order the aggregate sees its rows in."""
    from models import Membership, Organization

    mine = (select(Organization.id, Organization.name, Organization.slug,
                   func.row_number().over(order_by=(Organization.name, Organization.id)).label("position"))
            .join(Membership, Membership.org_id == Organization.id)
            .where(Membership.user_id == User.id)
            .order_by(Organization.name, Organization.id).limit(50)
            .correlate(User).subquery("my_orgs"))
    fields = (mine.c.position, mine.c.id, mine.c.name, mine.c.slug)
    if dialect_name == "postgresql":
        aggregate = func.json_agg(func.json_build_array(*fields))
    else:
        aggregate = func.json_group_array(func.json_array(*fields))
    return select(aggregate).select_from(mine).scalar_subquery().label("workspaces")


def _workspaces_from(value):
    if isinstance(value, str):
        value = json.loads(value)
    return [Workspace(uuid.UUID(str(id_)), name, slug) for _, id_, name, slug in sorted(value or [], key=lambda w: w[0])]


@lru_cache(maxsize=16)
def _load_user_statement(query_for_org, with_unread_count, with_workspaces, dialect_name):
    """load_user's SELECT, built once per shape: building it anew cost more Python than running it."""
    from models import Membership, Notification, Organization, SsoConnection

    columns = [User, UserSession]
    if query_for_org:
        columns += [Membership, Organization,
                    exists().where(SessionSsoGrant.session_id == UserSession.id,
                                   SessionSsoGrant.org_id == Organization.id).label("has_sso_grant"),
                    exists().where(SsoConnection.org_id == Organization.id,
                                   SsoConnection.require_sso.is_(True)).label("org_requires_sso")]
    if with_unread_count:
        columns.append(select(func.count()).select_from(Notification)
                       .where(Notification.user_id == User.id, *Notification.unread_filter())
                       .scalar_subquery().label("unread_count"))
    if with_workspaces:
        columns.append(_workspaces_column(dialect_name))
    if query_for_org:
        # Last, so the wall goes up after everything above was read. An unknown org or no membership
        # sets '' (nothing bound), as before the lookup; tenancy answers 404 then.
        columns += db_scope.lookup_binds(Membership.org_id, dialect_name, user_id_column=User.id)
    query = (select(*columns).join(UserSession, UserSession.user_id == User.id)
             .where(UserSession.id == bindparam("session_id"), User.id == bindparam("user_id"),
                    UserSession.ended_at.is_(None), UserSession.expires_at > bindparam("now")))
    if query_for_org:
        query = (query.outerjoin(Organization, Organization.slug == bindparam("org_slug"))
                 .outerjoin(Membership, and_(Membership.org_id == Organization.id, Membership.user_id == User.id))
                 .options(contains_eager(Membership.user), contains_eager(Membership.org)))
    return query


@dataclass(frozen=True)
class OrgPageLookup:
    """What load_user found about the org page being opened (the org named by the URL's slug)."""
    slug: str
    membership: object          # the caller's Membership in that org, or None
    org_id: object              # None when no org has that slug
    has_sso_grant: bool         # this session holds the org's own SSO grant
    org_requires_sso: bool      # the org's SSO connection has Require SSO on (who it applies to is enforcement's)
    bound: bool                 # the statement also bound org and user for row-level security


def org_page_lookup(org_slug):
    """load_user's OrgPageLookup for org_slug, or None (not loaded that way: ask the database)."""
    lookup = g.get("org_page_lookup")
    return lookup if lookup is not None and lookup.slug == org_slug else None


def _prefetched_grant(record, org):
    """The SSO-grant facts load_user fetched for this session and org, or None when it did not."""
    lookup = g.get("org_page_lookup")
    if lookup is None or record is not g.get("user_session") or lookup.org_id != org.id:
        return None
    return lookup


def _grants_changed():
    # A grant given or taken in this request: what load_user read no longer holds.
    g.pop("org_page_lookup", None)


def _forget_login():
    session.pop(LOGIN_ID_KEY, None)
    if current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies:
        session["_remember"] = "clear"  # Flask-Login deletes the cookie on the way out


def current_session():
    """This request's live UserSession, or None when nobody is signed in."""
    if not current_user.is_authenticated:
        return None
    return g.get("user_session")


def start_password_session(user, *, remember=False, method=PASSWORD):
    """Sign user in to this browser on the strength of their password, once every check passed.

    The one call every password-style login makes (login, sign-up, invitation acceptance, break-glass
    with method=BREAK_GLASS). The same person already signed in here keeps their session and its SSO
    grants (a step-up); anyone else's session in this browser ends first."""
    if method not in PASSWORD_METHODS:
        raise ValueError(f"method must be one of {PASSWORD_METHODS}")
    record, _ = _session_for(user, remember)
    record.password_method = method
    record.password_granted_at = utcnow()
    db.session.flush()
    return record


def grant_sso(user, org, *, remember=False):
    """Org's IdP signed user in (after every SAML check and consent): this session opens org, and
    only org, on the strength of it. Kept alongside any password grant the same person already holds."""
    record, made = _session_for(user, remember, sso_orgs=(org,))
    if not made:  # a new record was made holding the grant; only an existing one may hold it already
        granted = db.session.scalar(select(SessionSsoGrant.id).where(SessionSsoGrant.session_id == record.id,
                                                                     SessionSsoGrant.org_id == org.id))
        if granted is None:
            db.session.add(SessionSsoGrant(session_id=record.id, user_id=user.id, org_id=org.id))
        db.session.flush()
    _grants_changed()
    return record


def new_session_record(user, *, method=PASSWORD, sso_orgs=(), remember=False, ip=None, user_agent=None):
    """A live session record for user with the given grants, not yet tied to any browser. Logins use
    the verbs above; tests and benchmarks use this to hold a signed-in session's login_id()."""
    now = utcnow()
    # Its id is made here, not by the flush, so the grants can name it and one flush writes them all.
    record = UserSession(id=uuid.uuid4(), user_id=user.id, remember=bool(remember), expires_at=now + _lifetime(),
                         ip=ip, user_agent=user_agent, password_method=method,
                         password_granted_at=now if method else None)
    db.session.add(record)
    db.session.add_all([SessionSsoGrant(session_id=record.id, user_id=user.id, org_id=org.id) for org in sso_orgs])
    db.session.flush()
    return record


def _session_for(user, remember, sso_orgs=()):
    """(this browser's record for user, whether it is new), signed in: a new record (holding the
    grants of sso_orgs) unless user is already signed in here."""
    record = current_session()
    made = record is None or record.user_id != user.id
    if made:
        if record is not None:
            _end(record, "replaced")
        record = new_session_record(user, method=None, sso_orgs=sso_orgs, remember=remember, ip=request.remote_addr,
                                    user_agent=(request.headers.get("User-Agent") or "")[:255] or None)
    elif remember:
        record.remember = True
    _grants_changed()
    kept = {key: session[key] for key in KEPT_ACROSS_LOGIN if key in session}
    session.clear()  # nothing from before the login survives it: the CSRF token included
    session.update(kept)
    g.pop("csrf_token", None)  # Flask-WTF's per-request copy of the old token
    login_user(user, remember=bool(remember or record.remember))
    session[LOGIN_ID_KEY] = login_id(user, record)
    g.user_session = record
    return record, made


def _end(record, reason):
    record.ended_at = utcnow()
    record.ended_reason = reason


def end_session(reason="logout"):
    """Log this browser out: its record ends, so a copy of its cookies elsewhere is signed out too."""
    record = current_session()
    if record is not None:
        _end(record, reason)
        db.session.flush()
    session.clear()
    g.pop("csrf_token", None)
    logout_user()  # also deletes the remember-me cookie


def end_all_sessions(user, reason, keep=None):
    """End every live session of user (keep: one to leave running, the browser that asked)."""
    query = update(UserSession).where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
    if keep is not None:
        query = query.where(UserSession.id != keep.id)
    db.session.execute(query.values(ended_at=utcnow(), ended_reason=reason).execution_options(synchronize_session=False))
    db.session.flush()


def end_org_grants(user_id, org_id):
    """User lost (or was suspended from) org's membership, or unlinked its identity: every session of
    theirs loses org's SSO grant, and nothing else."""
    db.session.execute(delete(SessionSsoGrant).where(SessionSsoGrant.user_id == user_id,
                                                     SessionSsoGrant.org_id == org_id)
                       .execution_options(synchronize_session=False))
    _grants_changed()


def sso_grant_org_ids(record):
    return set(db.session.scalars(select(SessionSsoGrant.org_id).where(SessionSsoGrant.session_id == record.id)))


def has_sso_grant(record, org):
    """Whether this session holds org's own SSO grant (what load_user read, when it read it)."""
    prefetched = _prefetched_grant(record, org)
    if prefetched is not None:
        return prefetched.has_sso_grant
    return org.id in sso_grant_org_ids(record)


def missing_grant(user, org, membership):
    """What this session lacks to open org: None (nothing), "sso" (org's own SSO login) or "password"
    (a password login, or org's SSO). Organization-wide Require SSO is decided by enforcement."""
    from services.sso import enforcement

    record = current_session()
    if record is None:
        return "password"
    if has_sso_grant(record, org):
        return None
    prefetched = _prefetched_grant(record, org)
    # An org without Require SSO on requires it of nobody: enforcement's query is skipped then.
    if (prefetched is None or prefetched.org_requires_sso) and enforcement.requires_sso(user, org):
        if record.password_method == BREAK_GLASS and Role(membership.role) == Role.owner:
            return None
        return "sso"
    return None if record.password_method else "password"
