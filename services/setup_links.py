"""Setup links (issue 18): an owner gives the org's IT admin a link that lets them set up single
sign-on, SCIM provisioning or domain verification for that one org, without an Orgkit account.

The link is a bearer credential (DESIGN.md section 7): "oksetup_" + 256 random bits, shown once,
stored as SHA-256. It is valid for 1 to 30 days, revocable at once, and grants only its scopes on its
own org. When it was emailed, opening it also needs a one-time code sent to that address, so the
link alone (forwarded, or read from a mail log) is not enough. Everything done through it acts as
actor_for(link): the audit log says "setup link <prefix> (<email>)".
"""
import hashlib
import hmac
import secrets
from dataclasses import replace
from datetime import timedelta

from flask import current_app, url_for
from sqlalchemy import select, update

from extensions import db
from permissions import role_can
from models import Membership, Organization, SetupLink, User, utcnow
from models.setup_links import SCOPES
from services import ServiceError
from services.events import target
from services.trust import record_trust_change, setup_link_actor

TOKEN_PREFIX = "oksetup_"
MIN_DAYS, MAX_DAYS, DEFAULT_DAYS = 1, 30, 7
SCOPE_LABELS = {"domains": "Domain verification", "sso": "Single sign-on", "scim": "SCIM provisioning"}
SCOPE_NAMES = {"sso": "single sign-on", "scim": "SCIM provisioning", "domains": "domain verification"}  # mid-sentence
CODE_DIGITS = 8
CODE_TTL = timedelta(minutes=15)
CODE_RESEND_AFTER = timedelta(seconds=60)
MAX_CODE_FAILURES = 5
# last_used_at is written at most this often: a write per page view would cost more than it tells.
LAST_USED_PRECISION = timedelta(minutes=1)


def hash_token(token):
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def link_target(link):
    return target("setup_link", link.id, link.prefix)


def link_payload(link):
    return {"id": str(link.id), "prefix": link.prefix, "scopes": list(link.scopes),
            "expires_at": link.expires_at.isoformat(), "sent_to": link.sent_to}


def actor_for(link, ip=None, user_agent=None):
    """What a change made through the link is recorded as: "setup link <prefix> (<email>)", the email
    it was sent to or else its creator's (services/trust.py). The id is the link's own. Its authority
    is the owner who made it, so that owner stands behind it (user_id): a SCIM token generated through
    the link follows them (services/scim/settings.py, created_by_id)."""
    actor = setup_link_actor(link.prefix, link.sent_to or link.created_by_label, ip, user_agent)
    return replace(actor, id=str(link.id), user_id=link.created_by_user_id)


def link_url(token):
    with current_app.test_request_context(base_url=current_app.config["PUBLIC_BASE_URL"]):
        return url_for("setup_links.setup_open", token=token, _external=True)


def clean_scopes(scopes):
    chosen = [scope for scope in SCOPES if scope in set(scopes or ())]
    unknown = set(scopes or ()) - set(SCOPES)
    if unknown:
        raise ServiceError("Choose single sign-on, SCIM provisioning or domain verification.", field="scopes")
    if not chosen:
        raise ServiceError("Choose at least one thing the link may set up.", field="scopes")
    return chosen


def clean_days(days):
    try:
        days = int(days)
    except (TypeError, ValueError):
        raise ServiceError(f"Enter a number of days from {MIN_DAYS} to {MAX_DAYS}.", field="days") from None
    if not MIN_DAYS <= days <= MAX_DAYS:
        raise ServiceError(f"A setup link lasts from {MIN_DAYS} to {MAX_DAYS} days.", field="days")
    return days


def create_link(org, actor, scopes, days=DEFAULT_DAYS, send_to=None, created_by=None):
    """A new link for org. Returns (row, token); the token itself is never stored. With send_to the
    link is emailed there (after the commit), and opening it needs a code sent to the same address."""
    from services.accounts import clean_email
    scopes, days = clean_scopes(scopes), clean_days(days)
    if (send_to or "").strip():
        try:
            send_to = clean_email(send_to)
        except ServiceError as error:
            raise ServiceError(error.message, field="send_to") from None
    else:
        send_to = None
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    link = SetupLink(org_id=org.id, prefix=token[:len(TOKEN_PREFIX) + 4], token_hash=hash_token(token),
                     scopes=scopes, expires_at=utcnow() + timedelta(days=days),
                     created_by_user_id=getattr(created_by, "id", None), created_by_label=actor.label[:254],
                     sent_to=send_to, done={})
    db.session.add(link)
    db.session.flush()
    parts = " and ".join(SCOPE_NAMES[scope] for scope in scopes)
    record_trust_change(org, actor=actor, action="setup_link.created", targets=[link_target(link)],
                        summary=f"A setup link ({link.prefix}…) lets {send_to or 'whoever holds it'} set up {parts} "
                                f"until {link.expires_at:%Y-%m-%d %H:%M} UTC.",
                        data={"setup_link": link_payload(link)})
    if send_to:
        from services.mail import queue_email
        queue_email(send_to, f"Set up {org.name}'s sign-in with Orgkit", "setup_link", org=org, link=link,
                    url=link_url(token), scopes=[SCOPE_LABELS[s] for s in scopes], sent_by=actor.label)
    return link, token


