"""The permission matrix, generated from app.url_map (DESIGN.md section 8).

1. Every route declares who may use it: its view carries required_permission ("public", "login" or a
   permission of permissions.py), set by @public_page, @user_page or @requires.
2. Every org route (/app/o/<org_slug>/...), for GET and each unsafe method it accepts (sent with empty
   data): a role holding the permission gets anything but 403/404/500; a role lacking it gets 403; a
   signed-in member of another org gets 404; an anonymous visitor is sent to log in.

URL parameters beyond org_slug come from tests/permission_params.py PARAM_FACTORIES. A new route with
a parameter that has no factory fails here with a message saying what to add.

Speed: one org per role, set up once; GET parameters are made once per org, unsafe requests get fresh
objects (they may delete or change them), and after each unsafe request the role's membership is put
back if the request removed or changed it (leaving, role changes, deleting the org).
"""
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from extensions import db
from models import Membership, Organization, Role
from permissions import PERMISSIONS, role_can
from tests import factories
from tests.permission_params import PARAM_FACTORIES
from tenancy import ORG_PREFIX

UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
EXEMPT_ENDPOINTS = {"static"}  # Flask's own static files


def org_rules(app):
    return sorted(
        (rule for rule in app.url_map.iter_rules() if rule.rule.startswith(ORG_PREFIX + "/") or rule.rule == ORG_PREFIX),
        key=lambda rule: rule.rule,
    )


def required_permission(app, rule):
    return getattr(app.view_functions[rule.endpoint], "required_permission", None)


def methods_of(rule):
    return [m for m in ("GET",) + UNSAFE if m in rule.methods]


def test_every_route_declares_its_permission(app):
    allowed = {"public", "login"} | set(PERMISSIONS)
    missing = [
        f"{rule.rule} ({rule.endpoint}): {required_permission(app, rule)!r}"
        for rule in app.url_map.iter_rules()
        if rule.endpoint not in EXEMPT_ENDPOINTS and required_permission(app, rule) not in allowed
    ]
    assert not missing, (
        "Routes without a valid permission marker (use @requires('perm'), @user_page or @public_page):\n  "
        + "\n  ".join(missing)
    )


def test_org_routes_require_an_org_permission(app):
    wrong = [f"{rule.rule}: {required_permission(app, rule)!r}" for rule in org_rules(app)
             if required_permission(app, rule) not in PERMISSIONS]
    assert not wrong, "Org routes must use @requires(<permission from permissions.py>):\n  " + "\n  ".join(wrong)
    assert org_rules(app), "no org routes found"


def test_every_org_route_parameter_has_a_factory(app):
    missing = sorted({
        f"{arg} (used by {rule.rule})"
        for rule in org_rules(app) for arg in rule.arguments - {"org_slug"} if arg not in PARAM_FACTORIES
    })
    assert not missing, (
        "Add a factory to PARAM_FACTORIES in tests/permission_params.py for each URL parameter:\n  "
        + "\n  ".join(missing)
    )


# What the issue asks of these pages, written down so a route declaring the wrong permission fails
# (the generated matrix checks that behaviour matches the declaration; this checks the declaration).
DECLARED = {
    "orgs.org_overview": "org.read",
    "orgs.org_settings": "org.read",
    "orgs.org_settings_update": "org.manage",
    "orgs.org_delete": "org.delete",
    "orgs.org_leave": "org.read",
    "members.members_list": "members.read",
    "members.members_role_update": "members.manage",
    "members.members_remove": "members.manage",
    "audit.audit_events_list": "audit.read",
    "audit.audit_events_export": "audit.read",
    "twofactor_org.org_two_factor_settings": "org.manage",
    "twofactor_org.org_two_factor_update": "trust.manage",
    # Setup links change what the org trusts: owners only (issue 18).
    "setup_links.setup_links_list": "trust.manage",
    "setup_links.setup_links_create": "trust.manage",
    "setup_links.setup_links_revoke": "trust.manage",
    # Identity and trust (issue 13): admins see the SSO page and run Test SSO; owners change what it trusts.
    "sso.sso_settings": "sso.manage",
    "sso.sso_test_start": "sso.manage",
    "sso.sso_require_show": "sso.manage",
    "sso.sso_log_show": "sso.manage",
    "sso.sso_idp_metadata_import": "trust.manage",
    "sso.sso_idp_metadata_url": "trust.manage",
    "sso.sso_idp_metadata_refresh": "trust.manage",
    "sso.sso_idp_manual": "trust.manage",
    "sso.sso_certificates_create": "trust.manage",
    "sso.sso_certificates_delete": "trust.manage",
    "sso.sso_options_update": "trust.manage",
    "sso.sso_group_mappings_create": "trust.manage",
    "sso.sso_group_mappings_move": "trust.manage",
    "sso.sso_group_mappings_delete": "trust.manage",
    "sso.sso_domains_create": "trust.manage",
    "sso.sso_domains_check": "trust.manage",
    "sso.sso_domains_delete": "trust.manage",
    "sso.sso_require_update": "trust.manage",
}


