"""The pages invitation links open, for anyone holding one: accept (logged in as the invited address),
sign up from the link, switch account; and the org's shareable invite link."""
from flask import Blueprint, current_app, flash, redirect, request, url_for
from flask_login import current_user

from blueprints.formtools import apply_service_error
from blueprints.invitations.forms import InvitationSignupForm, JoinRequestForm
from extensions import db, limiter
from htmx import render_page
from models import User, normalise_email
from request_context import client_ip, current_actor
from services import ServiceError, invitations, sessions
from services.invitations import InvitationUnavailable
from tenancy import public_page

bp = Blueprint("invites", __name__)


@bp.route("/invitations/<token>")
@public_page
def invitation_show(token):
    """What this invitation is, and the way to accept it that fits who is looking."""
    try:
        invitation = invitations.find_invitation(token)
        invitations.check_usable(invitation)
    except InvitationUnavailable as error:
        joined = error.invitation is not None and error.code == "used" and current_user.is_authenticated \
            and invitations.is_member(error.invitation.org, current_user)
        if joined:
            # Opening the link again after joining (from the email, a bookmark): just go there.
            flash(f"You are already a member of {error.invitation.org.name}.", "info")
            return redirect(url_for("orgs.org_overview", org_slug=error.invitation.org.slug))
        return _unavailable(error)
    return _render_invitation(token, invitation, InvitationSignupForm())


@bp.route("/invitations/<token>/accept", methods=["POST"])
@public_page
def invitation_accept(token):
    """Join the workspace as the logged-in user, whose address the invitation names."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=url_for(".invitation_show", token=token)), 303)
    try:
        membership = invitations.accept_invitation(token, current_user, current_actor())
    except InvitationUnavailable as error:
        return _unavailable(error)
    db.session.commit()
    flash(f"Welcome to {membership.org.name}. You joined as {membership.role.value}.", "success")
    return redirect(url_for("orgs.org_overview", org_slug=membership.org.slug), 303)


@bp.route("/invitations/<token>/signup", methods=["POST"])
@public_page
def invitation_signup(token):
    """Create an account for the invited address and join, in one step."""
    if current_user.is_authenticated:
        return redirect(url_for(".invitation_show", token=token), 303)
    form = InvitationSignupForm()
    try:
        invitation = invitations.find_invitation(token)
        invitations.check_usable(invitation)
        if form.validate_on_submit():
            user, membership = invitations.sign_up_and_accept(
                token, form.name.data, form.password.data, client_ip(), request.headers.get("User-Agent")
            )
            sessions.start_password_session(user)
            db.session.commit()
            flash(f"Welcome to {membership.org.name}. Your account is ready.", "success")
            return redirect(url_for("orgs.org_overview", org_slug=membership.org.slug), 303)
    except InvitationUnavailable as error:
        return _unavailable(error)
    except ServiceError as error:
        db.session.rollback()
        apply_service_error(form, error)
    return _render_invitation(token, invitation, form, status=422)


@bp.route("/invitations/<token>/switch-account", methods=["POST"])
@public_page
def invitation_switch_account(token):
    """Log out, then come back to the invitation to log in or sign up as the invited address."""
    sessions.end_session()
    db.session.commit()
    flash("You are logged out. Log in or sign up as the invited address to accept.", "info")
    return redirect(url_for(".invitation_show", token=token), 303)


@bp.route("/join/<token>", methods=["GET", "POST"])
@public_page
@limiter.limit(lambda: current_app.config["INVITE_LINK_RATE_LIMIT"], methods=["POST"])
def invite_link_show(token):
    """The shareable invite link: enter an address in an allowed domain to get an invitation by email."""
    try:
        link = invitations.resolve_invite_link(token)
    except InvitationUnavailable as error:
        return _unavailable(error)
    if current_user.is_authenticated and invitations.is_member(link.org, current_user):
        return render_page("invitations/join.html", link=link, form=None, already_member=True)
    form = JoinRequestForm()
    if request.method == "GET" and current_user.is_authenticated:
        form.email.data = current_user.email
    if form.validate_on_submit():
        email = normalise_email(form.email.data)
        actor = current_actor() if current_user.is_authenticated else invitations.link_actor(
            link, email, client_ip(), request.headers.get("User-Agent"))
        try:
            invitations.request_to_join(token, email, actor)
        except InvitationUnavailable as error:
            return _unavailable(error)
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            db.session.commit()
            flash(f"Check your inbox: if {email} can join {link.org.name}, we sent it a link. "
                  "Open it to finish joining.", "success")
            return redirect(url_for(".invite_link_show", token=token), 303)
    status = 422 if form.errors else 200
    return render_page("invitations/join.html", status=status, link=link, form=form, already_member=False)


def _render_invitation(token, invitation, form, status=200):
    if current_user.is_authenticated:
        view = "accept" if normalise_email(current_user.email) == invitation.email else "wrong_account"
    else:
        view = "login" if User.by_email(invitation.email) is not None else "signup"
    return render_page("invitations/accept.html", status=status, token=token, invitation=invitation,
                       org=invitation.org, view=view, form=form)


def _unavailable(error):
    db.session.rollback()
    return render_page("invitations/unavailable.html", status=error.status, error=error)