def revoke_link(org, link, actor, why=None):
    """Stop the link at once: every page opened with it refuses the next request. why: set when Orgkit
    revokes it because its creator lost the right to make it."""
    if link.revoked_at is not None:
        return link
    link.revoked_at = utcnow()
    link.revoked_by_label = (f"Orgkit: {why}" if why else actor.label)[:254]
    db.session.flush()
    record_trust_change(org, actor=actor, action="setup_link.revoked", targets=[link_target(link)],
                        summary=f"The setup link {link.prefix}… was revoked{': ' + why if why else ''}: it no "
                                "longer opens anything.",
                        data={"setup_link": link_payload(link), "reason": "revoked" if why is None else why})
    return link


CREATOR_REASONS = {
    "creator_removed": "{creator} left the workspace",
    "creator_suspended": "{creator} was deactivated in this workspace",
    "creator_lost_permission": "{creator} is no longer an owner",
}


def revoke_links_created_by(org, account, actor, reason):
    """A link acts with its creator's authority, so it stops when they can no longer make one
    (services/credentials.py decides when). Returns how many live links were revoked."""
    links = db.session.scalars(SetupLink.for_org(org.id).where(
        SetupLink.created_by_user_id == account.id, SetupLink.revoked_at.is_(None),
        SetupLink.completed_at.is_(None), SetupLink.expires_at > utcnow())).all()
    why = CREATOR_REASONS.get(reason, "{creator} can no longer make setup links").format(creator=account.email)
    for link in links:
        revoke_link(org, link, actor, why=why)
    return len(links)


def links_of_org(org_id):
    return db.session.scalars(SetupLink.for_org(org_id).order_by(SetupLink.created_at.desc())).all()


def find_by_token(token):
    """The link a token names (whatever its state), else None. Looked up by SHA-256, compared again in
    constant time. Its org is bound for row-level security from here on (db_scope)."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    digest = hash_token(token)
    link = db.session.scalar(select(SetupLink).where(SetupLink.token_hash == digest))
    if link is None or not hmac.compare_digest(link.token_hash, digest):
        return None
    _bind(link)
    return link


def find_by_id(link_id):
    """The link with this id (a page of a session the link was opened in), else None; binds its org."""
    from models import parse_uuid
    link_id = parse_uuid(link_id)
    link = db.session.get(SetupLink, link_id) if link_id else None
    if link is not None:
        _bind(link)
    return link


def _bind(link):
    from db_scope import bind_org
    bind_org(link.org_id)


def refusal(link, now=None):
    """Why the link cannot be used now (a sentence for its holder), or None while it is live."""
    now = now or utcnow()
    state = link.state(now)
    if state == "revoked":
        if (link.revoked_by_label or "").startswith("Orgkit: "):
            # Revoked because its creator lost the right to make it (services/credentials.py).
            return (f"This setup link stopped working: {link.revoked_by_label.removeprefix('Orgkit: ')}. "
                    "Ask another owner of the workspace for a new one.")
        return "This setup link was revoked by an owner of the workspace. Ask them for a new one."
    if state == "completed":
        return "This setup link was used to finish the setup and is closed. Ask an owner for a new one to change anything."
    if state == "expired":
        return "This setup link has expired. Ask an owner of the workspace for a new one."
    if not _creator_may_still_make_it(link):
        return ("This setup link stopped working: the owner who made it is no longer an owner of the workspace. "
                "Ask another owner for a new one.")
    return None


def _creator_may_still_make_it(link):
    """A link acts with its creator's authority: only while they are an active owner (trust.manage)."""
    if link.created_by_user_id is None:
        return False  # the creator's account was deleted (created_by_user_id is SET NULL then)
    row = db.session.execute(select(Membership.role, Membership.deactivated_at, User.is_deactivated)
                             .join(User, User.id == Membership.user_id)
                             .where(Membership.org_id == link.org_id,
                                    Membership.user_id == link.created_by_user_id)).first()
    return row is not None and row[1] is None and not row[2] and role_can(row[0], "trust.manage")


