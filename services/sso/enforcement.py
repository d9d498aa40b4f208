"""Require SSO: the one place that decides who must log in through their org's IdP.

A member must use SSO for an org when that org requires SSO and the member's email is on one of the
org's verified domains. Two doors read it: password login (blueprints/auth, refused with a pointer to
SSO) and org page access (tenancy.py: a session that logged in by password before enforcement was
turned on is sent through SSO). Owners keep an audited break-glass password login, so an IdP outage
cannot lock the org out.
"""
from sqlalchemy import select

from extensions import db
from models import Membership, Organization, Role, SsoConnection, SsoDomain, User
from services import ServiceError, accounts, orgs
from services.events import Actor, emit, user_target
from services.sso import config as sso_config
from services.sso.domains import email_domain, verified_domains

# Session keys set at login: the orgs whose IdP signed this session in, and break-glass logins.
SESSION_SSO_ORGS = "sso_org_ids"
SESSION_BREAK_GLASS = "sso_break_glass"


def _enforcing(user_email, extra=None):
    domain = email_domain(user_email)
    query = (select(Organization, Membership)
             .join(SsoConnection, SsoConnection.org_id == Organization.id)
             .join(SsoDomain, SsoDomain.org_id == Organization.id)
             .join(Membership, Membership.org_id == Organization.id)
             .join(User, User.id == Membership.user_id)
             .where(SsoConnection.require_sso.is_(True), SsoDomain.domain == domain,
                    SsoDomain.verified_at.is_not(None), User.email == user_email))
    if extra is not None:
        query = query.where(extra)
    return db.session.execute(query).all()


def orgs_requiring_sso(user):
    """[(org, membership)] of the orgs this user must log in to through SSO."""
    return _enforcing(user.email)


def password_login_refusal(user):
    """None when user may log in with a password; else the message that points them to SSO."""
    rows = orgs_requiring_sso(user)
    if not rows:
        return None
    names = ", ".join(org.name for org, _ in rows)
    return f"{names} requires single sign-on for your email address. Use “Continue with SSO” instead of a password."


def sso_session_marks(session, user, org_id):
    """The session's SSO marks after user logged in to org_id through its IdP (kept for other orgs the
    same user already signed in to; each mark names the user, so another login never inherits it)."""
    marks = [mark for mark in session.get(SESSION_SSO_ORGS, ()) if mark.endswith(f":{user.id}")]
    return sorted(set(marks) | {f"{org_id}:{user.id}"})


def page_access_needs_sso(user, org, session):
    """True when this session may not open org's pages without an SSO login for it first."""
    if f"{org.id}:{user.id}" in session.get(SESSION_SSO_ORGS, ()) or session.get(SESSION_BREAK_GLASS) == str(user.id):
        return False
    return bool(_enforcing(user.email, Organization.id == org.id))


def break_glass_login(email, password, reason, ip=None, user_agent=None):
    """An owner's password login despite Require SSO (the IdP is down or misconfigured). Allowed only to
    owners of every org that requires SSO of them; each of those orgs gets an audit event."""
    user = User.by_email(email)
    if not accounts.password_matches(user, password or ""):
        raise ServiceError("That email and password don't match an account.")
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError("Say why you need to bypass single sign-on; it is recorded in the audit log.", field="reason")
    rows = orgs_requiring_sso(user)
    if user.is_deactivated:
        raise ServiceError("This account was deactivated. Ask your administrator to restore it.")
    if any(membership.role != Role.owner for _, membership in rows):
        raise ServiceError("Only owners may bypass single sign-on. Log in with “Continue with SSO”.")
    actor = Actor.for_user(user, ip, user_agent)
    for org, _ in rows:
        emit(org, "sso.break_glass_login", actor, [user_target(user)],
             {"user": orgs.user_payload(user), "reason": reason[:500]})
    accounts.record_login(user)
    return user


def preview_enforcement(org):
    """Who Require SSO affects: members on verified domains (must use SSO; owners keep break-glass)
    and members on other domains (unaffected, they keep their passwords)."""
    verified = verified_domains(org.id)
    affected, unaffected = [], []
    for membership in db.session.scalars(Membership.for_org(org.id)):
        (affected if email_domain(membership.user.email) in verified else unaffected).append(membership)
    return affected, unaffected


def set_require_sso(org, enabled, actor):
    """Turn Require SSO on (only after a successful test login) or off; emits sso.enforced."""
    connection = sso_config.ensure_connection(org)
    if enabled and (connection.last_test_succeeded_at is None or not connection.is_configured):
        raise ServiceError("Run a successful test login first, so nobody is locked out by a broken connection.",
                           field="require_sso")
    if enabled and not verified_domains(org.id):
        raise ServiceError("Verify at least one email domain first: Require SSO applies to members on verified domains.",
                           field="require_sso")
    if connection.require_sso == bool(enabled):
        return connection
    connection.require_sso = bool(enabled)
    sso_config.mark_changed(connection)
    db.session.flush()
    affected, _ = preview_enforcement(org)
    emit(org, "sso.enforced", actor, [sso_config.connection_target(connection)],
         {"require_sso": connection.require_sso, "affected_members": len(affected)})
    return connection
