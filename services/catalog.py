"""The event catalog: every event type Orgkit emits, with its description, example payload, who is
told about it and whether it is critical (cannot be switched off). The webhook event picker, the
notification preference matrix, the audit filter and the catalog docs page are all generated from it.

Recipients name groups that services.notifications resolves: "target_user" (the user the event is
about), "actor", "inviter", "admins" (owners and admins), "owners".
"""
from dataclasses import dataclass, field


@dataclass(frozen=True)
class EventType:
    name: str
    description: str
    example: dict
    recipients: tuple = ()
    critical: bool = False       # security events: notifications cannot be switched off
    email_by_default: bool = False  # emailed to recipients who have not chosen otherwise
    webhook: bool = True          # offered to webhook endpoints (user-only events are not)
    group: str = field(default="")

    def __post_init__(self):
        object.__setattr__(self, "group", self.group or self.name.split(".")[0])


_USER = {"id": "0b4e7c1e-6b1c-4f4e-9f59-2f1c7a1d2e3f", "email": "ada@example.com", "name": "Ada Lovelace"}
_ORG = {"id": "6f1f2a8e-51b4-4d0e-8f43-0e5b9d3c2a10", "slug": "acme", "name": "Acme"}
_ENDPOINT = {"id": "9a3b6c1d-2e4f-4a5b-8c7d-1e2f3a4b5c6d", "url": "https://hooks.example.com/orgkit",
             "description": "Sync to our CRM", "event_types": ["member.added", "member.removed"]}

