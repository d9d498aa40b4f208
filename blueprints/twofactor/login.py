"""The second step of a login, and signing in with a passkey alone.

    GET,POST  /login/two-factor                 login_two_factor           (authenticator code)
    GET,POST  /login/two-factor/recovery        login_recovery_code        (a recovery code)
    POST      /login/two-factor/passkey/options login_passkey_step_options (JSON, for static/js/passkeys.js)
    POST      /login/two-factor/passkey         login_passkey_step         (JSON)
    POST      /login/passkey/options            login_passkey_options      (JSON: passkey sign-in, no password)
    POST      /login/passkey                    login_passkey              (JSON)

Between a correct password and the second factor the session holds only a pending login (the user
id, the session epoch, an expiry and where to go next), never a signed-in user: continue_login() is
what every password-style door (the login form, break-glass) calls once the password is right.
"""
import time

from flask import current_app, flash, jsonify, redirect, request, session, url_for
from webauthn.helpers import bytes_to_base64url

from blueprints.auth.ratelimits import failed_attempt
from blueprints.formtools import apply_service_error
from blueprints.twofactor import bp
from blueprints.twofactor.forms import CodeForm, RecoveryCodeForm
from extensions import db, limiter
from htmx import render_page
from models import User, parse_uuid
from request_context import client_ip
from services import ServiceError, accounts, sessions, twofactor
from services.events import Actor
from services.redirects import safe_next_url
from tenancy import public_page

PENDING = "two_factor_pending"
LOGIN_CHALLENGE = "webauthn_login_challenge"
REAUTHENTICATED = "reauthenticated"  # {"user_id", "at"}: the sudo-mode clock (blueprints/twofactor/account.py)
DEVICE_COOKIE = "orgkit_2fa_device"
WRONG_CODE = "That code doesn't match, or it was already used. Enter the code your app shows now."


# --- Entering the second step ---------------------------------------------------------------------

def continue_login(user, remember=False, next_url=None, break_glass=False):
    """After a correct password: sign in now when the account has no second factor (or this browser
    is remembered), else start the second step. Commits. Returns the redirect."""
    if twofactor.has_two_factor(user.id) and not twofactor.device_is_remembered(user, request.cookies.get(DEVICE_COOKIE)):
        session.pop(PENDING, None)
        session[PENDING] = {
            "user_id": str(user.id), "epoch": user.session_epoch, "remember": bool(remember),
            "break_glass": bool(break_glass), "next": safe_next_url(next_url),
            "expires": int(time.time()) + current_app.config["TWO_FACTOR_LOGIN_MINUTES"] * 60,
        }
        db.session.commit()
        return redirect(url_for("twofactor.login_two_factor"), 303)
    return _signed_in(user, remember, break_glass, next_url)


def _signed_in(user, remember, break_glass, next_url, device_token=None):
    """The login is complete: the session becomes a signed-in one. Commits."""
    accounts.record_login(user)
    # The server-side session and its password grant (services/sessions.py); this clears the Flask
    # session (the pending login and challenge with it) and rotates the CSRF token.
    sessions.start_password_session(user, remember=remember,
                                    method=sessions.BREAK_GLASS if break_glass else sessions.PASSWORD)
    db.session.commit()
    mark_reauthenticated(user)
    if break_glass:
        flash("You are logged in with your password (break-glass). This login was recorded.", "info")
    response = redirect(safe_next_url(next_url) or url_for("workspaces.workspaces_list"), 303)
    if device_token:
        response.set_cookie(DEVICE_COOKIE, device_token, max_age=current_app.config["TWO_FACTOR_REMEMBER_DAYS"] * 86400,
                            httponly=True, secure=current_app.config["SESSION_COOKIE_SECURE"],
                            samesite=current_app.config["SESSION_COOKIE_SAMESITE"])
    return response


def mark_reauthenticated(user):
    session[REAUTHENTICATED] = {"user_id": str(user.id), "at": int(time.time())}


def _pending_user():
    """The user of the pending login in this session, or None (none, expired, or ended since)."""
    pending = session.get(PENDING)
    if not isinstance(pending, dict) or pending.get("expires", 0) < time.time():
        return None
    user_id = parse_uuid(pending.get("user_id"))
    user = db.session.get(User, user_id) if user_id else None
    if user is None or user.is_deactivated or user.session_epoch != pending.get("epoch"):
        return None
    return user


def _pending_key():
    # Wrong codes are counted per account (the pending user), whichever browser or IP sends them.
    pending = session.get(PENDING)
    return "two-factor:" + str(pending.get("user_id") if isinstance(pending, dict) else None)


def _limit_codes():
    return limiter.shared_limit(lambda: current_app.config["TWO_FACTOR_RATE_LIMIT"], scope="two-factor-login",
                                key_func=_pending_key, methods=["POST"], deduct_when=failed_attempt)


def _expired():
    session.pop(PENDING, None)
    flash("Your login took too long or was ended. Log in again.", "info")
    return redirect(url_for("auth.login"), 303)


