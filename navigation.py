"""The side navigation of org pages and the user menu: one list, filtered by what is registered and
by the viewer's permissions, so every page shows the same places in the same order."""
from dataclasses import dataclass

from flask import current_app

from tenancy import can


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: str
    permission: str = "org.read"
    # Other endpoint prefixes that count as "this page" (sub-pages highlight their parent).
    also: tuple = ()

    def is_current(self, endpoint):
        endpoint = endpoint or ""
        return endpoint == self.endpoint or any(endpoint.startswith(prefix) for prefix in self.also)


ORG_NAV = [
    (None, [
        NavItem("orgs.org_overview", "Overview"),
        NavItem("members.members_list", "Members", "members.read", also=("members.",)),
        NavItem("invitations.invitations_list", "Invitations", "members.invite", also=("invitations.",)),
        NavItem("webhooks.webhook_endpoints_list", "Webhooks", "webhooks.manage", also=("webhooks.",)),
        NavItem("audit.audit_events_list", "Audit log", "audit.read", also=("audit.",)),
    ]),
    ("Settings", [
        NavItem("orgs.org_settings", "General", "org.read", also=("orgs.org_settings",)),
        NavItem("sso.sso_settings", "Single sign-on", "sso.manage", also=("sso.",)),
        NavItem("twofactor_org.org_two_factor_settings", "Two-factor", "org.manage", also=("twofactor_org.",)),
        NavItem("scim.scim_settings", "SCIM provisioning", "scim.manage", also=("scim.",)),
        NavItem("api_keys.api_keys_list", "API keys", "api_keys.manage", also=("api_keys.",)),
        NavItem("setup_links.setup_links_list", "Setup links", "trust.manage", also=("setup_links.",)),
    ]),
]

USER_MENU = [
    NavItem("auth.account_settings", "Account & security", "login"),
    NavItem("notifications.notifications_inbox", "Notifications", "login"),
    NavItem("notifications.notification_settings", "Notification settings", "login"),
    NavItem("workspaces.workspaces_list", "Workspaces", "login"),
]


def _registered(endpoint):
    return endpoint in current_app.view_functions


def org_nav():
    sections = []
    for section, items in ORG_NAV:
        visible = [item for item in items if _registered(item.endpoint) and can(item.permission)]
        if visible:
            sections.append((section, visible))
    return sections


def user_menu():
    return [item for item in USER_MENU if _registered(item.endpoint)]
