"""Accounts: sign-up and password reset by emailed link, login and logout, and the account page."""
import uuid

from flask import abort, current_app, flash, redirect, request, url_for
from flask_limiter.errors import RateLimitExceeded
from flask_login import current_user
from redis.exceptions import RedisError
from sqlalchemy import func, select

from blueprints.auth import bp
from blueprints.auth.forms import (ChangePasswordForm, FinishSignupForm, ForgotPasswordForm, LoginForm,
                                   ProfileForm, ResetPasswordForm, RevokeSessionsForm, SignupForm)
from blueprints.auth.ratelimits import (failed_attempt, limit_by_account, limit_by_ip, limit_by_user,
                                         limit_password_tries_by_account, too_many_attempts_response)
from blueprints.sso.forms import ConfirmForm
from blueprints.formtools import apply_service_error
from blueprints.twofactor.login import continue_login
from extensions import db, jobs
from jobs import email as email_jobs
from htmx import render_page
from models import Membership, Organization, User, parse_uuid
from request_context import client_ip, current_actor
from services import ServiceError, accounts, sessions, twofactor
from services.redirects import safe_next_url
from services.sso import identities as sso_identities
from tenancy import public_page, user_page

SIGN_UP_SENT_MESSAGE = ("Check your inbox: we sent {email} a link to continue. It expires in {minutes} minutes. "
                        "Nothing there after a few minutes? Look in spam, or ask again.")
RESET_SENT_MESSAGE = ("If an account exists for {email}, we sent it a link to choose a new password. "
                      "The link works once and expires in {minutes} minutes.")


# --- Signing up, in and out -----------------------------------------------------------------------

@bp.route("/signup", methods=["GET", "POST"])
@public_page
@limit_by_ip("SIGNUP_RATE_LIMIT_IP")
@limit_by_account("SIGNUP_RATE_LIMIT_ACCOUNT")
def signup():
    """Ask for an account: the answer is always "check your email" (services/accounts.py says why)."""
    form = SignupForm()
    if form.validate_on_submit():
        try:
            email = accounts.clean_email(form.email.data)
            _email_from_worker(email_jobs.email_sign_up_link, email, safe_next_url(request.args.get("next")))
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            flash(SIGN_UP_SENT_MESSAGE.format(email=email, minutes=current_app.config["SIGNUP_LINK_TTL_MINUTES"]),
                  "info")
            return redirect(url_for("auth.signup"), 303)
    return render_page("auth/signup.html", status=422 if form.errors else 200, form=form)


@bp.route("/signup/<token>", methods=["GET", "POST"])
@public_page
def signup_finish(token):
    """Finish creating an account from the emailed link: a name and a password."""
    try:
        email, _next_path = accounts.sign_up_link_details(token)
    except accounts.EmailedLinkError as error:
        return _link_problem(error, "auth.signup")
    form = FinishSignupForm()
    if form.validate_on_submit():
        try:
            user, next_path = accounts.finish_sign_up(token, form.name.data, form.password.data, ip=client_ip(),
                                                      user_agent=request.headers.get("User-Agent"))
        except ServiceError as error:
            db.session.rollback()
            apply_service_error(form, error)
        else:
            accounts.record_login(user)
            sessions.start_password_session(user)
            db.session.commit()
            flash("Welcome to Orgkit. Create your first workspace to get started.", "success")
            return redirect(safe_next_url(next_path) or url_for("workspaces.workspaces_list"), 303)
    return render_page("auth/signup_finish.html", status=422 if form.errors else 200, form=form, email=email)


def _email_from_worker(job, *args):
    """Hand an account email to the worker, which decides what to send (who has an account is
    looked up there, not in the request). Redis down: a form error, the same whoever asks."""
    try:
        jobs.enqueue("email", job, *args, job_id=f"{job.__name__}-{uuid.uuid4().hex}")
    except RedisError:
        raise ServiceError("We could not send the email just now. Try again in a minute.") from None


def _link_problem(error, retry_endpoint):
    status = 400 if error.code == "invalid" else 410
    return render_page("auth/link_problem.html", status=status, error=error, retry_url=url_for(retry_endpoint))


@bp.route("/login", methods=["GET", "POST"])
@public_page
@limit_by_ip("LOGIN_RATE_LIMIT_IP", deduct_when=failed_attempt)
@limit_password_tries_by_account()
def login():
    """Log in with email and password (also to add a password login to a session an IdP started)."""
    if sessions.current_session() is not None and sessions.current_session().password_method:
        return redirect(safe_next_url(request.args.get("next")) or url_for("workspaces.workspaces_list"))
    form = LoginForm()
    if request.method == "GET" and current_user.is_authenticated:
        form.email.data = current_user.email
    if form.validate_on_submit():
        user = User.by_email(form.email.data)
        if accounts.password_matches(user, form.password.data):
            if user.is_deactivated:
                # Said only to someone who knows the password, so it reveals nothing to a stranger.
                form.form_errors.append("This account was deactivated. Ask your administrator to restore it.")
            else:
                # The second factor, when the account has one (blueprints/twofactor/login.py).
                return continue_login(user, remember=form.remember.data, next_url=request.args.get("next"))
        else:
            # The same message whether or not the account exists.
            form.form_errors.append("That email and password don't match an account.")
    return render_page("auth/login.html", status=422 if form.errors or form.form_errors else 200, form=form)


@bp.route("/logout", methods=["POST"])
@public_page
def logout():
    """Log out of this browser: the session ends on the server, so a copy of its cookies stops working."""
    sessions.end_session()
    db.session.commit()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"), 303)


@bp.route("/")
@public_page
def index():
    """The front door: workspaces when logged in, else the login page."""
    return redirect(url_for("workspaces.workspaces_list") if current_user.is_authenticated else url_for("auth.login"))