def _finish_pending(user, form=None):
    pending = session[PENDING]
    token = None
    if form is not None and form.remember_device.data:
        token = twofactor.remember_device(user, request.headers.get("User-Agent"))
    return _signed_in(user, pending.get("remember", False), pending.get("break_glass", False), pending.get("next"),
                      device_token=token)


def _step_page(template, form, user, status=200):
    factors = twofactor.factors_of(user)
    return render_page(template, status=status, form=form, factors=factors)


# --- The second step --------------------------------------------------------------------------------

@bp.route("/login/two-factor", methods=["GET", "POST"])
@public_page
@_limit_codes()
def login_two_factor():
    """The second step: a code from the authenticator app (or a passkey, or a recovery code)."""
    user = _pending_user()
    if user is None:
        return _expired()
    form = CodeForm()
    if form.validate_on_submit():
        try:
            code = twofactor.clean_code(form.code.data)
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            if twofactor.verify_totp(user, code):
                return _finish_pending(user, form)
            db.session.commit()
            form.code.errors = [WRONG_CODE]
    status = 422 if form.errors or form.form_errors else 200
    return _step_page("twofactor/login_code.html", form, user, status)


@bp.route("/login/two-factor/recovery", methods=["GET", "POST"])
@public_page
@_limit_codes()
def login_recovery_code():
    """The second step with a recovery code, when the phone or key is lost."""
    user = _pending_user()
    if user is None:
        return _expired()
    form = RecoveryCodeForm()
    if form.validate_on_submit():
        try:
            used = twofactor.use_recovery_code(user, form.code.data, Actor.for_user(user, client_ip(), request.headers.get("User-Agent")))
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            if used:
                left = twofactor.recovery_codes_left(user)
                flash(f"You logged in with a recovery code. {left} recovery code{'' if left == 1 else 's'} left; "
                      "if you lost your device, remove it and add a new factor now.", "warning")
                return _finish_pending(user, form)
            form.code.errors = ["That recovery code doesn't match one of yours, or it was already used."]
    status = 422 if form.errors or form.form_errors else 200
    return _step_page("twofactor/login_recovery.html", form, user, status)


@bp.route("/login/two-factor/passkey/options", methods=["POST"])
@public_page
def login_passkey_step_options():
    """WebAuthn options for the pending user's own passkeys (JSON)."""
    user = _pending_user()
    if user is None:
        return json_error("Your login took too long or was ended. Log in again.", 409)
    options, challenge = twofactor.passkey_authentication_options(user)
    session[LOGIN_CHALLENGE] = bytes_to_base64url(challenge)
    return current_app.response_class(options, mimetype="application/json")


@bp.route("/login/two-factor/passkey", methods=["POST"])
@public_page
@_limit_codes()
def login_passkey_step():
    """The second step with one of the pending user's passkeys (JSON in, JSON out)."""
    user = _pending_user()
    if user is None:
        return json_error("Your login took too long or was ended. Log in again.", 409)
    try:
        twofactor.authenticate_passkey(_credential(), _take_challenge(), user=user)
    except ServiceError as error:
        db.session.rollback()
        return json_error(error.message, 422)
    response = _finish_pending(user)
    return jsonify(redirect=response.location)


# --- Signing in with a passkey alone --------------------------------------------------------------

@bp.route("/login/passkey/options", methods=["POST"])
@public_page
def login_passkey_options():
    """WebAuthn options for signing in with any passkey of this site, no email or password (JSON)."""
    options, challenge = twofactor.passkey_authentication_options()
    session[LOGIN_CHALLENGE] = bytes_to_base64url(challenge)
    return current_app.response_class(options, mimetype="application/json")


@bp.route("/login/passkey", methods=["POST"])
@public_page
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT_IP"], key_func=lambda: "passkey:" + client_ip(),
               methods=["POST"], deduct_when=lambda response: response.status_code == 422)
def login_passkey():
    """Sign in with a passkey: it is something you have, unlocked by something you know or are (user
    verification), so it replaces the password and the second step at once."""
    try:
        passkey = twofactor.authenticate_passkey(_credential(), _take_challenge())
    except ServiceError as error:
        db.session.rollback()
        return json_error(error.message, 422)
    user = db.session.get(User, passkey.user_id)
    if user.is_deactivated:
        db.session.rollback()
        return json_error("This account was deactivated. Ask your administrator to restore it.", 403)
    # A workspace that requires SSO asks for its own IdP when it is opened (tenancy.org_access).
    payload = request.get_json(silent=True) or {}
    response = _signed_in(user, remember=payload.get("remember") is True, break_glass=False,
                          next_url=payload.get("next") if isinstance(payload.get("next"), str) else None)
    return jsonify(redirect=response.location)


# --- JSON helpers for static/js/passkeys.js ---------------------------------------------------------

def json_error(message, status):
    return jsonify(error={"code": status, "message": message}), status


def _credential():
    payload = request.get_json(silent=True)
    credential = payload.get("credential") if isinstance(payload, dict) else None
    if not isinstance(credential, dict):
        raise ServiceError("Your browser sent no passkey answer. Try again.")
    return credential


def _take_challenge():
    """The challenge of this browser's last options request; each works for one answer only."""
    return twofactor.challenge_from_session(session.pop(LOGIN_CHALLENGE, None))
