"""Sign-up, login and logout."""
from flask import flash, redirect, request, url_for
from flask_login import current_user, login_user, logout_user

from blueprints.auth import bp
from blueprints.auth.forms import LoginForm, SignupForm
from extensions import db
from htmx import render_page
from models import User
from services import ServiceError, accounts
from blueprints.formtools import apply_service_error, safe_next_url
from tenancy import public_page


@bp.route("/signup", methods=["GET", "POST"])
@public_page
def signup():
    """Create an account."""
    form = SignupForm()
    if form.validate_on_submit():
        try:
            user = accounts.create_user(form.email.data, form.name.data, form.password.data)
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            db.session.commit()
            login_user(user)
            flash("Welcome to Orgkit. Create your first workspace to get started.", "success")
            return redirect(safe_next_url(request.args.get("next")) or url_for("workspaces.workspaces_list"), 303)
    return render_page("auth/signup.html", status=422 if form.errors else 200, form=form)


@bp.route("/login", methods=["GET", "POST"])
@public_page
def login():
    """Log in with email and password."""
    if current_user.is_authenticated:
        return redirect(url_for("workspaces.workspaces_list"))
    form = LoginForm()
    if form.validate_on_submit():
        user = User.by_email(form.email.data)
        if user is not None and user.is_active and accounts.password_matches(user, form.password.data):
            accounts.record_login(user)
            db.session.commit()
            login_user(user, remember=form.remember.data)
            return redirect(safe_next_url(request.args.get("next")) or url_for("workspaces.workspaces_list"), 303)
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