def out_of_scope(link, scope):
    """A sentence when the link does not include scope, else None."""
    if scope in link.scopes:
        return None
    return (f"This setup link does not include {SCOPE_NAMES[scope]}. Ask an owner of the workspace "
            f"for a link that does.")


def record_use(link):
    """last_used_at, written at most once per LAST_USED_PRECISION."""
    now = utcnow()
    if link.last_used_at is None or now - link.last_used_at >= LAST_USED_PRECISION:
        link.last_used_at = now
        db.session.flush()


# --- The one-time code of an emailed link ---------------------------------------------------------

def _code_hash(link, code):
    # Bound to the link, so a code is worth nothing on another link.
    return hashlib.sha256(f"{link.id}:{code}".encode()).hexdigest()


def send_code(org, link):
    """Email a fresh one-time code to the address the link was sent to (replacing any earlier one).
    ServiceError when one went out less than a minute ago."""
    now = utcnow()
    if link.sent_to is None:
        raise ServiceError("This link needs no code.")
    if link.code_sent_at is not None and now - link.code_sent_at < CODE_RESEND_AFTER:
        raise ServiceError("A code was sent less than a minute ago. Check your inbox, or wait a moment to send another.",
                           code="rate_limited")
    code = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))
    link.code_hash, link.code_sent_at, link.code_failures = _code_hash(link, code), now, 0
    db.session.flush()
    from services.mail import queue_email
    queue_email(link.sent_to, f"Your code to open {org.name}'s setup link: {code}", "setup_link_code",
                org=org, link=link, code=code, minutes=int(CODE_TTL.total_seconds() // 60))
    return link


def check_code(link, code):
    """Use the pending code. ServiceError (field "code") when it is wrong, expired or used up; after
    MAX_CODE_FAILURES wrong tries the code is void and a new one must be sent."""
    code = "".join((code or "").split())
    now = utcnow()
    if link.code_hash is None or link.code_sent_at is None:
        raise ServiceError("Send yourself a code first.", field="code")
    if now - link.code_sent_at > CODE_TTL:
        link.code_hash = None
        db.session.flush()
        raise ServiceError("That code has expired. Send a new one.", field="code")
    if not hmac.compare_digest(link.code_hash, _code_hash(link, code)):
        # One UPDATE, so parallel guesses cannot each get the last try.
        failures = db.session.execute(
            update(SetupLink).where(SetupLink.id == link.id).values(code_failures=SetupLink.code_failures + 1)
            .returning(SetupLink.code_failures)).scalar_one()
        if failures >= MAX_CODE_FAILURES:
            db.session.execute(update(SetupLink).where(SetupLink.id == link.id).values(code_hash=None))
            raise ServiceError("Too many wrong codes: that code no longer works. Send a new one.", field="code")
        raise ServiceError("That code is not right. Check the latest email and try again.", field="code")
    link.code_hash, link.code_failures = None, 0  # one use only
    record_use(link)
    db.session.flush()
    return link


# --- Progress -------------------------------------------------------------------------------------

def mark_done(link, part):
    if part not in link.done:
        link.done = {**link.done, part: utcnow().isoformat()}
        db.session.flush()


def can_finish(link):
    return all(scope in link.done for scope in link.scopes)


def finish(org, link, actor):
    """The IT admin is done: the link closes and the owners are told what was set up."""
    if not can_finish(link):
        missing = [SCOPE_NAMES[s] for s in link.scopes if s not in link.done]
        raise ServiceError("Finish " + " and ".join(missing) + " first.")
    if link.completed_at is None:
        link.completed_at = utcnow()
        db.session.flush()
        parts = " and ".join(SCOPE_NAMES[scope] for scope in link.scopes)
        record_trust_change(org, actor=actor, action="setup_link.completed", targets=[link_target(link)],
                            summary=f"The setup through link {link.prefix}… is finished ({parts}); the link is closed.",
                            data={"setup_link": link_payload(link), "done": sorted(link.done)})
    return link


def creator_of(link):
    return db.session.get(User, link.created_by_user_id) if link.created_by_user_id else None


def org_of(link):
    return db.session.get(Organization, link.org_id)
