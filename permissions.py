"""Roles and what each may do: the one table every permission check reads (DESIGN.md section 3)."""
from models.orgs import Role

# permission -> the roles that hold it
PERMISSIONS = {
    "org.read": {Role.owner, Role.admin, Role.member, Role.viewer},
    "org.manage": {Role.owner, Role.admin},        # rename, settings
    "org.delete": {Role.owner},
    "members.read": {Role.owner, Role.admin, Role.member, Role.viewer},
    "members.manage": {Role.owner, Role.admin},    # change roles (not owner), remove members
    "members.invite": {Role.owner, Role.admin},
    "owners.manage": {Role.owner},                 # grant or remove ownership, invite owners
    "audit.read": {Role.owner, Role.admin},
    "sso.manage": {Role.owner, Role.admin},
    # What the org trusts (IdP configuration and certificates, Require SSO, group mappings to admin,
    # SCIM on/off and tokens, verified domains, setup links) is the owners' alone (DESIGN.md section 7).
    "trust.manage": {Role.owner},
    "scim.manage": {Role.owner, Role.admin},
    "api_keys.manage": {Role.owner, Role.admin},
    "webhooks.manage": {Role.owner, Role.admin},
}

ROLE_LABELS = {
    Role.owner: "Owner",
    Role.admin: "Admin",
    Role.member: "Member",
    Role.viewer: "Viewer",
}

ROLE_DESCRIPTIONS = {
    Role.owner: "Full control, including ownership, deleting the workspace and billing-level settings.",
    Role.admin: "Manages members, invitations and every setting except ownership.",
    Role.member: "Uses the workspace and sees its members.",
    Role.viewer: "Read-only access.",
}


def role_can(role, permission):
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}")
    return Role(role) in PERMISSIONS[permission]


def assignable_roles(actor_role):
    """Roles an actor may give to someone else: only owners grant ownership."""
    if role_can(actor_role, "owners.manage"):
        return [Role.owner, Role.admin, Role.member, Role.viewer]
    if role_can(actor_role, "members.manage"):
        return [Role.admin, Role.member, Role.viewer]
    return []


def roles_holding(permission):
    """The roles that hold permission, highest first (for messages: "Owners and admins can ...")."""
    return [role for role in (Role.owner, Role.admin, Role.member, Role.viewer) if role in PERMISSIONS[permission]]


def missing_role_message(permission, role, org_name, reading):
    """What a 403 says: the role a page or action needs, and the role the person has."""
    holders = [ROLE_LABELS[r].lower() + "s" for r in roles_holding(permission)]
    who = holders[0] if len(holders) == 1 else ", ".join(holders[:-1]) + " and " + holders[-1]
    what = "open this page" if reading else "do this"
    article = "an" if ROLE_LABELS[Role(role)][0] in "AEIOU" else "a"
    return (f"{who.capitalize()} can {what}. You are {article} {ROLE_LABELS[Role(role)].lower()} in {org_name}; "
            f"ask one of its {holders[0]} if you need it.")
