"""An org's overview and general settings: rename, delete, leave."""
from flask import flash, redirect, url_for

from blueprints.formtools import apply_service_error
from blueprints.orgs import bp
from blueprints.orgs.forms import DeleteOrgForm, LeaveOrgForm, OrgSettingsForm
from extensions import db
from models import Role
from htmx import render_page
from request_context import current_actor
from services import ServiceError, audit, notifications, orgs
from tenancy import can, current_membership, current_org, requires


@bp.route("/")
@requires("org.read")
def org_overview():
    """The workspace at a glance: people, my role, recent activity and next steps."""
    member_count = orgs.member_count(current_org.id)
    pending = orgs.pending_invitation_count(current_org.id)
    return render_page(
        "orgs/overview.html",
        member_count=member_count,
        pending_invitations=pending,
        recent_activity=[(event, notifications.event_sentence(event, current_org))
                         for event in audit.recent_events(current_org.id)] if can("audit.read") else [],
        is_new_workspace=member_count <= 1 and pending == 0,
    )


@bp.route("/settings")
@requires("org.read")
def org_settings():
    """General settings: name and address (admins), delete (owners), leave (everyone)."""
    form = OrgSettingsForm(data={"name": current_org.name, "slug": current_org.slug})
    return render_page("orgs/settings.html", form=form)


@bp.route("/settings", methods=["POST"])
@requires("org.manage")
def org_settings_update():
    """Rename the workspace or change its address."""
    form = OrgSettingsForm()
    if form.validate_on_submit():
        try:
            changes = orgs.update_org(current_org, current_actor(), name=form.name.data, slug=form.slug.data)
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            db.session.commit()
            flash("Settings saved." if changes else "Nothing changed.", "success" if changes else "info")
            # The slug may have changed: go to the page's new address.
            return redirect(url_for("orgs.org_settings", org_slug=current_org.slug), 303)
    return render_page("orgs/settings.html", status=422, form=form)


@bp.route("/settings/delete", methods=["GET", "POST"])
@requires("org.delete")
def org_delete():
    """Delete the workspace, after typing its address (owners only)."""
    form = DeleteOrgForm()
    if form.validate_on_submit():
        name = current_org.name
        try:
            orgs.delete_org(current_org, current_actor(), form.confirmation.data)
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            db.session.commit()
            flash(f"Workspace {name} was deleted.", "success")
            return redirect(url_for("workspaces.workspaces_list"), 303)
    return render_page("orgs/delete.html", status=422 if form.errors or form.form_errors else 200, form=form)


@bp.route("/leave", methods=["GET", "POST"])
@requires("org.read")
def org_leave():
    """Leave the workspace (any member; the last owner is refused)."""
    form = LeaveOrgForm()
    if form.validate_on_submit():
        name = current_org.name
        try:
            orgs.leave_org(current_org, current_membership, current_actor())
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            db.session.commit()
            flash(f"You left {name}.", "success")
            return redirect(url_for("workspaces.workspaces_list"), 303)
    return render_page("orgs/leave.html", status=422 if form.form_errors else 200, form=form,
                       is_last_owner=_is_last_owner())


def _is_last_owner():
    return current_membership.role == Role.owner and orgs.active_owner_count(current_org.id) <= 1
