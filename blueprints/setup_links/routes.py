"""Setup links of an org (owners only: trust.manage), under /app/o/<org_slug>/settings/setup-links.

    GET       ""                               setup_links_list    (scope, creator, expiry, last use, state)
    POST      ""                               setup_links_create  (the link is shown once, on this response)
    GET,POST  /<setup_link_id>/revoke          setup_links_revoke  (GET asks to confirm)
"""
from flask import flash, redirect, url_for
from flask_login import current_user

from blueprints.formtools import apply_service_error
from blueprints.setup_links import bp
from blueprints.setup_links.forms import ConfirmForm, CreateLinkForm
from extensions import db
from htmx import render_page
from models import SetupLink, utcnow
from request_context import current_actor
from services import ServiceError, setup_links
from tenancy import current_org, requires

PREFIX = "/app/o/<org_slug>/settings/setup-links"


def _page(status=200, form=None, new_link=None, new_url=None):
    response = render_page("setup_links/list.html", status=status, links=setup_links.links_of_org(current_org.id),
                           now=utcnow(), form=form or CreateLinkForm(formdata=None), new_link=new_link,
                           new_url=new_url, scope_labels=setup_links.SCOPE_LABELS)
    if new_url:
        # The link is a credential: not kept by any cache, and (hx-history="false" in the page) not
        # snapshotted by htmx into sessionStorage for the Back button.
        return response[0], response[1], {"Cache-Control": "no-store"}
    return response


@bp.route(PREFIX)
@requires("trust.manage")
def setup_links_list():
    """The org's setup links and the form that makes one."""
    return _page()


@bp.route(PREFIX, methods=["POST"])
@requires("trust.manage")
def setup_links_create():
    """Make a link (and email it when asked); it is shown once, on this response."""
    form = CreateLinkForm()
    if not form.validate_on_submit():
        return _page(422, form=form)
    try:
        link, token = setup_links.create_link(current_org, current_actor(), form.scopes.data, form.days.data,
                                              form.send_to.data, created_by=current_user)
    except ServiceError as error:
        apply_service_error(form, error)
        return _page(422, form=form)
    db.session.commit()
    return _page(new_link=link, new_url=setup_links.link_url(token))


@bp.route(PREFIX + "/<setup_link_id>/revoke", methods=["GET", "POST"])
@requires("trust.manage")
def setup_links_revoke(setup_link_id):
    """Revoke a link at once (GET asks for confirmation, for browsers without JavaScript)."""
    link = SetupLink.get_for_org_or_404(current_org.id, setup_link_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        setup_links.revoke_link(current_org, link, current_actor())
        db.session.commit()
        flash(f"Setup link {link.prefix}… revoked: it stops working at once, pages already open included.", "success")
        return redirect(url_for("setup_links.setup_links_list") + "#links", 303)
    return render_page("setup_links/revoke.html", link=link, form=form)