EVENT_TYPES = [
    # Workspaces
    EventType("org.created", "A workspace was created.", {"org": _ORG}, recipients=()),
    EventType("org.updated", "A workspace's name or settings changed.",
              {"org": _ORG, "changes": {"name": ["Acme", "Acme Inc"]}}, recipients=("admins",)),
    EventType("org.deleted", "A workspace was deleted.", {"org": _ORG}, recipients=("admins",)),
    EventType("org.two_factor_requirement_changed", "Who must use two-factor authentication in the workspace changed.",
              {"requirement": "admins", "previous_requirement": "off", "members_without_two_factor": 2},
              recipients=("admins",), critical=True),
    # Members
    EventType("member.added", "Someone joined the workspace.",
              {"user": _USER, "role": "member"}, recipients=("target_user", "admins")),
    EventType("member.role_changed", "A member's role changed.",
              {"user": _USER, "role": "admin", "previous_role": "member"}, recipients=("target_user",)),
    EventType("member.removed", "A member was removed from the workspace, or left it.",
              {"user": _USER, "role": "member", "reason": "removed"}, recipients=("target_user", "admins")),
    # Invitations
    EventType("invitation.created", "Someone was invited to the workspace.",
              {"invitation": {"id": "3c0f...", "email": "grace@example.com", "role": "member"}}, recipients=("inviter",)),
    EventType("invitation.resent", "An invitation email was sent again.",
              {"invitation": {"id": "3c0f...", "email": "grace@example.com", "role": "member"}}, recipients=()),
    EventType("invitation.accepted", "An invitation was accepted.",
              {"invitation": {"id": "3c0f...", "email": "grace@example.com", "role": "member"}, "user": _USER},
              recipients=("inviter",)),
    EventType("invitation.revoked", "An invitation was revoked before it was used.",
              {"invitation": {"id": "3c0f...", "email": "grace@example.com", "role": "member"}}, recipients=("inviter",)),
    EventType("invite_link.updated", "The workspace's shareable invite link was turned on, off or changed.",
              {"enabled": True, "allowed_domains": ["example.com"], "role": "member"}, recipients=("admins",)),
    # Account security: about one user, not an org; critical, so they cannot be switched off.
    EventType("user.password_changed", "Your password was changed.", {"user": _USER},
              recipients=("target_user",), critical=True, webhook=False),
    EventType("user.password_reset", "Your password was reset from an emailed link.", {"user": _USER},
              recipients=("target_user",), critical=True, webhook=False),
    EventType("user.sessions_revoked", "All your sessions were signed out.", {"user": _USER},
              recipients=("target_user",), critical=True, webhook=False),
    # Two-factor authentication (services/twofactor.py): security notices about one's own account.
    EventType("user.second_factor_added", "A second factor (authenticator app or passkey) was added to your account.",
              {"user": _USER, "factor": {"type": "passkey", "name": "Work laptop"}},
              recipients=("target_user",), critical=True, webhook=False),
    EventType("user.second_factor_removed", "A second factor (authenticator app or passkey) was removed from your account.",
              {"user": _USER, "factor": {"type": "totp", "name": "Authenticator app"}},
              recipients=("target_user",), critical=True, webhook=False),
    EventType("user.recovery_code_used", "A recovery code was used to log in to your account.",
              {"user": _USER, "codes_left": 9}, recipients=("target_user",), critical=True, webhook=False),
    EventType("user.recovery_codes_regenerated", "New recovery codes were made for your account; the old ones stopped working.",
              {"user": _USER}, recipients=("target_user",), critical=True, webhook=False),
    # Accounts: a user's own account, outside any org (audit only: nobody else is told).
    EventType("user.signed_up", "Someone created an account by signing up.", {"user": _USER},
              recipients=(), webhook=False),
    EventType("user.updated", "A user changed their profile (name).",
              {"user": _USER, "changes": {"name": ["Ada", "Ada Lovelace"]}}, recipients=(), webhook=False),
    # SCIM provisioning (the org's identity provider changes people and groups; admins are told)
    EventType("scim.enabled", "SCIM provisioning was turned on.", {"enabled": True}, recipients=("admins",), critical=True),
    EventType("scim.disabled", "SCIM provisioning was turned off.", {"enabled": False}, recipients=("admins",), critical=True),
    EventType("scim.token.created", "A SCIM token was generated.",
              {"token": {"id": "9d1c...", "prefix": "okscim_Ab3x"}}, recipients=("admins",), critical=True),
    EventType("scim.token.revoked", "A SCIM token was revoked.",
              {"token": {"id": "9d1c...", "prefix": "okscim_Ab3x"}, "reason": "creator_removed",
               "creator": "grace@example.com"},
              recipients=("admins",), critical=True),
    EventType("scim.role_mapping.updated", "The roles SCIM groups give were changed.",
              {"group": {"id": "5e2a...", "displayName": "Engineering"}, "role": "admin", "previous_role": None},
              recipients=("admins",), critical=True),
    EventType("scim.user.created", "The identity provider provisioned a user.",
              {"scim_user": {"id": "7a3b...", "userName": "ada@example.com", "externalId": "00u1", "active": True},
               "user": _USER, "linked_existing_member": False}, recipients=("admins",)),
    EventType("scim.user.updated", "The identity provider changed a user's attributes.",
              {"scim_user": {"id": "7a3b...", "userName": "ada@example.com", "externalId": "00u1", "active": True},
               "user": _USER, "changed": ["title", "department"]}, recipients=("admins",)),
    EventType("scim.user.deactivated", "The identity provider deactivated a user: their sessions ended and "
              "their access to the workspace is suspended.",
              {"scim_user": {"id": "7a3b...", "userName": "ada@example.com", "externalId": "00u1", "active": False},
               "user": _USER, "api_keys_revoked": 0}, recipients=("admins",)),
    EventType("scim.user.reactivated", "The identity provider reactivated a user.",
              {"scim_user": {"id": "7a3b...", "userName": "ada@example.com", "externalId": "00u1", "active": True},
               "user": _USER}, recipients=("admins",)),
    EventType("scim.user.deleted", "The identity provider deleted a user: their membership was removed.",
              {"scim_user": {"id": "7a3b...", "userName": "ada@example.com", "externalId": "00u1", "active": True},
               "user": _USER}, recipients=("admins",)),
    EventType("scim.group.created", "The identity provider created a group.",
              {"group": {"id": "5e2a...", "displayName": "Engineering", "externalId": None, "role": None},
               "changed": [], "members_added": ["ada@example.com"], "members_removed": []}, recipients=("admins",)),
    EventType("scim.group.updated", "The identity provider renamed a group or changed its members.",
              {"group": {"id": "5e2a...", "displayName": "Engineering", "externalId": None, "role": "admin"},
               "changed": ["displayName"], "members_added": [], "members_removed": ["ada@example.com"]},
              recipients=("admins",)),
    EventType("scim.group.deleted", "The identity provider deleted a group.",
              {"group": {"id": "5e2a...", "displayName": "Engineering", "externalId": None, "role": None}},
              recipients=("admins",)),
    # Single sign-on (services/sso): the org's SAML connection, its logins and its email domains.
    EventType("sso.configured", "The SAML single sign-on connection was set up or changed.",
              {"change": "metadata", "idp_entity_id": "http://www.okta.com/exk1", "certificates": 1,
               "allow_idp_initiated": False, "require_sso": False}, recipients=("admins",), critical=True),
    EventType("sso.login_succeeded", "Someone logged in through the workspace's identity provider.",
              {"user": _USER, "initiated_by": "sp", "groups": ["Engineering"]}, recipients=()),
    EventType("sso.login_failed", "A SAML response was refused (the SSO log says why).",
              {"reason": "Signature validation failed. SAML Response rejected", "initiated_by": "sp",
               "email": "ada@example.com"}, recipients=()),
    EventType("sso.enforced", "Require SSO was turned on or off.",
              {"require_sso": True, "affected_members": 12}, recipients=("admins",), critical=True),
    EventType("sso.break_glass_login", "An owner logged in with a password although the workspace requires SSO.",
              {"user": _USER, "reason": "Okta outage"}, recipients=("owners",), critical=True),
    EventType("sso.identity_linked", "An existing account was linked to the workspace's identity provider, with its owner's consent.",
              {"user": _USER, "name_id": "ada@example.com", "consent": "password"}, recipients=("target_user",),
              critical=True),
    EventType("sso.identity_unlinked", "An account was unlinked from the workspace's identity provider.",
              {"user": _USER, "name_id": "ada@example.com"}, recipients=("target_user", "owners"), critical=True),
    EventType("sso.certificate_expiring", "An identity provider signing certificate expires within 30 days.",
              {"certificate": {"id": "4f2d...", "subject": "CN=Okta", "not_after": "2025-02-01T00:00:00+00:00"},
               "days_left": 30}, recipients=("admins",), critical=True),
    EventType("domain.verified", "An email domain of the workspace was verified.",
              {"domain": "example.com", "method": "dns"}, recipients=("admins",), critical=True),
    EventType("domain.added", "An email domain was added to the workspace (not yet verified).",
              {"domain": "example.com"}, recipients=("admins",), critical=True),
    EventType("domain.removed", "An email domain was removed from the workspace.",
              {"domain": "example.com", "was_verified": True}, recipients=("admins",), critical=True),
    # Setup links (services/setup_links.py): a bearer link for the org's IT admin, owners told of each.
    EventType("setup_link.created", "An owner created a setup link for the IT admin.",
              {"setup_link": {"id": "1f3e...", "prefix": "oksetup_Ab3x", "scopes": ["sso", "domains"],
                              "expires_at": "2025-01-08T10:00:00+00:00", "sent_to": "it@example.com"}},
              recipients=("owners",), critical=True, webhook=False),
    EventType("setup_link.revoked", "A setup link was revoked.",
              {"setup_link": {"id": "1f3e...", "prefix": "oksetup_Ab3x", "scopes": ["sso", "domains"],
                              "expires_at": "2025-01-08T10:00:00+00:00", "sent_to": "it@example.com"}},
              recipients=("owners",), critical=True, webhook=False),
    EventType("setup_link.completed", "The IT admin finished the setup a setup link was made for; the link is closed.",
              {"setup_link": {"id": "1f3e...", "prefix": "oksetup_Ab3x", "scopes": ["sso", "domains"],
                              "expires_at": "2025-01-08T10:00:00+00:00", "sent_to": "it@example.com"},
               "done": ["domains", "sso"]},
              recipients=("owners",), critical=True, webhook=False),
    # Webhooks (services/webhooks.py). Not offered to webhook endpoints themselves: an endpoint would
    # otherwise receive news of its own creation, and a disabled one cannot hear of its disabling.
    EventType("webhook.endpoint.created", "A webhook endpoint was added.",
              {"endpoint": _ENDPOINT}, recipients=(), webhook=False),
    EventType("webhook.endpoint.updated", "A webhook endpoint's URL, description or event types changed.",
              {"endpoint": _ENDPOINT, "changes": {"url": ["https://hooks.example.com/old", "https://hooks.example.com/orgkit"]}},
              recipients=(), webhook=False),
    EventType("webhook.endpoint.deleted", "A webhook endpoint was deleted.", {"endpoint": _ENDPOINT}, recipients=(), webhook=False),
    EventType("webhook.endpoint.disabled",
              "A webhook endpoint was disabled: by an admin, because it answered 410 Gone, or because every delivery failed for days.",
              {"endpoint": _ENDPOINT, "automatic": True,
               "reason": "Every delivery attempt failed since 2025-01-01 10:00 UTC (5 days)."},
              recipients=("admins",), email_by_default=True, webhook=False),
    EventType("webhook.endpoint.enabled", "A disabled webhook endpoint was enabled again.", {"endpoint": _ENDPOINT}, recipients=(), webhook=False),
    EventType("webhook.endpoint.secret_rotated", "A webhook endpoint's signing secret was rotated.",
              {"endpoint": _ENDPOINT, "previous_secret_expires_at": "2025-01-02T10:00:00+00:00"}, recipients=(), webhook=False),
    EventType("webhook.endpoint.secret_revealed", "Someone viewed a webhook endpoint's signing secret.",
              {"endpoint": _ENDPOINT}, recipients=(), webhook=False),
    EventType("webhook.endpoint.test_sent", "A test event was sent to a webhook endpoint.",
              {"endpoint": _ENDPOINT, "event_type": "member.added"}, recipients=(), webhook=False),
    EventType("webhook.message.resent", "A webhook message was queued again for an endpoint.",
              {"endpoint": _ENDPOINT, "delivery_id": "9b1c...", "event_type": "member.added"}, recipients=(), webhook=False),
    EventType("webhook.messages.recovered", "Every failed message to an endpoint since a time was queued again.",
              {"endpoint": _ENDPOINT, "since": "2025-01-01T00:00:00+00:00", "count": 12}, recipients=(), webhook=False),
    # API keys (services/api_keys.py): security events, so admins are always told.
    EventType("api_key.created", "An API key was created.",
              {"api_key": {"id": "4d2e...", "name": "CRM sync", "prefix": "ok_live_Ab3x", "last_four": "9fQz",
                           "scopes": ["read", "write"], "expires_at": None}},
              recipients=("admins",), critical=True, webhook=False),
    EventType("api_key.revoked", "An API key was revoked, by an admin or because its creator left the workspace.",
              {"api_key": {"id": "4d2e...", "name": "CRM sync", "prefix": "ok_live_Ab3x", "last_four": "9fQz",
                           "scopes": ["read", "write"], "expires_at": None}, "reason": "revoked"},
              recipients=("admins",), critical=True, webhook=False),
    # Notifications: a person's own notification choices (recorded in the audit trail, told to no one).
    EventType("notification.preferences_updated", "Your notification settings changed.",
              {"user": _USER, "event_types": ["member.added"]}, recipients=(), webhook=False),
]

CATALOG = {event_type.name: event_type for event_type in EVENT_TYPES}


def get(name):
    try:
        return CATALOG[name]
    except KeyError:
        raise KeyError(f"event type {name!r} is not in the catalog (services/catalog.py)") from None


def webhook_types():
    return [t for t in EVENT_TYPES if t.webhook]


def groups():
    """Event types grouped for pickers and matrices: [(group, [EventType, ...]), ...] in catalog order."""
    result = {}
    for event_type in EVENT_TYPES:
        result.setdefault(event_type.group, []).append(event_type)
    return list(result.items())
