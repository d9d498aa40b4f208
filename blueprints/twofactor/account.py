"""The account's second factors.

    GET       /app/account/two-factor                              account_two_factor
    POST      /app/account/two-factor/totp/start                   account_totp_start
    GET,POST  /app/account/two-factor/totp                         account_totp_confirm
    GET,POST  /app/account/two-factor/totp/remove                  account_totp_remove        (recent auth)
    POST      /app/account/two-factor/passkeys/options             account_passkey_options    (JSON)
    POST      /app/account/two-factor/passkeys                     account_passkey_create     (JSON)
    GET,POST  /app/account/two-factor/passkeys/<passkey_id>/remove account_passkey_remove     (recent auth)
    POST      /app/account/two-factor/recovery-codes               account_recovery_codes     (recent auth to replace)
    POST      /app/account/two-factor/remembered-browsers/forget   account_remembered_browsers_forget
    GET,POST  /app/account/confirm-access                          account_reauthenticate
    POST      /app/account/confirm-access/passkey/options          account_reauthenticate_passkey_options (JSON)
    POST      /app/account/confirm-access/passkey                  account_reauthenticate_passkey         (JSON)

Removing a factor and replacing recovery codes need a password or factor typed within the last
REAUTH_MINUTES (like GitHub's sudo mode): a stolen, still-open session cannot strip the account's
second factor on its own.
"""
import time
from functools import wraps

from flask import abort, current_app, flash, jsonify, make_response, redirect, request, session, url_for
from flask_login import current_user
from webauthn.helpers import bytes_to_base64url

from blueprints.auth.ratelimits import failed_attempt
from blueprints.formtools import apply_service_error
from blueprints.twofactor import bp
from blueprints.twofactor.forms import ConfirmForm, ConfirmTotpForm, ReauthenticateForm
from blueprints.twofactor.login import REAUTHENTICATED, mark_reauthenticated
from extensions import db, limiter
from htmx import render_page
from request_context import current_actor
from services import ServiceError, accounts, twofactor
from services.redirects import safe_next_url
from tenancy import user_page

REAUTH_MINUTES = 10
REGISTRATION_CHALLENGE = "webauthn_registration_challenge"
REAUTH_CHALLENGE = "webauthn_reauth_challenge"


def _user():
    return current_user._get_current_object()


# --- Recent authentication ("sudo mode") ------------------------------------------------------------

def recently_authenticated():
    mark = session.get(REAUTHENTICATED)
    return (isinstance(mark, dict) and mark.get("user_id") == str(current_user.id)
            and time.time() - mark.get("at", 0) < REAUTH_MINUTES * 60)


def recent_authentication_required(view):
    """Send the person to confirm it is them first; then back to the page that asks for the action."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        if not recently_authenticated():
            back = request.path if request.method == "GET" else url_for("twofactor.account_two_factor")
            return redirect(url_for("twofactor.account_reauthenticate", next=back), 303)
        return view(*args, **kwargs)
    return wrapped


def _limit_reauthentication():
    # One count per account for every way of confirming (password, code, passkey).
    return limiter.shared_limit(lambda: current_app.config["TWO_FACTOR_RATE_LIMIT"], scope="reauthenticate",
                                key_func=lambda: f"reauth:{current_user.id}", methods=["POST"],
                                deduct_when=failed_attempt)


@bp.route("/app/account/confirm-access", methods=["GET", "POST"])
@user_page
@_limit_reauthentication()
def account_reauthenticate():
    """Confirm it is you (password or authenticator code) before a sensitive change."""
    user = _user()
    form = ReauthenticateForm(next=request.args.get("next"))
    next_url = safe_next_url(form.next.data) or url_for("twofactor.account_two_factor")
    if form.validate_on_submit():
        password, code = (form.password.data or ""), (form.code.data or "").strip()
        confirmed = False
        if password:
            confirmed = accounts.password_matches(user, password)
            if not confirmed:
                form.password.errors = ["That is not your password."]
        elif code:
            try:
                confirmed = twofactor.verify_totp(user, twofactor.clean_code(code))
            except ServiceError as error:
                apply_service_error(form, error)
            else:
                if not confirmed:
                    form.code.errors = ["That code doesn't match, or it was already used."]
        else:
            form.form_errors.append("Enter your password or a code from your authenticator app.")
        db.session.commit()
        if confirmed:
            mark_reauthenticated(user)
            return redirect(next_url, 303)
    return render_page("twofactor/reauthenticate.html", status=422 if form.errors or form.form_errors else 200,
                       form=form, factors=twofactor.factors_of(user), minutes=REAUTH_MINUTES)


@bp.route("/app/account/confirm-access/passkey/options", methods=["POST"])
@user_page
def account_reauthenticate_passkey_options():
    """WebAuthn options to confirm it is you with one of your passkeys (JSON)."""
    options, challenge = twofactor.passkey_authentication_options(_user())
    session[REAUTH_CHALLENGE] = bytes_to_base64url(challenge)
    return current_app.response_class(options, mimetype="application/json")


@bp.route("/app/account/confirm-access/passkey", methods=["POST"])
@user_page
@_limit_reauthentication()
def account_reauthenticate_passkey():
    """Confirm it is you with a passkey (JSON in: the assertion and where to go next)."""
    user = _user()
    payload = request.get_json(silent=True)
    payload = payload if isinstance(payload, dict) else {}
    challenge = twofactor.challenge_from_session(session.pop(REAUTH_CHALLENGE, None))
    try:
        if not isinstance(payload.get("credential"), dict):
            raise ServiceError("Your browser sent no passkey answer. Try again.")
        twofactor.authenticate_passkey(payload["credential"], challenge, user=user)
    except ServiceError as error:
        db.session.rollback()
        return _json_error(error)
    db.session.commit()
    mark_reauthenticated(user)
    next_url = payload.get("next") if isinstance(payload.get("next"), str) else None
    return jsonify(redirect=safe_next_url(next_url) or url_for("twofactor.account_two_factor"))


# --- The overview ---------------------------------------------------------------------------------

@bp.route("/app/account/two-factor")
@user_page
def account_two_factor():
    """The account's authenticator app, passkeys and recovery codes."""
    return _render_overview()


