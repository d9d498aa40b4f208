"""Members of an org: search and browse, change a role inline, remove with confirmation."""
from flask import current_app, flash, get_template_attribute, make_response, redirect, request, url_for
from flask_wtf.csrf import generate_csrf
from flask_login import current_user
from jinja2.utils import htmlsafe_json_dumps

from blueprints.members import bp
from blueprints.members.forms import RemoveMemberForm, RoleForm
from extensions import db
from htmx import render_page, render_region, toast, wants_region
from models import Membership, Role
from permissions import assignable_roles, role_can
from request_context import current_actor
from services import ServiceError, orgs, twofactor
from tenancy import current_membership, current_org, requires

LIST_TEMPLATE = "members/list.html"  # its rows come from the member_row macro in members/_row.html


@bp.route("")
@requires("members.read")
def members_list():
    """Everyone in the workspace, searchable by name or email, 50 to a page."""
    return _render_list()


@bp.route("/<membership_id>/role", methods=["POST"])
@requires("members.manage")
def members_role_update(membership_id):
    """Change one member's role (htmx swaps the row; without JS the page reloads)."""
    membership = Membership.get_for_org_or_404(current_org.id, membership_id)
    form = RoleForm()
    try:
        if not form.validate_on_submit():
            raise ServiceError("Choose a role.", field="role")
        asks_confirmation = _changes_ownership(membership, form.role.data) and form.confirmed.data != "yes"
        orgs.change_role(current_org, membership, form.role.data, current_actor(), current_membership.role)
    except ServiceError as error:
        db.session.rollback()
        return _row_or_page(membership_id, status=422, error=error.message)
    if asks_confirmation:
        # Allowed (the service said so, refusals come first), but granting or removing ownership is
        # done only once confirmed: nothing of this attempt is kept.
        new_role = membership.role
        db.session.rollback()
        if wants_region():  # app.js confirms in its dialog before it posts; this one skipped it
            return _row_or_page(membership_id, status=422, error="Confirm the change of ownership first.")
        return render_page("members/role_confirm.html", form=form, membership=membership, new_role=new_role)
    db.session.commit()
    if wants_region():
        return _render_row(membership_id, saved=True)
    flash(f"{membership.user.name} is now {Role(membership.role).value}.", "success")
    return redirect(_list_url(), 303)


@bp.route("/<membership_id>/remove", methods=["GET", "POST"])
@requires("members.manage")
def members_remove(membership_id):
    """Remove a member: GET asks for confirmation (the no-JS path), POST removes."""
    membership = Membership.get_for_org_or_404(current_org.id, membership_id)
    form = RemoveMemberForm()
    if request.method == "POST" and form.validate_on_submit():
        name = membership.user.name
        try:
            orgs.remove_member(current_org, membership, current_actor(), current_membership.role)
        except ServiceError as error:
            db.session.rollback()
            if wants_region():
                return _render_row(membership_id, status=422, error=error.message)
            form.form_errors.append(error.message)
            return render_page("members/remove.html", status=422, form=form, membership=membership)
        db.session.commit()
        if wants_region():
            # The row goes (swapped for nothing), the count follows out of band, a toast says so.
            # A boosted post from the confirmation page gets the redirect below, like a browser.
            search = request.values.get("q", "")
            page = orgs.members_page(current_org.id, search, _page_number())
            response = make_response(render_region(LIST_TEMPLATE, "member_total", page=page, q=search, oob=True))
            return toast(response, f"{name} was removed from {current_org.name}.")
        flash(f"{name} was removed from {current_org.name}.", "success")
        return redirect(_list_url(), 303)
    return render_page("members/remove.html", form=form, membership=membership,
                       status=422 if request.method == "POST" else 200)


# --- helpers ---------------------------------------------------------------------------------------

def _page_number():
    try:
        return int(request.values.get("page", 1))
    except ValueError:
        return 1


def _list_url():
    # Back to the list the form was on (search and page travel in the form's hidden fields).
    args = {key: value for key in ("q", "page") if (value := request.form.get(key) or request.args.get(key))}
    return url_for("members.members_list", **args)


def _row_context(memberships, row_errors=None, saved_id=None):
    """What every row of the table shares, computed once per request (see members/_row.html)."""
    my_role, me_id = current_membership.role, current_user.id
    writable = not current_org.is_suspended and role_can(my_role, "members.manage")

    def can_manage(member):
        if not writable or member.user_id == me_id:
            return False
        return member.role != Role.owner or role_can(my_role, "owners.manage")

    return {
        "can_manage": can_manage, "role_choices": assignable_roles(my_role), "me_id": me_id,
        "org_name": current_org.name, "members_url": url_for("members.members_list"),
        "csrf_value": generate_csrf(), "q": request.values.get("q", ""), "page_number": _page_number(),
        # Where the list was (search and page) for a row's Remove to come back to: the same on every row.
        "hx_vals": htmlsafe_json_dumps({"q": request.values.get("q", ""), "page": _page_number()}, dumps=current_app.json.dumps),
        "row_errors": row_errors or {}, "saved_id": saved_id,
        # Who has a second factor (services/twofactor.py), in one query for the page.
        "two_factor_ids": twofactor.users_with_two_factor(m.user_id for m in memberships),
    }


def _render_list(status=200, row_errors=None):
    search = request.values.get("q", "")
    page = orgs.members_page(current_org.id, search, _page_number())
    return render_page(LIST_TEMPLATE, status=status, page=page, q=search, row=_row_context(page.rows, row_errors))


def _render_row(membership_id, status=200, error=None, saved=False):
    """The one <tr> htmx swaps, rendered by the same macro as the page's rows."""
    membership = Membership.get_for_org_or_404(current_org.id, membership_id)
    member_row = get_template_attribute("members/_row.html", "member_row")
    row = _row_context([membership], {membership.id: error} if error else None, membership.id if saved else None)
    return member_row(membership, row), status


def _changes_ownership(membership, new_role):
    """Granting or taking away ownership: the change that asks for confirmation first."""
    return new_role != Role(membership.role).value and Role.owner.value in (new_role, Role(membership.role).value)


def _row_or_page(membership_id, status, error):
    if wants_region():
        return _render_row(membership_id, status=status, error=error)
    flash(error, "error")
    membership = Membership.get_for_org_or_404(current_org.id, membership_id)
    return _render_list(status=status, row_errors={membership.id: error})
