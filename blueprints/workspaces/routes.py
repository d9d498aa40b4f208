"""The signed-in user's workspaces, and the /app/settings/... short paths to the current org."""
from flask import flash, redirect, url_for
from flask_login import current_user
from sqlalchemy import func, select

from blueprints.formtools import apply_service_error
from blueprints.workspaces import bp
from blueprints.workspaces.forms import CreateWorkspaceForm
from extensions import db
from htmx import render_page
from models import Membership, Organization
from services import ServiceError, orgs
from tenancy import last_org_for, user_page
from request_context import current_actor


@bp.route("/workspaces", methods=["GET", "POST"])
@user_page
def workspaces_list():
    """My workspaces with my role and member count, and a form to create one."""
    form = CreateWorkspaceForm()
    if form.validate_on_submit():
        try:
            org = orgs.create_org(form.name.data, current_user, current_actor())
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            db.session.commit()
            flash(f"Workspace {org.name} created. Invite your team next.", "success")
            return redirect(url_for("orgs.org_overview", org_slug=org.slug), 303)
    member_counts = (
        select(Membership.org_id, func.count().label("members")).group_by(Membership.org_id).subquery()
    )
    rows = db.session.execute(
        select(Organization, Membership.role, member_counts.c.members)
        .join(Membership, Membership.org_id == Organization.id)
        .join(member_counts, member_counts.c.org_id == Organization.id)
        .where(Membership.user_id == current_user.id)
        .order_by(Organization.name)
    ).all()
    return render_page("workspaces/list.html", status=422 if form.errors else 200, form=form, rows=rows)


# The short settings paths lead to the current (last used) org's page of the same name.
SHORT_SETTINGS = {
    "sso": "sso.sso_settings",
    "scim": "scim.scim_settings",
    "api-keys": "api_keys.api_keys_list",
}


@bp.route("/settings/<any(sso, scim, 'api-keys'):section>")
@user_page
def settings_shortcut(section):
    """Go to this setting of the workspace I used last."""
    org = last_org_for(current_user)
    if org is None:
        flash("Create or join a workspace first: settings belong to a workspace.", "info")
        return redirect(url_for("workspaces.workspaces_list"))
    return redirect(url_for(SHORT_SETTINGS[section], org_slug=org.slug))
