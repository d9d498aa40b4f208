"""Require SSO: the one place that decides who must log in through their org's IdP.

A member must use SSO for an org when that org requires SSO and the member's email is on one of the
org's verified domains. It is read where the org's pages are opened (tenancy.org_access): the session
needs that org's own SSO grant, while a password login keeps opening every other org (issue 13: one
org's Require SSO never locks anyone out of another). Owners keep an audited break-glass password
login, so an IdP outage cannot lock the org out.
"""
from sqlalchemy import select

from extensions import db
from models import Membership, Organization, Role, SsoConnection, SsoDomain, User
from services import ServiceError, accounts, orgs
from services.events import Actor, emit, user_target
from services.trust import record_trust_change
from services.sso import config as sso_config
from services.sso.domains import email_domain, verified_domains

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


def requires_sso(user, org):
    """True when org requires this user to sign in through its IdP (Require SSO, email on a verified
    domain of org): a session then needs org's own SSO grant to open it (services/sessions.py)."""
    return bool(_enforcing(user.email, Organization.id == org.id))


def break_glass_login(email, password, reason, ip=None, user_agent=None):
    """An owner's password login despite Require SSO (the IdP is down or misconfigured). The session it
    starts (services.sessions, BREAK_GLASS) opens the orgs that require SSO only where the person is an
    owner; each of those orgs gets an audit event and its owners a security notice. The route counts
    every attempt against the same per-account limit as the login page (issue 13, item 7)."""
    user = User.by_email(email)
    if not accounts.password_matches(user, password or ""):
        raise ServiceError("That email and password don't match an account.")
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError("Say why you need to bypass single sign-on; it is recorded in the audit log.", field="reason")
    if user.is_deactivated:
        raise ServiceError("This account was deactivated. Ask your administrator to restore it.")
    rows = orgs_requiring_sso(user)
    if not rows:
        raise ServiceError("No workspace requires single sign-on of you: log in on the normal login page.")
    owned = [org for org, membership in rows if membership.role == Role.owner and membership.is_active]
    if not owned:
        raise ServiceError("Only owners may bypass single sign-on. Log in with “Continue with SSO”.")
    actor = Actor.for_user(user, ip, user_agent)
    for org in owned:
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
    summary = (f"Require SSO was turned on: {len(affected)} member(s) on verified domains now open {org.name} "
               "through its identity provider." if connection.require_sso else
               "Require SSO was turned off: members may open the workspace with their passwords again.")
    record_trust_change(org, actor=actor, action="sso.enforced", summary=summary,
                        targets=[sso_config.connection_target(connection)],
                        data={"require_sso": connection.require_sso, "affected_members": len(affected)})
    return connection
