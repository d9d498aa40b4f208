"""Machine credentials follow their creator (docs/security.md, Identity and trust): an API key or a
SCIM token acts with the reach of the person who made it, so it stops working when that person can no
longer make it. One place decides when, for both kinds:

- the creator leaves or is removed from the org (services.orgs.remove_member);
- the creator's membership is suspended (SCIM active=false);
- the creator loses the permission that makes the credential (a role change): SCIM tokens need
  trust.manage (owners); API keys already act with at most their creator's current role.

Each revocation is an event of its kind (api_key.revoked, scim.token.revoked) with the reason; both
are security notices, emailed to the org's owners and admins whatever their preferences.
"""
from permissions import role_can

CREATOR_REMOVED = "creator_removed"
CREATOR_SUSPENDED = "creator_suspended"
CREATOR_LOST_PERMISSION = "creator_lost_permission"
CREATOR_REASONS = (CREATOR_REMOVED, CREATOR_SUSPENDED, CREATOR_LOST_PERMISSION)


def revoke_credentials_created_by(org, account, actor, reason):
    """Revoke every live API key and SCIM token account created in org. Returns (keys, tokens) counts."""
    from services import api_keys
    from services.scim import settings as scim_settings
    keys = api_keys.revoke_keys_created_by(org, account, actor, reason=reason)
    tokens = scim_settings.revoke_tokens_created_by(org, account, actor, reason=reason)
    return keys, tokens


def revoke_credentials_beyond_role(org, membership, actor):
    """After membership's role changed: revoke what its new role may no longer create."""
    from services.scim import settings as scim_settings
    if not role_can(membership.role, "trust.manage"):
        return scim_settings.revoke_tokens_created_by(org, membership.user, actor, reason=CREATOR_LOST_PERMISSION)
    return 0
