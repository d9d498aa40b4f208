"""Finishing an SSO login in the browser, and linking an existing account only with its owner's consent.

The ACS (a cross-site POST that carries no cookies) only validates and holds the response
(login.hold); the browser follows a redirect to a same-site GET, where its cookies come along:

- Login bound to its browser (issue 13, item 6): an SP-initiated login is finished only by the browser
  whose nonce cookie was set when it started the login (login.start_login keeps the cookie's hash);
  a response to a login this browser did not start is refused with a page that says so.
- An IdP-initiated response (where the org allows it) never silently replaces a different person
  signed in here: the browser is asked first.
- Linking needs consent (issue 13, item 5): an assertion naming an existing account that is not yet
  linked to this org (and that the org did not create) links it only after the person proves the
  account is theirs: its password, or a one-time link emailed to the account.
"""
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import and_, bindparam, select, update
from sqlalchemy.orm import lazyload

from db_scope import bind_org, lookup_binds
from extensions import db
from models import (Membership, Organization, SsoConnection, SsoIdentity, SsoPendingLogin, SsoRequestState, User,
                    parse_uuid, utcnow)
from services import ServiceError, accounts, orgs, webhooks
from services.events import Actor, emit, user_target
from services.sso import login

PENDING_TTL = timedelta(minutes=5)    # from the ACS to the finishing GET: a redirect, so seconds in practice
CONSENT_TTL = timedelta(minutes=30)   # time to type a password or open the emailed link
NONCE_COOKIE = "orgkit_sso_nonce"
_NONCE_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")
LINK_SALT = "orgkit.sso-link"


def browser_nonce(existing=None):
    """The nonce cookie value for a browser starting a login: its current one if well-formed (several
    tabs may start logins at once), else a fresh one."""
    return existing if existing and _NONCE_PATTERN.fullmatch(existing) else secrets.token_urlsafe(32)


@dataclass
class Finish:
    """What to do with the browser: sign user in, ask before switching, ask for consent, or refuse."""
    org: object = None
    pending: SsoPendingLogin | None = None
    user: User | None = None
    return_path: str | None = None
    refused: login.Refused | None = None
    switch_from: User | None = None       # a different person is signed in here: ask first
    consent_for: User | None = None       # the existing account that needs its owner's consent
    attempt: object = None

    @property
    def email(self):
        return self.pending.identity.get("email") if self.pending is not None else None


def _pending(org, key):
    if not key or org is None:
        return None
    return db.session.scalar(select(SsoPendingLogin).where(
        SsoPendingLogin.org_id == org.id, SsoPendingLogin.key_hash == login._hash_key(key),
        SsoPendingLogin.consumed_at.is_(None), SsoPendingLogin.expires_at > utcnow()))


_CONSUME = (update(SsoPendingLogin.__table__)
            .where(SsoPendingLogin.id == bindparam("pending_id"), SsoPendingLogin.consumed_at.is_(None))
            .values(consumed_at=bindparam("now")))


def _consume(pending):
    """Mark pending used in one UPDATE, so two requests racing with one key cannot both finish it."""
    return db.session.execute(_CONSUME, {"pending_id": pending.id, "now": utcnow()}).rowcount == 1


EXPIRED = ("This sign-in has expired or was already used. Start again from the login page "
           "(“Continue with SSO”) or from your identity provider.")


def _refuse(org, connection, pending, reason, status, ip, user_agent):
    identity = pending.identity
    attempt = login._log(org, "refused", reason, pending.initiated_by, ip, identity.get("name_id"), identity.get("email"))
    emit(org, "sso.login_failed", Actor.for_idp(connection, ip, user_agent), [],
         {"reason": reason, "initiated_by": pending.initiated_by, "email": identity.get("email")})
    return Finish(org, pending, refused=login.Refused(reason, status=status), attempt=attempt)


_UNREAD = object()


def _started_elsewhere(pending, nonce, expected=_UNREAD):
    """True when pending answers an SP-initiated login that this browser (its nonce cookie) did not start.
    expected: the starting browser's nonce hash when the caller has read it already (_finishing)."""
    if pending.request_state_id is None:
        return False
    if expected is _UNREAD:
        state = db.session.get(SsoRequestState, pending.request_state_id)
        expected = state.browser_nonce_hash if state is not None else None
    return not (expected and nonce and hmac.compare_digest(expected, login._hash_key(nonce)))


