"""Values for the URL parameters of org routes, used by the permission matrix (role x route x own org /
other org) that is generated from app.url_map.

PARAM_FACTORIES maps a URL parameter name (as in the route rule, e.g. "endpoint_id") to a callable
(org, owner) -> value that creates a real object of that kind in org (committing it) and returns the
value to put in the URL. An org route whose parameter has no factory here fails the matrix, so every
new route gets an entry. Add yours in a block named after your feature.
"""

PARAM_FACTORIES = {}


# --- Workspaces and members (orgs helper) ---------------------------------------------------------

def _membership_id(org, owner):
    """A fresh member of org (role member), for member routes."""
    from extensions import db
    from models import Membership, Role
    from tests import factories

    person = factories.member(org, Role.member, user_=factories.user(password=None))
    return str(db.session.scalar(
        db.select(Membership.id).where(Membership.org_id == org.id, Membership.user_id == person.id)
    ))


PARAM_FACTORIES["membership_id"] = _membership_id
# Invitations
def _make_invitation(org, owner):
    import uuid

    from extensions import db
    from models import Role
    from services.events import Actor
    from services.invitations import invite_member

    invitation = invite_member(org, f"invitee-{uuid.uuid4().hex[:12]}@example.com", Role.member, Actor.for_user(owner), Role.owner)
    db.session.commit()
    return str(invitation.id)


PARAM_FACTORIES["invitation_id"] = _make_invitation
# --- SCIM ---------------------------------------------------------------------------------------

def _scim_token(org, owner):
    # A row made directly: the matrix asks for one per route, past the two-live-tokens limit.
    import secrets

    from extensions import db
    from models import ScimToken
    from services.scim import settings
    row = ScimToken(org_id=org.id, prefix="okscim_test", token_hash=settings.hash_token(secrets.token_hex(16)),
                    created_by_label=owner.email)
    db.session.add(row)
    db.session.commit()
    return str(row.id)


def _scim_group(org, owner):
    from extensions import db
    from models import ScimGroup
    group = ScimGroup(org_id=org.id, display_name="Engineering", display_name_lower="engineering", version=1)
    db.session.add(group)
    db.session.commit()
    return str(group.id)


PARAM_FACTORIES["token_id"] = _scim_token
PARAM_FACTORIES["group_id"] = _scim_group
# --- Webhooks ------------------------------------------------------------------------------------

def _webhook_endpoint(org, owner):
    from extensions import db
    from services import webhooks
    from services.events import SYSTEM
    endpoint = webhooks.create_endpoint(org, SYSTEM, "http://127.0.0.1:9/hooks", "permission matrix")
    db.session.commit()
    return endpoint


def _webhook_delivery(org, owner):
    from extensions import db
    from services import webhooks
    from services.events import SYSTEM
    delivery = webhooks.send_test_message(org, _webhook_endpoint(org, owner), "member.added", SYSTEM)
    db.session.commit()
    return delivery


def _webhook_attempt(org, owner):
    from extensions import db
    from models import WebhookAttempt
    delivery = _webhook_delivery(org, owner)
    attempt = WebhookAttempt(org_id=org.id, delivery_id=delivery.id, endpoint_id=delivery.endpoint_id, attempt_number=1,
                             succeeded=False, request_url="http://127.0.0.1:9/hooks", request_headers={},
                             response_headers={}, error="Could not connect: connection refused")
    db.session.add(attempt)
    db.session.commit()
    return str(attempt.id)


PARAM_FACTORIES["endpoint_id"] = lambda org, owner: str(_webhook_endpoint(org, owner).id)
PARAM_FACTORIES["delivery_id"] = lambda org, owner: str(_webhook_delivery(org, owner).id)
PARAM_FACTORIES["attempt_id"] = _webhook_attempt
# --- SSO -----------------------------------------------------------------------------------------

def _sso_connection(org):
    from extensions import db
    from services.sso import config as sso_config
    connection = sso_config.ensure_connection(org)
    db.session.commit()
    return connection


def _sso_certificate(org, owner):
    from extensions import db
    from services.sso import config as sso_config
    from tests.sso.idp import make_key_pair
    connection = _sso_connection(org)
    certificate = sso_config.add_certificate(org, connection, make_key_pair()[1])
    db.session.commit()
    return str(certificate.id)


def _group_mapping(org, owner):
    import uuid

    from extensions import db
    from services.events import SYSTEM
    from services.sso import config as sso_config
    _sso_connection(org)
    mapping = sso_config.add_group_mapping(org, SYSTEM, f"group-{uuid.uuid4().hex[:8]}", "admin")
    db.session.commit()
    return str(mapping.id)


def _sso_domain(org, owner):
    import uuid

    from extensions import db
    from services.events import SYSTEM
    from services.sso import domains
    domain = domains.add_domain(org, f"d{uuid.uuid4().hex[:10]}.example.com", SYSTEM)
    db.session.commit()
    return str(domain.id)


def _login_attempt(org, owner):
    from extensions import db
    from models import SsoLoginAttempt
    attempt = SsoLoginAttempt(org_id=org.id, outcome="refused", reason="Signature validation failed.", initiated_by="sp")
    db.session.add(attempt)
    db.session.commit()
    return str(attempt.id)


PARAM_FACTORIES["sso_certificate_id"] = _sso_certificate
PARAM_FACTORIES["group_mapping_id"] = _group_mapping
PARAM_FACTORIES["sso_domain_id"] = _sso_domain
PARAM_FACTORIES["login_attempt_id"] = _login_attempt


def _sso_identity(org, owner):
    """A member linked to the org's IdP (issue 13: identities are unlinked by the person or an owner)."""
    import uuid

    from extensions import db
    from models import SsoIdentity
    from tests import factories
    person = factories.member(org, user_=factories.user(password=None))
    identity = SsoIdentity(org_id=org.id, name_id=f"n{uuid.uuid4().hex[:12]}@example.com", user_id=person.id)
    db.session.add(identity)
    db.session.commit()
    return identity.id


PARAM_FACTORIES["sso_identity_id"] = _sso_identity
# --- API keys ------------------------------------------------------------------------------------

def _api_key(org, owner):
    from extensions import db
    from services import api_keys
    from services.events import Actor
    row, _ = api_keys.create_key(org, "permission matrix", ["read"], Actor.for_user(owner), created_by=owner)
    db.session.commit()
    return str(row.id)


PARAM_FACTORIES["api_key_id"] = _api_key
# --- Setup links ---------------------------------------------------------------------------------

def _setup_link(org, owner):
    from extensions import db
    from services import setup_links
    from services.events import Actor
    link, _ = setup_links.create_link(org, Actor.for_user(owner), ["sso"], created_by=owner)
    db.session.commit()
    return str(link.id)


PARAM_FACTORIES["setup_link_id"] = _setup_link
