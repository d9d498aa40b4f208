"""Credentials follow their creator (docs/security.md, Identity and trust): an API key, a SCIM token or
a setup link acts with the reach of the person who made it, so it stops working when that person can
no longer make it. One place decides when, for every kind:

- the creator leaves or is removed from the org (services.orgs.remove_member);
- the creator's membership is suspended (SCIM active=false);
- the creator loses the permission that makes the credential (a role change): SCIM tokens and setup
  links need trust.manage (owners); API keys already act with at most their creator's current role.

Each revocation is an event of its kind (api_key.revoked, scim.token.revoked, setup_link.revoked) with
the reason; all are security notices, emailed to the org's owners whatever their preferences.
"""
from permissions import role_can

CREATOR_REMOVED = "creator_removed"
CREATOR_SUSPENDED = "creator_suspended"
CREATOR_LOST_PERMISSION = "creator_lost_permission"
CREATOR_REASONS = (CREATOR_REMOVED, CREATOR_SUSPENDED, CREATOR_LOST_PERMISSION)


def revoke_credentials_created_by(org, account, actor, reason):
    """Revoke every live API key, SCIM token and setup link account created in org.
    Returns (API keys, trust credentials: SCIM tokens and setup links) counts."""
    from services import api_keys
    keys = api_keys.revoke_keys_created_by(org, account, actor, reason=reason)
    return keys, _revoke_trust_credentials(org, account, actor, reason)


def revoke_credentials_beyond_role(org, membership, actor):
    """After membership's role changed: revoke what its new role may no longer create."""
    if not role_can(membership.role, "trust.manage"):
        return _revoke_trust_credentials(org, membership.user, actor, CREATOR_LOST_PERMISSION)
    return 0


def _revoke_trust_credentials(org, account, actor, reason):
    from services import setup_links
    from services.scim import settings as scim_settings
    return (scim_settings.revoke_tokens_created_by(org, account, actor, reason=reason)
            + setup_links.revoke_links_created_by(org, account, actor, reason))