@lru_cache(maxsize=2)
def _finishing_statement(dialect_name):
    """_finishing's SELECT, built once per dialect (parameters org_id, key_hash, now): building and
    keying it anew on every login cost more Python than the database spends running it."""
    return (
        select(Organization, SsoConnection, SsoPendingLogin, SsoRequestState.browser_nonce_hash,
               SsoIdentity, User, Membership, webhooks.active_endpoints_clause(Organization.id).label("hooks"),
               *lookup_binds(Organization.id, dialect_name))
        .outerjoin(SsoConnection, SsoConnection.org_id == Organization.id)
        .outerjoin(SsoPendingLogin, and_(
            SsoPendingLogin.org_id == Organization.id, SsoPendingLogin.key_hash == bindparam("key_hash"),
            SsoPendingLogin.consumed_at.is_(None), SsoPendingLogin.expires_at > bindparam("now")))
        .outerjoin(SsoRequestState, SsoRequestState.id == SsoPendingLogin.request_state_id)
        .outerjoin(SsoIdentity, and_(SsoIdentity.org_id == Organization.id,
                                     SsoIdentity.name_id == SsoPendingLogin.identity["name_id"].as_string()))
        .outerjoin(User, User.id == SsoIdentity.user_id)
        .outerjoin(Membership, and_(Membership.user_id == User.id, Membership.org_id == Organization.id))
        .where(Organization.id == bindparam("org_id"))
        # Their eager inner joins would turn the outer joins above into inner ones; the rows they would
        # load are in this row already (the identity map answers the many-to-ones without a query).
        .options(lazyload(SsoIdentity.user), lazyload(Membership.user), lazyload(Membership.org)))


def _finishing(org_ref, key):
    """(org, connection, pending, the nonce hash of the browser that started it, (linked identity, user,
    membership)) for a finishing request, in one statement where the person signed in through this IdP
    before (every later login): the org, its connection, the pending login, its request state's nonce
    hash and login.resolve's identity, account and membership, joined on the held NameID. A first login
    or one needing consent resolves by email (login.resolve). On PostgreSQL the statement also binds
    the org for row-level security and reads whether it has an active webhook endpoint (the
    sso.login_succeeded event's fan-out need not ask again)."""
    org_id = parse_uuid(org_ref)
    if org_id is None:
        return None, None, None, None, None
    row = db.session.execute(_finishing_statement(db.session.get_bind().dialect.name), {
        "org_id": org_id, "key_hash": login._hash_key(key or ""), "now": utcnow()}).first()
    if row is None:
        return None, None, None, None, None
    org, connection, pending, expected_nonce, linked, user, membership, hooks = row[:8]
    bind_org(org, set_by_lookup=True)
    webhooks.note_endpoints(org.id, hooks)
    if pending is None or not key:
        return org, connection, None, None, None
    resolved = (linked, user, membership) if linked is not None else login.resolve(org, pending.identity)
    return org, connection, pending, expected_nonce, resolved


STARTED_ELSEWHERE = ("This browser did not start this sign-in, so it was refused: someone may have tried to sign "
                     "you in to their account. If you did start it, start again here with “Continue with SSO”.")


def finish_login(org_ref, key, nonce, signed_in=None, switch_confirmed=False, ip=None, user_agent=None):
    """The same-site GET after the ACS (and its confirmation POST). signed_in: the person signed in to
    this browser, or None."""
    org, connection, pending, expected_nonce, resolved = _finishing(org_ref, key)
    if pending is None:
        return Finish(org, refused=login.Refused(EXPIRED, status=400))
    if _started_elsewhere(pending, nonce, expected_nonce):
        _consume(pending)
        return _refuse(org, connection, pending, STARTED_ELSEWHERE, 403, ip, user_agent)
    linked, user, membership = resolved
    # A deactivated account or membership is refused by provision below, before anyone is asked anything.
    blocked = user is not None and (user.is_deactivated or (membership is not None and not membership.is_active))
    if pending.initiated_by == "idp" and signed_in is not None and not switch_confirmed and not blocked \
            and (user is None or user.id != signed_in.id):
        return Finish(org, pending, switch_from=signed_in)
    if not blocked and login.needs_consent(org, linked, user):
        pending.expires_at = max(pending.expires_at, utcnow() + CONSENT_TTL)
        db.session.flush()
        return Finish(org, pending, consent_for=user)
    return _complete(org, connection, pending, ip, user_agent, resolved=(linked, user, membership))


