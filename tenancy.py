"""current_org: resolved once per request; org blueprints and permission checks (DESIGN.md section 3).

Browser pages of an org live under /app/o/<org_slug>/. org_blueprint() gives a blueprint whose URL
processor pops org_slug, whose before_request loads the org and the caller's membership into g
(404 for non-members, so other orgs' existence does not leak), and whose url_defaults put the slug
back into every url_for.
"""
from functools import wraps

from flask import Blueprint, abort, current_app, flash, g, redirect, request, session, url_for
from flask_login import current_user, login_required
from sqlalchemy import select
from werkzeug.local import LocalProxy

import db_scope
from extensions import db, login_manager
from models import Membership, Organization
from permissions import missing_role_message, role_can

current_org = LocalProxy(lambda: g.get("org"))
current_membership = LocalProxy(lambda: g.get("membership"))

ORG_PREFIX = "/app/o/<org_slug>"


def org_blueprint(name, import_name, url_prefix=""):
    """A blueprint whose every route is an org page at /app/o/<org_slug><url_prefix>/..."""
    return attach_org_pages(Blueprint(name, import_name, url_prefix=ORG_PREFIX + url_prefix))


def attach_org_pages(bp):
    """Make bp's routes under ORG_PREFIX org pages. A blueprint made directly (not by org_blueprint)
    may also hold public routes elsewhere (sso: the settings page, and the ACS that IdPs post to)."""
    bp.url_value_preprocessor(_pop_org_slug)
    bp.url_defaults(_add_org_slug)
    bp.before_request(_load_org_and_membership)
    return bp


def _pop_org_slug(endpoint, values):
    g.org_slug = (values or {}).pop("org_slug", None)


def _add_org_slug(endpoint, values):
    if "org_slug" in values or g.get("org") is None:
        return
    if current_app.url_map.is_endpoint_expecting(endpoint, "org_slug"):
        values["org_slug"] = g.org.slug


def _load_org_and_membership():
    if request.url_rule is not None and not request.url_rule.rule.startswith(ORG_PREFIX):
        return None  # a public route of a blueprint that also has org pages
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    from services import sessions
    # Loading the signed-in user (services/sessions.load_user) fetched the membership too, and bound
    # the org for row-level security, in the same statement; a user loaded otherwise asks here.
    lookup = sessions.org_page_lookup(g.org_slug)
    if lookup is not None:
        membership = lookup.membership
    else:
        membership = db.session.scalar(
            select(Membership)
            .join(Organization, Organization.id == Membership.org_id)
            .where(Organization.slug == g.org_slug, Membership.user_id == current_user.id)
        )
    if membership is None:
        abort(404)
    if not membership.is_active:
        abort(403, description="Your access to this workspace was deactivated by its administrators or identity provider.")
    g.membership = membership
    g.org = membership.org
    bind_org(membership.org, user=current_user, set_by_lookup=lookup is not None and lookup.bound)
    refusal = org_access(membership.org, membership)
    if refusal is not None:
        return refusal
    # The "current org" that /app/settings/... short paths lead to; kept in the session so a GET
    # writes nothing to the database, and set only when it changes, so the cookie is not re-signed
    # and sent again on every page.
    if session.get("last_org_slug") != membership.org.slug:
        session["last_org_slug"] = membership.org.slug


def org_access(org, membership):
    """None when this session may open org's pages; else the response that gets it the grant it lacks.

    The one check behind every org page (services/sessions.py, "Per-org authentication"): an org that
    requires SSO of the person needs its own SSO grant (sent through its IdP; this also covers sessions
    that logged in by password before Require SSO was turned on); any other org accepts a password login
    or its own SSO grant, so one org's IdP never opens another org. An org that requires two-factor of
    the member's role sends an account without a second factor to set one up first (services/twofactor.py;
    a session its own IdP signed in is exempt). The way to the IdP, the login page or the two-factor
    setup is a full-page navigation (an htmx request could not follow it off-site)."""
    import htmx
    from services import sessions, twofactor

    needed = sessions.missing_grant(current_user, org, membership)
    back = request.full_path.rstrip("?") if request.method == "GET" else url_for("orgs.org_overview", org_slug=org.slug)
    if needed == "sso":
        target = url_for("sso.sso_login", org_ref=org.id, next=back)
    elif needed == "password":
        flash(f"{org.name} needs you to log in with your password (or its single sign-on) to open it.", "info")
        target = url_for("auth.login", next=back)
    elif twofactor.page_access_needs_two_factor(
            current_user, membership,
            signed_in_by_sso=lambda: sessions.has_sso_grant(sessions.current_session(), org)):
        flash(f"{org.name} requires two-factor authentication. Add an authenticator app or a passkey to "
              "continue to it.", "warning")
        session[twofactor.RETURN_TO_SESSION_KEY] = back  # offered once a factor is added
        target = url_for("twofactor.account_two_factor")
    else:
        return None
    response = redirect(target)
    return htmx.redirect_client(response, target) if htmx.is_htmx() else response


def bind_org(org, user=None, set_by_lookup=False):
    """From here to the end of the request (or job), PostgreSQL shows this org's rows only, whatever
    a query forgets (db_scope.py). Org pages pass the signed-in user, whose own memberships and
    notifications in other orgs stay readable (the switcher, the bell); SCIM and the API pass none."""
    db_scope.bind_org(org, user=user, set_by_lookup=set_by_lookup)


def requires(permission):
    """Declare the permission a route needs; 403 for members who lack it.

    A suspended org is read-only: every unsafe method is refused whatever the role. The permission is
    recorded on the view so the permission matrix test can read it from the URL map.
    """
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            membership = g.get("membership")
            if membership is None:
                abort(404)
            if not role_can(membership.role, permission):
                # Name the role needed, not Werkzeug's "You don't have the permission ..." (issue 16).
                abort(403, description=missing_role_message(
                    permission, membership.role, membership.org.name, request.method in ("GET", "HEAD")))
            if request.method not in ("GET", "HEAD", "OPTIONS") and membership.org.is_suspended:
                abort(403, description="This workspace is suspended, so it is read-only.")
            return view(*args, **kwargs)

        wrapped.required_permission = permission
        return wrapped

    return decorator


def user_page(view):
    """A signed-in page outside any org (workspaces, inbox, account)."""
    view = login_required(view)
    view.required_permission = "login"
    return view


def public_page(view):
    """A page anyone may open (login, sign-up, invitation links, machine endpoints)."""
    view.required_permission = "public"
    return view


def can(permission):
    """For templates: whether the current member holds a permission."""
    membership = g.get("membership")
    return membership is not None and role_can(membership.role, permission)


def last_org_for(user):
    """The org the /app/settings/... short paths lead to: the last one visited, else the first."""
    slug = session.get("last_org_slug")
    query = select(Organization).join(Membership, Membership.org_id == Organization.id).where(
        Membership.user_id == user.id
    )
    if slug:
        org = db.session.scalar(query.where(Organization.slug == slug))
        if org is not None:
            return org
    return db.session.scalar(query.order_by(Organization.name).limit(1))


def user_workspaces():
    """The signed-in user's orgs for the top-bar switcher (one query, cached for the request)."""
    if "user_workspaces" not in g:
        g.user_workspaces = db.session.scalars(
            select(Organization)
            .join(Membership, Membership.org_id == Organization.id)
            .where(Membership.user_id == current_user.id)
            .order_by(Organization.name)
            .limit(50)
        ).all() if current_user.is_authenticated else []
    return g.user_workspaces