# --- Forgotten password ---------------------------------------------------------------------------

@bp.route("/forgot-password", methods=["GET", "POST"])
@public_page
@limit_by_ip("FORGOT_PASSWORD_RATE_LIMIT_IP")
@limit_by_account("FORGOT_PASSWORD_RATE_LIMIT_ACCOUNT")
def forgot_password():
    """Ask for a password reset link by email."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        try:
            email = accounts.clean_email(form.email.data)
            _email_from_worker(email_jobs.email_password_reset, email)
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            flash(RESET_SENT_MESSAGE.format(email=email, minutes=_reset_ttl_minutes()), "info")
            return redirect(url_for("auth.forgot_password"), 303)
    return render_page("auth/forgot_password.html", status=422 if form.errors else 200, form=form)


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
@public_page
def reset_password(token):
    """Choose a new password from an emailed link."""
    try:
        user = accounts.user_for_reset_token(token)
    except accounts.ResetTokenError as error:
        return _link_problem(error, "auth.forgot_password")
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            accounts.reset_password(token, form.password.data, ip=client_ip(),
                                    user_agent=request.headers.get("User-Agent"))
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            sessions.end_session("password_reset")  # whoever was signed in here: every session of the account ended
            db.session.commit()
            flash("Your password was changed and every session was logged out. Log in with your new password.",
                  "success")
            return redirect(url_for("auth.login"), 303)
    return render_page("auth/reset_password.html", status=422 if form.errors else 200, form=form, user=user)


def _reset_ttl_minutes():
    return current_app.config["PASSWORD_RESET_TTL_MINUTES"]


# --- The account page -----------------------------------------------------------------------------

@bp.route("/app/account")
@user_page
def account_settings():
    """My name, email and password, and logging out everywhere."""
    return _render_account()


@bp.route("/app/account/profile", methods=["POST"])
@user_page
def account_profile_update():
    """Change my display name."""
    form = ProfileForm()
    if form.validate_on_submit():
        try:
            changed = accounts.update_profile(current_user, form.name.data, current_actor())
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            db.session.commit()
            flash("Your name was updated." if changed else "Nothing to change.", "success" if changed else "info")
            return redirect(url_for("auth.account_settings"), 303)
    return _render_account(profile_form=form, status=422)


@bp.route("/app/account/password", methods=["POST"])
@user_page
@limit_by_user("LOGIN_RATE_LIMIT_ACCOUNT", deduct_when=failed_attempt)
def account_password_change():
    """Change my password (needs the current one); my other sessions end."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            accounts.change_password(current_user, form.current_password.data, form.new_password.data,
                                     current_actor(), keep_session=sessions.current_session())
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            db.session.commit()
            flash("Your password was changed. Your other sessions were logged out.", "success")
            return redirect(url_for("auth.account_settings"), 303)
    return _render_account(password_form=form, status=422)


@bp.route("/app/account/sessions/revoke", methods=["GET", "POST"])
@user_page
def account_sessions_revoke():
    """Log out of every session on every device (after a confirmation)."""
    form = RevokeSessionsForm()
    if request.method == "POST" and form.validate_on_submit() and form.confirmed.data == "yes":
        user = current_user._get_current_object()
        accounts.revoke_sessions(user, current_actor())
        sessions.end_session("sessions_revoked")
        db.session.commit()
        flash("You were logged out of every session, including this one. Log in again to continue.", "success")
        return redirect(url_for("auth.login"), 303)
    # GET, or a plain form post from a browser without JavaScript: ask first.
    return render_page("auth/revoke_sessions_confirm.html", form=form)


@bp.route("/app/account/identities/<sso_identity_id>/delete", methods=["GET", "POST"])
@user_page
def account_identities_delete(sso_identity_id):
    """Unlink a workspace's identity provider from my account (GET asks to confirm)."""
    identity = sso_identities.identity_of(current_user, parse_uuid(sso_identity_id)) if parse_uuid(sso_identity_id) else None
    if identity is None:
        abort(404)
    org = db.session.get(Organization, identity.org_id)
    form = ConfirmForm()
    if request.method == "POST" and form.validate_on_submit():
        sso_identities.unlink_identity(org, identity, current_actor())
        db.session.commit()
        flash(f"{org.name}'s identity provider is no longer linked to your account.", "success")
        return redirect(url_for("auth.account_settings") + "#linked_identities", 303)
    return render_page("sso/confirm.html", form=form, title=f"Unlink {org.name}'s single sign-on?",
                       text=f"{org.name}'s identity provider will no longer sign you in, and your single sign-on "
                            f"sessions for {org.name} end. You stay a member; {org.name} may ask you to link again.",
                       action=url_for("auth.account_identities_delete", sso_identity_id=identity.id), button="Unlink",
                       cancel_url=url_for("auth.account_settings") + "#linked_identities")


def _render_account(profile_form=None, password_form=None, status=200):
    user = current_user
    workspace_count = db.session.scalar(select(func.count()).select_from(Membership)
                                        .where(Membership.user_id == user.id))
    return render_page(
        "auth/account.html", status=status,
        profile_form=profile_form or ProfileForm(formdata=None, name=user.name),
        password_form=password_form or ChangePasswordForm(formdata=None),
        revoke_form=RevokeSessionsForm(formdata=None),
        workspace_count=workspace_count,
        two_factor_on=twofactor.has_two_factor(user.id),
        identities=sso_identities.linked_identities(user),
        managed_by=db.session.get(Organization, user.managed_by_org_id) if user.managed_by_org_id else None,
    )


@bp.errorhandler(RateLimitExceeded)
def too_many_attempts(exc):
    """429 on the door's own page (ratelimits.py builds it; the account page is rendered here)."""
    return too_many_attempts_response(_render_account)
