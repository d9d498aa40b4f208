"""The invitations page of an org: invite by email, pending invitations (resend, revoke), invite link."""
from flask import flash, redirect, request, url_for

from blueprints.formtools import apply_service_error
from blueprints.invitations import bp
from blueprints.invitations.forms import InviteForm, InviteLinkForm, role_choices, role_hint
from extensions import db
from htmx import render_page, wants_fragment
from models import Invitation, Role, utcnow
from permissions import assignable_roles
from request_context import current_actor
from services import ServiceError, invitations
from tenancy import current_membership, current_org, requires

TEMPLATE = "invitations/list.html"


@bp.route("/invitations", methods=["GET", "POST"])
@requires("members.invite")
def invitations_list():
    """Invite someone by email; see pending invitations and the shareable link."""
    form = _invite_form()
    if form.validate_on_submit():
        try:
            invitation = invitations.invite_member(
                current_org, form.email.data, form.role.data, current_actor(), current_membership.role
            )
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            db.session.commit()
            return _done(f"Invitation sent to {invitation.email}.", "success")
    status = 422 if form.errors or form.form_errors else 200
    return _render(status, invite_form=form)


@bp.route("/invitations/<invitation_id>/resend", methods=["POST"])
@requires("members.invite")
def invitations_resend(invitation_id):
    """Email a fresh link to a pending invitee."""
    invitation = Invitation.get_for_org_or_404(current_org.id, invitation_id)
    try:
        invitations.resend_invitation(current_org, invitation, current_actor())
    except ServiceError as error:
        return _done(error.message, "error")
    db.session.commit()
    return _done(f"Invitation sent again to {invitation.email}. The previous link no longer works.", "success")


@bp.route("/invitations/<invitation_id>/revoke", methods=["GET", "POST"])
@requires("members.invite")
def invitations_revoke(invitation_id):
    """Revoke a pending invitation (GET asks for confirmation when JavaScript is off)."""
    invitation = Invitation.get_for_org_or_404(current_org.id, invitation_id)
    if not invitation.is_pending:
        return _done(f"The invitation for {invitation.email} is no longer pending.", "info")
    if request.method == "GET":
        return render_page("invitations/revoke_confirm.html", invitation=invitation)
    invitations.revoke_invitation(current_org, invitation, current_actor())
    db.session.commit()
    return _done(f"Invitation for {invitation.email} revoked. Its link no longer works.", "success")


@bp.route("/invitations/link", methods=["POST"])
@requires("members.invite")
def invite_link_update():
    """Turn the shareable invite link on or off; set its role and allowed domains."""
    form = _link_form()
    if form.validate_on_submit():
        try:
            link = invitations.update_invite_link(
                current_org, current_actor(), current_membership.role,
                form.enabled.data, form.role.data, form.allowed_domains.data,
            )
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            db.session.commit()
            return _done("Invite link turned on." if link.enabled else "Invite link saved (off).", "success")
    return _render(422, link_form=form)


@bp.route("/invitations/link/regenerate", methods=["GET", "POST"])
@requires("members.invite")
def invite_link_regenerate():
    """Replace the invite link's URL (GET asks for confirmation when JavaScript is off)."""
    link = invitations.get_invite_link(current_org)
    if link is None:
        return _done("Set up the invite link first.", "info")
    if request.method == "GET":
        return render_page("invitations/regenerate_confirm.html", link=link)
    invitations.regenerate_invite_link(current_org, current_actor())
    db.session.commit()
    return _done("New invite link created. The old link no longer works.", "success")


# --- helpers of this page ----------------------------------------------------------------------------

def _invite_form(fresh=False):
    form = InviteForm(formdata=None) if fresh else InviteForm()
    form.role.choices = role_choices(assignable_roles(current_membership.role))
    return form


def _link_form(fresh=False):
    link = invitations.get_invite_link(current_org)
    data = {}
    if link is not None:
        data = {"enabled": link.enabled, "role": link.role.value, "allowed_domains": "\n".join(link.allowed_domains)}
    form = InviteLinkForm(formdata=None, data=data) if fresh else InviteLinkForm(data=data)
    roles = [r for r in assignable_roles(current_membership.role) if r != Role.owner]
    form.role.choices = role_choices(roles)
    return form


def _render(status=200, invite_form=None, link_form=None, notice=None, notice_in=None):
    link = invitations.get_invite_link(current_org)
    return render_page(
        TEMPLATE, status=status,
        invite_form=invite_form or _invite_form(fresh=True),
        link_form=link_form or _link_form(fresh=True),
        invitations=invitations.pending_invitations(current_org.id),
        role_hint=role_hint(assignable_roles(current_membership.role)),
        link=link,
        link_url=invitations.invite_link_url(link) if link is not None else None,
        now=utcnow(),
        notice=notice,
        notice_in=notice_in,
    )


def _done(message, category):
    """After an action: htmx swaps the region it targeted, with the message inside; a plain form gets
    a flash and a 303 back to the page (POST/redirect/GET)."""
    block = wants_fragment(TEMPLATE)
    if block:
        return _render(422 if category == "error" else 200, notice=(category, message), notice_in=block)
    flash(message, category)
    return redirect(url_for(".invitations_list"), 303)