def test_workspace_pages_declare_the_permissions_the_issue_names(app):
    declared = {endpoint: getattr(app.view_functions.get(endpoint), "required_permission", None) for endpoint in DECLARED}
    assert declared == DECLARED


class RoleOrg:
    """One org where `user` holds `role` (with a separate owner when role is not owner)."""

    def __init__(self, role):
        self.role = role
        self._cached = {}
        self.setup()

    def setup(self):
        self.owner = factories.user(password=None)
        self.org = factories.org(owner=self.owner)
        self.user = self.owner if self.role == Role.owner else factories.member(
            self.org, self.role, user_=factories.user(password=None))
        self.org_id, self.slug, self._cached = self.org.id, self.org.slug, {}

    def url(self, rule, fresh=False):
        values = {"org_slug": self.slug}
        for arg in sorted(rule.arguments - {"org_slug"}):
            if arg not in PARAM_FACTORIES:
                pytest.fail(f"No factory for URL parameter {arg!r} of {rule.rule}: add one to "
                            "PARAM_FACTORIES in tests/permission_params.py", pytrace=False)
            if fresh or arg not in self._cached:
                value = PARAM_FACTORIES[arg](db.session.get(Organization, self.org_id), self.owner)
                if fresh:
                    values[arg] = value
                    continue
                self._cached[arg] = value
            values[arg] = self._cached[arg]
        return rule.build(values, append_unknown=False)[1]

    def repair(self):
        """Put things back after an unsafe request: the org, and this user's role in it."""
        db.session.expire_all()
        if db.session.get(Organization, self.org_id) is None:
            self.setup()
            return
        membership = db.session.scalar(select(Membership).where(
            Membership.org_id == self.org_id, Membership.user_id == self.user.id))
        if membership is None:
            factories.member(db.session.get(Organization, self.org_id), self.role, user_=self.user)
        elif membership.role != self.role or membership.deactivated_at is not None:
            membership.role, membership.deactivated_at = self.role, None
            db.session.commit()


def check(response, expected_allowed):
    status = response.status_code
    if expected_allowed:
        return None if status not in (403, 404, 500) else f"expected access, got {status}"
    return None if status == 403 else f"expected 403, got {status}"


@pytest.mark.parametrize("role", list(Role), ids=lambda role: role.value)
def test_matrix_own_org(app, client, login, role):
    """Each role in its own org: allowed where its role holds the route's permission, else 403."""
    place = RoleOrg(role)
    login(place.user)
    failures = []
    rules = org_rules(app)
    for rule in rules:  # every GET first: they change nothing, so cached parameters stay valid
        if "GET" in rule.methods:
            allowed = role_can(role, required_permission(app, rule))
            problem = check(client.get(place.url(rule)), allowed)
            if problem:
                failures.append(f"{role.value} GET {rule.rule} [{required_permission(app, rule)}]: {problem}")
    for rule in rules:
        for method in methods_of(rule)[1:] if "GET" in rule.methods else methods_of(rule):
            allowed = role_can(role, required_permission(app, rule))
            response = client.open(place.url(rule, fresh=True), method=method, data={})
            problem = check(response, allowed)
            if problem:
                failures.append(f"{role.value} {method} {rule.rule} [{required_permission(app, rule)}]: {problem}")
            place.repair()
            login(place.user)  # a re-created org means a new user; an unchanged one costs nothing
    assert not failures, "\n".join(failures)


def test_matrix_member_of_another_org_gets_404(app, client, login):
    place = RoleOrg(Role.owner)
    outsider = factories.user(password=None)
    factories.org(owner=outsider)
    login(outsider)
    failures = []
    for rule in org_rules(app):
        for method in methods_of(rule):
            response = client.open(place.url(rule), method=method, data={})
            if response.status_code != 404:
                failures.append(f"outsider {method} {rule.rule}: expected 404, got {response.status_code}")
    assert not failures, "\n".join(failures)


def test_matrix_anonymous_is_sent_to_login(app, client):
    place = RoleOrg(Role.owner)
    failures = []
    for rule in org_rules(app):
        for method in methods_of(rule):
            response = client.open(place.url(rule), method=method, data={})
            location = urlsplit(response.headers.get("Location", "")).path
            if response.status_code not in (302, 303) or location != "/login":
                failures.append(f"anonymous {method} {rule.rule}: got {response.status_code} to {location!r}")
    assert not failures, "\n".join(failures)
