"""A workspace with something on every screen, a signed-in browser page, and axe-core.

axe-core is vendored as a test asset (tests/screens/vendor/axe.min.js, version in AXE_VERSION) and
injected into each page by Playwright, so the pages themselves never load it and no test downloads it.
"""
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import select

from extensions import db
from models import Membership, OutboundEmail, Role, SsoIdentity, SsoLoginAttempt, WebhookAttempt, WebhookDelivery
from services import accounts, api_keys, invitations, notifications
from services.events import Actor
from services.scim import settings as scim_settings
from tests.webhooks.conftest import deliver, fire, make_endpoint, receiver  # noqa: F401  fixtures

AXE_VERSION = "4.14.1"
AXE_SOURCE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text(encoding="utf-8")
WIDTHS = {"desktop": (1440, 900), "phone": (390, 844)}
# The dark theme (prefers-color-scheme: dark) is checked too, at desktop width: its own contrast.
SCHEMES = {"desktop": "light", "phone": "light", "desktop-dark": "dark"}


@dataclass
class World:
    org: object
    owner: object
    urls: dict = field(default_factory=dict)   # screen name -> path
    public: dict = field(default_factory=dict)  # screens seen signed out


def _email_link(address, pattern):
    email = db.session.scalars(select(OutboundEmail).where(OutboundEmail.to_address == address)
                               .order_by(OutboundEmail.created_at.desc())).first()
    return re.search(pattern, email.text_body).group(1)