def _complete(org, connection, pending, ip, user_agent, consent=None, resolved=None):
    if not _consume(pending):
        return Finish(org, refused=login.Refused(EXPIRED, status=400))
    actor = Actor.for_idp(connection, ip, user_agent)
    identity = pending.identity
    try:
        user = login.provision(org, connection, identity, actor, consented=consent is not None, resolved=resolved)
    except login.Refused as refused:
        return _refuse(org, connection, pending, refused.reason, refused.status, ip, user_agent)
    if consent is not None:
        emit(org, "sso.identity_linked", Actor.for_user(user, ip, user_agent), [user_target(user)],
             {"user": orgs.user_payload(user), "name_id": identity["name_id"][:512], "consent": consent})
    reason = "Signed in. " + login.GROUPS_OVERAGE_NOTE if identity.get("groups_unknown") else "Signed in."
    attempt = login._log(org, "succeeded", reason, pending.initiated_by, ip, identity["name_id"], identity["email"], user)
    emit(org, "sso.login_succeeded", actor, [user_target(user)],
         {"user": orgs.user_payload(user), "initiated_by": pending.initiated_by, "groups": identity["groups"][:50]})
    return Finish(org, pending, user=user, return_path=pending.return_path, attempt=attempt)


def consent_pending(org_ref, key, nonce):
    """(org, pending, account) for a consent form of this browser, or ServiceError saying why not."""
    org, _ = login.org_and_connection(org_ref)
    pending = _pending(org, key)
    if pending is None or _started_elsewhere(pending, nonce):
        raise ServiceError(EXPIRED, code="expired")
    linked, user, _ = login.resolve(org, pending.identity)
    if user is None or not login.needs_consent(org, linked, user):
        raise ServiceError(EXPIRED, code="expired")
    return org, pending, user


def link_with_password(org_ref, key, nonce, password, ip=None, user_agent=None):
    """The person proves the account is theirs with its password; then it is linked and signed in."""
    org, pending, user = consent_pending(org_ref, key, nonce)
    if not accounts.password_matches(user, password or ""):
        raise ServiceError(f"That is not the password of {user.email}.", field="password")
    connection = login.org_and_connection(org.id)[1]
    return _complete(org, connection, pending, ip, user_agent, consent="password")


def _link_serializer():
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=LINK_SALT)


def _link_fingerprint(user):
    # The link dies with a password change or "log out everywhere" (like a password reset link).
    material = f"{user.id}|{user.session_epoch}|{user.email}".encode()
    return hmac.new(current_app.config["SECRET_KEY"].encode(), material, hashlib.sha256).hexdigest()[:32]


def email_link(org_ref, key, nonce):
    """Email the account a one-time link that links it (the pending login waits CONSENT_TTL)."""
    from services.mail import queue_email

    org, pending, user = consent_pending(org_ref, key, nonce)
    pending.expires_at = utcnow() + CONSENT_TTL
    token = _link_serializer().dumps([str(pending.id), _link_fingerprint(user)])
    queue_email(user.email, f"Link your Orgkit account to {org.name}'s single sign-on", "sso_link",
                user=user, org_name=org.name, ttl_minutes=int(CONSENT_TTL.total_seconds() // 60),
                link_url=accounts.public_url("sso.sso_link_confirm", org_ref=org.id, token=token))
    db.session.flush()
    return user


def pending_for_link(org_ref, token):
    """(org, pending, account) an emailed link is for, or ServiceError saying why it cannot be used."""
    org, _ = login.org_and_connection(org_ref)
    try:
        pending_id, fingerprint = _link_serializer().loads(token, max_age=int(CONSENT_TTL.total_seconds()))
    except SignatureExpired:
        raise ServiceError("This link has expired. Sign in through your identity provider again to get a new one.",
                           code="expired") from None
    except (BadSignature, ValueError, TypeError):
        raise ServiceError("This link is not valid. Check that you copied the whole link.", code="invalid") from None
    pending = db.session.scalar(select(SsoPendingLogin).where(
        SsoPendingLogin.id == parse_uuid(pending_id), SsoPendingLogin.org_id == (org.id if org else None),
        SsoPendingLogin.consumed_at.is_(None), SsoPendingLogin.expires_at > utcnow())) if parse_uuid(pending_id) else None
    user = login.resolve(org, pending.identity)[1] if pending is not None else None
    if pending is None or user is None or not isinstance(fingerprint, str) \
            or not hmac.compare_digest(fingerprint, _link_fingerprint(user)):
        raise ServiceError("This link was already used or has expired. Sign in through your identity provider "
                           "again to get a new one.", code="used")
    return org, pending, user


def link_by_email(org_ref, token, ip=None, user_agent=None):
    """The person opened the emailed link and confirmed: link the account and sign this browser in."""
    org, pending, _ = pending_for_link(org_ref, token)
    connection = login.org_and_connection(org.id)[1]
    return _complete(org, connection, pending, ip, user_agent, consent="email")