def _render_overview(status=200):
    factors = twofactor.factors_of(_user())
    return render_page("twofactor/account.html", status=status, factors=factors,
                       confirm_form=ConfirmForm(formdata=None), remembered=twofactor.remembered_devices(_user()),
                       return_to=_take_return_to() if factors.enabled else None)


def _take_return_to():
    """Where an org's requirement interrupted the person, once they have a factor (offered once)."""
    return safe_next_url(session.pop(twofactor.RETURN_TO_SESSION_KEY, None))


def _show_codes(codes, heading):
    """The recovery codes, once: not kept in the browser's history or any cache."""
    done_url = _take_return_to() or url_for("twofactor.account_two_factor")
    response = make_response(render_page("twofactor/recovery_codes.html", codes=codes, heading=heading, done_url=done_url))
    response.headers["Cache-Control"] = "no-store"
    return response


# --- Authenticator app --------------------------------------------------------------------------

@bp.route("/app/account/two-factor/totp/start", methods=["POST"])
@user_page
def account_totp_start():
    """Begin adding an authenticator app: a new secret, shown on the next page."""
    form = ConfirmForm()
    if not form.validate_on_submit():
        flash("The form expired. Try again.", "error")
        return redirect(url_for("twofactor.account_two_factor"), 303)
    try:
        twofactor.start_totp_setup(_user())
    except ServiceError as error:
        flash(error.message, "error")
        return redirect(url_for("twofactor.account_two_factor"), 303)
    db.session.commit()
    return redirect(url_for("twofactor.account_totp_confirm"), 303)


@bp.route("/app/account/two-factor/totp", methods=["GET", "POST"])
@user_page
def account_totp_confirm():
    """Scan the QR code (or type the key), then confirm with the first code."""
    user = _user()
    secret = twofactor.pending_totp_secret(user)
    if secret is None:
        flash("Start adding an authenticator app here.", "info")
        return redirect(url_for("twofactor.account_two_factor"), 303)
    form = ConfirmTotpForm()
    if form.validate_on_submit():
        try:
            codes = twofactor.confirm_totp(user, form.code.data, current_actor())
        except ServiceError as error:
            db.session.rollback()
            apply_service_error(form, error)
        else:
            db.session.commit()
            mark_reauthenticated(user)
            if codes:
                return _show_codes(codes, "Your authenticator app is on. Save your recovery codes")
            flash("Your authenticator app was added.", "success")
            return redirect(url_for("twofactor.account_two_factor"), 303)
    uri = twofactor.totp_uri(user, secret)
    response = make_response(render_page(
        "twofactor/totp_setup.html", status=422 if form.errors or form.form_errors else 200, form=form,
        secret=secret, qr_svg=twofactor.qr_svg(uri)))
    response.headers["Cache-Control"] = "no-store"  # the secret must not stay in a cache
    return response


@bp.route("/app/account/two-factor/totp/remove", methods=["GET", "POST"])
@user_page
@recent_authentication_required
def account_totp_remove():
    """Remove the authenticator app (GET asks first)."""
    user = _user()
    if twofactor.confirmed_totp(user.id) is None:
        flash("There is no authenticator app on your account.", "info")
        return redirect(url_for("twofactor.account_two_factor"), 303)
    form = ConfirmForm()
    if request.method == "POST" and form.validate_on_submit():
        twofactor.remove_totp(user, current_actor())
        db.session.commit()
        flash("Your authenticator app was removed." + _left_phrase(user), "success")
        return redirect(url_for("twofactor.account_two_factor"), 303)
    return render_page("twofactor/remove_confirm.html", form=form, what="your authenticator app",
                       action=url_for("twofactor.account_totp_remove"), last=_is_last_factor(user))