@pytest.fixture
def world(make, receiver, deliver):  # noqa: F811  (fixtures imported above)
    """Acme, owned by Olive, with members, invitations, keys, tokens, a webhook log with attempts, an
    SSO log entry, notifications and audit events: every screen has rows to show."""
    owner = make.user(email="olive@example.com", name="Olive Owner")
    org = make.org(owner=owner, name="Acme Corporation", slug="acme")
    actor = Actor.for_user(owner)
    people = [("Ada Admin", Role.admin), ("Mia Member", Role.member), ("Vic Viewer", Role.viewer),
              ("Bartholomew Featherstonehaugh-Wolfeschlegelsteinhausen", Role.member)]
    members = {name: make.member(org, role, user_=make.user(name=name, email=f"{name.split()[0].lower()}@example.com", password=None))
               for name, role in people}
    invitations.invite_member(org, "grace@example.com", Role.member, actor, Role.owner)
    invitations.invite_member(org, "a-very-long-address.for-someone@subsidiary.example.com", Role.admin, actor, Role.owner)
    invitations.update_invite_link(org, actor, Role.owner, True, Role.member, "example.com")
    db.session.commit()
    invitation_path = _email_link("grace@example.com", r"http://localhost(/invitations/[A-Za-z0-9_\-]+)")
    join_token = invitations.invite_link_token(invitations.get_invite_link(org))
    api_keys.create_key(org, "CI deploy script", ["read"], actor, created_by=owner, creator_role=Role.owner)
    scim_settings.create_token(org, actor)
    # Someone else's actions notify Olive (her own never do).
    ada = members["Ada Admin"]
    mia_membership = db.session.scalar(select(Membership).where(Membership.user_id == members["Mia Member"].id))
    from services import orgs
    orgs.change_role(org, mia_membership, Role.viewer, Actor.for_user(ada), Role.admin)
    db.session.commit()
    endpoint = make_endpoint(org, receiver.url("/hooks"), description="Sync members to the CRM")
    fire(org, 2)
    deliver()
    delivery = db.session.scalar(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    attempt = db.session.scalar(select(WebhookAttempt).where(WebhookAttempt.endpoint_id == endpoint.id))
    sso_attempt = SsoLoginAttempt(org_id=org.id, outcome="refused", reason="The assertion was not signed.",
                                  initiated_by="sp", email="mia@example.com", ip="127.0.0.1")
    db.session.add(sso_attempt)
    # Olive's account is linked to Acme's IdP: the linked-identity pages (account and SSO settings).
    identity = SsoIdentity(org_id=org.id, name_id="olive@idp.example.com", user_id=owner.id, groups=["engineering"])
    db.session.add(identity)
    db.session.commit()
    from services import setup_links
    setup_link, setup_token = setup_links.create_link(org, actor, ["domains", "sso", "scim"], created_by=owner)
    db.session.commit()
    notification_id = db.session.scalar(select(notifications_model().id).where(notifications_model().user_id == owner.id))
    o = "/app/o/acme"
    world = World(org=org, owner=owner)
    world.urls = {
        "workspaces": "/app/workspaces",
        "account": "/app/account",
        "account-revoke-sessions": "/app/account/sessions/revoke",
        "notifications": "/app/notifications",
        "notification-settings": "/app/settings/notifications",
        "overview": f"{o}/",
        "members": f"{o}/members",
        "member-remove": f"{o}/members/{mia_membership.id}/remove",
        "invitations": f"{o}/invitations",
        "invite-link-regenerate": f"{o}/invitations/link/regenerate",
        "audit": f"{o}/audit",
        "settings": f"{o}/settings",
        "leave": f"{o}/leave",
        "delete": f"{o}/settings/delete",
        "sso": f"{o}/settings/sso",
        "sso-log-entry": f"{o}/settings/sso/log/{sso_attempt.id}",
        "scim": f"{o}/settings/scim",
        "api-keys": f"{o}/settings/api-keys",
        "webhooks": f"{o}/webhooks/",
        "webhook-new": f"{o}/webhooks/new",
        "webhook-endpoint": f"{o}/webhooks/{endpoint.id}",
        "webhook-edit": f"{o}/webhooks/{endpoint.id}/edit",
        "webhook-delete": f"{o}/webhooks/{endpoint.id}/delete",
        "webhook-message": f"{o}/webhooks/deliveries/{delivery.id}",
        "webhook-attempt": f"{o}/webhooks/attempts/{attempt.id}",
        "webhook-catalog": f"{o}/webhooks/catalog",
        "not-found": f"{o}/no-such-page",
        "setup-links": f"{o}/settings/setup-links",
        "identity-unlink": f"/app/account/identities/{identity.id}/delete",
        "sso-identity-unlink": f"{o}/settings/sso/identities/{identity.id}/delete",
        "setup-link-revoke": f"{o}/settings/setup-links/{setup_link.id}/revoke",
    }
    _two_factor_screens(world, owner, members["Ada Admin"])
    if notification_id:
        world.urls["notification-open"] = f"/app/notifications/{notification_id}"
    world.public = {
        "login": "/login",
        "signup": "/signup",
        "forgot-password": "/forgot-password",
        "reset-password": f"/reset-password/{accounts.password_reset_token(owner)}",
        "signup-finish": f"/signup/{accounts.sign_up_token('newcomer@example.com')}",
        "invitation": invitation_path,
        "join": f"/join/{join_token}",
        "unsubscribe": f"/notifications/unsubscribe/{notifications.unsubscribe_token(owner.id, 'member.role_changed')}",
        "sso-discover": "/sso",
        "break-glass": "/sso/break-glass",
        # A setup link's pages, for an IT admin without an account (opening the link starts its session).
        "setup-link": f"/setup/{setup_token}",
        "setup-link-domains": f"/setup/l/{setup_link.id}/domains",
        "setup-link-sso": f"/setup/l/{setup_link.id}/sso",
        "setup-link-scim": f"/setup/l/{setup_link.id}/scim",
    }
    return world


def _two_factor_screens(world, owner, ada):
    """Ada has an authenticator app (the members page shows who has two-factor); Olive is half-way
    through adding one (the setup page with its QR code). Olive has no factor yet, so she signs in with
    her password alone."""
    from services import twofactor
    from tests.twofactor.helpers import enable_totp

    enable_totp(ada)
    twofactor.start_totp_setup(owner)
    db.session.commit()
    world.urls.update({
        "two-factor": "/app/account/two-factor",
        "two-factor-totp-setup": "/app/account/two-factor/totp",
        "confirm-access": "/app/account/confirm-access",
        "org-two-factor": "/app/o/acme/settings/two-factor",
    })


def notifications_model():
    from models import Notification
    return Notification


@pytest.fixture
def sign_in():
    def _sign_in(page, base_url, email="olive@example.com", password=None):
        from tests.factories import PASSWORD
        page.goto(f"{base_url}/login")
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", password or PASSWORD)
        page.click("#login_form button[type=submit]")
        page.wait_for_url("**/app/**")
        return page
    return _sign_in


def run_axe(page):
    """axe-core's violations on the page as it is now, every rule and impact, as readable lines."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Evaluated through DevTools, not a <script> tag: the page's CSP (script-src 'self') stays on.
        page.evaluate(AXE_SOURCE + "\n;true")
    result = page.evaluate("async () => { const r = await axe.run(document, {resultTypes: ['violations']}); "
                           "return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, "
                           "nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))})); }")
    return [f"{v['id']} ({v['impact']}): {v['help']} at {v['nodes']}" for v in result]


def page_overflow(page):
    """How far the page is wider than the window (0 when it fits), and the widest culprits."""
    return page.evaluate("""() => {
        const width = document.documentElement.clientWidth;
        const over = document.documentElement.scrollWidth - width;
        if (over <= 0) return {over: 0, culprits: []};
        // The outermost elements that stick out, not their children or what scrolls inside a box.
        const inScroller = e => { for (let p = e.parentElement; p; p = p.parentElement) {
            if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(p).overflowX)) return true; } return false; };
        const culprits = [...document.querySelectorAll('main *, header.topbar *')]
          .filter(e => e.getBoundingClientRect().right > width + 1 && !inScroller(e)
                       && !(e.parentElement && e.parentElement.getBoundingClientRect().right > width + 1))
          .slice(0, 5).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + '.' + [...e.classList].join('.'));
        return {over, culprits};
    }""")


def clipped_tables(page):
    """Tables that need a horizontal scroll inside their wrapper."""
    return page.evaluate("""() => [...document.querySelectorAll('.table-wrap')]
        .filter(w => w.scrollWidth > w.clientWidth + 1)
        .map(w => (w.querySelector('table') || w).id || 'a table')""")


def page_headers(page):
    """The page header: count of .page-header elements, h1 elements, and h1s inside the header."""
    return page.evaluate("""() => ({headers: document.querySelectorAll('main .page-header').length,
        h1: document.querySelectorAll('h1').length,
        inHeader: document.querySelectorAll('main header.page-header .page-header-text h1').length})""")
