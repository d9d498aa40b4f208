"""Accounts: sign-up, login and logout, password reset by emailed link, and the account page."""
from flask import current_app, flash, redirect, request, url_for
from flask_login import current_user, login_user, logout_user
from sqlalchemy import func, select

from blueprints.auth import bp
from blueprints.auth.forms import (ChangePasswordForm, ForgotPasswordForm, LoginForm, ProfileForm,
                                   ResetPasswordForm, RevokeSessionsForm, SignupForm)
from blueprints.auth.ratelimits import failed_attempt, limit_by_account, limit_by_ip, limit_by_user
from blueprints.formtools import apply_service_error, safe_next_url
from extensions import db
from htmx import render_page
from models import Membership, User
from request_context import client_ip, current_actor
from services import ServiceError, accounts
from services.sso import enforcement as sso_enforcement
from tenancy import public_page, user_page

RESET_SENT_MESSAGE = ("If an account exists for {email}, we sent it a link to choose a new password. "
                      "The link works once and expires in {minutes} minutes.")


# --- Signing up, in and out -----------------------------------------------------------------------

@bp.route("/signup", methods=["GET", "POST"])
@public_page
@limit_by_ip("SIGNUP_RATE_LIMIT_IP", deduct_when=failed_attempt)
def signup():
    """Create an account."""
    form = SignupForm()
    if form.validate_on_submit():
        try:
            user = accounts.sign_up(form.email.data, form.name.data, form.password.data,
                                    ip=client_ip(), user_agent=request.headers.get("User-Agent"))
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            accounts.record_login(user)
            db.session.commit()
            login_user(user)
            flash("Welcome to Orgkit. Create your first workspace to get started.", "success")
            return redirect(safe_next_url(request.args.get("next")) or url_for("workspaces.workspaces_list"), 303)
    return render_page("auth/signup.html", status=422 if form.errors else 200, form=form)


@bp.route("/login", methods=["GET", "POST"])
@public_page
@limit_by_ip("LOGIN_RATE_LIMIT_IP", deduct_when=failed_attempt)
@limit_by_account("LOGIN_RATE_LIMIT_ACCOUNT", deduct_when=failed_attempt)
def login():
    """Log in with email and password."""
    if current_user.is_authenticated:
        return redirect(url_for("workspaces.workspaces_list"))
    form = LoginForm()
    if form.validate_on_submit():
        user = User.by_email(form.email.data)
        if accounts.password_matches(user, form.password.data):
            sso_refusal = sso_enforcement.password_login_refusal(user)
            if user.is_deactivated:
                # Said only to someone who knows the password, so it reveals nothing to a stranger.
                form.form_errors.append("This account was deactivated. Ask your administrator to restore it.")
            elif sso_refusal:
                # Require SSO (services/sso/enforcement.py); owners have the break-glass login.
                form.form_errors.append(sso_refusal)
            else:
                accounts.record_login(user)
                db.session.commit()
                login_user(user, remember=form.remember.data)
                return redirect(safe_next_url(request.args.get("next")) or url_for("workspaces.workspaces_list"), 303)
        else:
            # The same message whether or not the account exists.
            form.form_errors.append("That email and password don't match an account.")
    return render_page("auth/login.html", status=422 if form.errors or form.form_errors else 200, form=form)


@bp.route("/logout", methods=["POST"])
@public_page
def logout():
    """Log out of this browser."""
    logout_user()
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
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            accounts.request_password_reset(email)
            db.session.commit()
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
        status = 400 if error.code == "invalid" else 410
        return render_page("auth/reset_password_invalid.html", status=status, error=error)
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            accounts.reset_password(token, form.password.data, ip=client_ip(),
                                    user_agent=request.headers.get("User-Agent"))
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            db.session.commit()
            logout_user()  # whoever was signed in here, every session of this account just ended
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
                                     current_actor())
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            db.session.commit()
            # The epoch moved on, so this browser's session is stale too: sign it in again under the new one.
            login_user(current_user._get_current_object())
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
        db.session.commit()
        logout_user()
        flash("You were logged out of every session, including this one. Log in again to continue.", "success")
        return redirect(url_for("auth.login"), 303)
    # GET, or a plain form post from a browser without JavaScript: ask first.
    return render_page("auth/revoke_sessions_confirm.html", form=form)


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
    )