def _is_last_factor(user):
    factors = twofactor.factors_of(user)
    return (factors.totp is not None) + len(factors.passkeys) == 1


def _left_phrase(user):
    return "" if twofactor.has_two_factor(user.id) else " Two-factor authentication is now off for your account."


# --- Passkeys -------------------------------------------------------------------------------------

@bp.route("/app/account/two-factor/passkeys/options", methods=["POST"])
@user_page
def account_passkey_options():
    """WebAuthn options to create a passkey for this account (JSON in: the name it will have). The
    name is checked first, so a refused name never leaves a credential on the authenticator."""
    payload = request.get_json(silent=True)
    try:
        twofactor.clean_passkey_name(payload.get("name") if isinstance(payload, dict) else None)
    except ServiceError as error:
        return _json_error(error)
    options, challenge = twofactor.passkey_registration_options(_user())
    session[REGISTRATION_CHALLENGE] = bytes_to_base64url(challenge)
    return current_app.response_class(options, mimetype="application/json")


@bp.route("/app/account/two-factor/passkeys", methods=["POST"])
@user_page
def account_passkey_create():
    """Keep the passkey the browser just created (JSON in: name and credential)."""
    payload = request.get_json(silent=True)
    payload = payload if isinstance(payload, dict) else {}
    challenge = twofactor.challenge_from_session(session.pop(REGISTRATION_CHALLENGE, None))
    credential = payload.get("credential")
    name = payload.get("name") if isinstance(payload.get("name"), str) else ""
    try:
        if not isinstance(credential, dict):
            twofactor.clean_passkey_name(name)
            raise ServiceError("Your browser sent no passkey. Try again.")
        passkey = twofactor.register_passkey(_user(), name, credential, challenge, current_actor())
    except ServiceError as error:
        db.session.rollback()
        return _json_error(error)
    db.session.commit()
    mark_reauthenticated(_user())
    flash(f"Passkey “{passkey.name}” was added.", "success")
    return jsonify(redirect=url_for("twofactor.account_two_factor"))


def _json_error(error):
    return jsonify(error={"code": 422, "message": error.message, "field": error.field}), 422


@bp.route("/app/account/two-factor/passkeys/<passkey_id>/remove", methods=["GET", "POST"])
@user_page
@recent_authentication_required
def account_passkey_remove(passkey_id):
    """Remove a passkey (GET asks first)."""
    user = _user()
    try:
        passkey = twofactor.passkey_for_user(user, passkey_id)
    except ServiceError:
        abort(404)
    form = ConfirmForm()
    if request.method == "POST" and form.validate_on_submit():
        name = passkey.name
        twofactor.remove_passkey(user, passkey, current_actor())
        db.session.commit()
        flash(f"Passkey “{name}” was removed." + _left_phrase(user), "success")
        return redirect(url_for("twofactor.account_two_factor"), 303)
    return render_page("twofactor/remove_confirm.html", form=form, what=f"the passkey “{passkey.name}”",
                       action=url_for("twofactor.account_passkey_remove", passkey_id=passkey.id),
                       last=_is_last_factor(user))


# --- Recovery codes -------------------------------------------------------------------------------

@bp.route("/app/account/two-factor/recovery-codes", methods=["POST"])
@user_page
def account_recovery_codes():
    """Make recovery codes: the first set freely, a replacement set after a recent authentication."""
    user = _user()
    form = ConfirmForm()
    if not form.validate_on_submit():
        flash("The form expired. Try again.", "error")
        return redirect(url_for("twofactor.account_two_factor"), 303)
    try:
        codes = twofactor.generate_first_recovery_codes(user)
        heading = "Save your recovery codes"
    except ServiceError as first_error:
        if not twofactor.has_two_factor(user.id):
            flash(first_error.message, "error")
            return redirect(url_for("twofactor.account_two_factor"), 303)
        if not recently_authenticated():
            return redirect(url_for("twofactor.account_reauthenticate", next=url_for("twofactor.account_two_factor")), 303)
        if request.form.get("confirmed") != "yes":
            # A plain form post from a browser without JavaScript: ask first.
            return render_page("twofactor/regenerate_confirm.html", form=form)
        codes = twofactor.regenerate_recovery_codes(user, current_actor())
        heading = "Your new recovery codes (the old ones no longer work)"
    db.session.commit()
    return _show_codes(codes, heading)


# --- Remembered browsers --------------------------------------------------------------------------

@bp.route("/app/account/two-factor/remembered-browsers/forget", methods=["POST"])
@user_page
def account_remembered_browsers_forget():
    """Every remembered browser asks for the second factor again (nothing else is signed out)."""
    form = ConfirmForm()
    if form.validate_on_submit():
        count = twofactor.forget_devices(_user())
        db.session.commit()
        flash(f"{count} browser{'' if count == 1 else 's'} will ask for your second factor again." if count
              else "No browser was remembered.", "success" if count else "info")
    return redirect(url_for("twofactor.account_two_factor"), 303)
