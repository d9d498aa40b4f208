"""Linked identities: which orgs' IdPs may sign an account in, listed on the account page and unlinked
by the person or an owner of that org (issue 13, "Linking needs consent").

Unlinking ends that org's SSO grants in every session of the person (services/sessions.py) and nothing
else: the membership stays, and the person opens the org by password again unless it requires SSO.
"""
from sqlalchemy import select

from extensions import db
from models import Organization, SsoIdentity
from services import orgs, sessions
from services.events import emit, user_target


def linked_identities(user):
    """[(identity, org)] of every org whose IdP is linked to user, by org name."""
    return db.session.execute(
        select(SsoIdentity, Organization).join(Organization, Organization.id == SsoIdentity.org_id)
        .where(SsoIdentity.user_id == user.id).order_by(Organization.name)).all()


def recent_in_org(org_id, limit=50):
    """The org's most recently linked identities, for its SSO page."""
    return db.session.scalars(SsoIdentity.for_org(org_id).order_by(SsoIdentity.created_at.desc()).limit(limit)).all()


def identity_of(user, identity_id, org_id=None):
    """One of user's linked identities (optionally in org_id), or None."""
    query = select(SsoIdentity).where(SsoIdentity.user_id == user.id, SsoIdentity.id == identity_id)
    if org_id is not None:
        query = query.where(SsoIdentity.org_id == org_id)
    return db.session.scalar(query)


def unlink_identity(org, identity, actor):
    """Remove the link between org's IdP and identity's account; that org's SSO grants end."""
    user = identity.user
    name_id = identity.name_id
    db.session.delete(identity)
    db.session.flush()
    sessions.end_org_grants(user.id, org.id)
    emit(org, "sso.identity_unlinked", actor, [user_target(user)],
         {"user": orgs.user_payload(user), "name_id": name_id})
