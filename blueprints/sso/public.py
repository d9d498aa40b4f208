"""The public side of SSO: discovery from an email, starting a login, the ACS, SP metadata, break-glass.

    GET,POST  /sso                          sso_discover      (email -> its verified domain's org(s))
    GET       /sso/<org_ref>/login          sso_login         (AuthnRequest, RelayState = one-time state key)
    POST      /sso/<org_ref>/acs            sso_acs           (CSRF-exempt: a cross-site POST verified by signature)
    GET       /sso/<org_ref>/finish/<key>   sso_finish        (same-site: nonce check, then sign in, ask, or consent)
    POST      /sso/<org_ref>/finish/<key>   sso_finish_switch (an IdP-initiated login replaces another person)
    POST      /sso/<org_ref>/finish/<key>/link        sso_link_password (consent: the account's password)
    POST      /sso/<org_ref>/finish/<key>/email-link  sso_link_email    (consent: a one-time link emailed)
    GET,POST  /sso/<org_ref>/link/<token>   sso_link_confirm  (the emailed link: GET asks, POST links)
    GET       /sso/<org_ref>/metadata       sso_metadata      (SP metadata; also the SP entity ID)
    GET,POST  /sso/break-glass              sso_break_glass   (owners' audited password login under Require SSO)

org_ref is the org's id: unlike its slug it never changes, so the URLs given to the IdP keep working.
"""
from flask import current_app, flash, redirect, request, url_for
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge, TooManyRequests

from blueprints.auth.ratelimits import failed_attempt, limit_password_tries_by_account
from blueprints.formtools import apply_service_error, continue_to
from blueprints.rate_counter import RateCounter
from blueprints.sso import bp
from blueprints.sso.forms import BreakGlassForm, ConfirmForm, DiscoverForm, LinkPasswordForm
from blueprints.twofactor.login import continue_login
from extensions import csrf, db, limiter
from htmx import render_page
from models import Organization, SsoConnection
from request_context import client_ip
from services import ServiceError, sessions
from services.redirects import safe_next_url
from services.sso import config as sso_config
from services.sso import domains, enforcement, finish, login as sso_login_service, saml
from tenancy import public_page


@bp.route("/sso", methods=["GET", "POST"])
@public_page
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT_IP"], key_func=client_ip, methods=["POST"])
def sso_discover():
    """Continue with SSO: the email's verified domain selects the org (a picker when several match)."""
    form = DiscoverForm()
    choices = None
    if form.validate_on_submit():
        org_ids = domains.orgs_for_email_domain(domains.email_domain(form.email.data))
        choices = db.session.scalars(
            db.select(Organization).join(SsoConnection, SsoConnection.org_id == Organization.id)
            .where(Organization.id.in_(org_ids)).order_by(Organization.name)).all() if org_ids else []
        choices = [org for org in choices if sso_config.get_connection(org.id).is_configured]
        if len(choices) == 1:
            # The login redirects to the IdP: reached from this POST, it must go on without a redirect.
            return continue_to(url_for("sso.sso_login", org_ref=choices[0].id, next=request.args.get("next")),
                               f"{choices[0].name}'s sign-in")
        if not choices:
            form.email.errors.append("No workspace uses single sign-on for that email's domain. Log in with your "
                                     "password, or ask your administrator.")
    return render_page("sso/discover.html", status=422 if form.errors else 200, form=form, choices=choices)


@bp.route("/sso/<org_ref>/login")
@public_page
# Each GET writes the request's one-time state (services/sso/login.py), so anonymous GETs are limited
# per IP; states expire in 15 minutes and are pruned, so the table cannot grow without bound.
@limiter.limit(lambda: current_app.config["SSO_LOGIN_RATE_LIMIT"], key_func=client_ip)
def sso_login(org_ref):
    """Send the browser to the org's IdP with an AuthnRequest."""
    org = sso_login_service.org_for_ref(org_ref)
    connection = sso_config.get_connection(org.id) if org else None
    nonce = finish.browser_nonce(request.cookies.get(finish.NONCE_COOKIE))
    try:
        url = sso_login_service.start_login(org, connection, safe_next_url(request.args.get("next")),
                                            browser_nonce=nonce)
    except ServiceError as error:
        return render_page("sso/refused.html", status=404, reason=error.message, org=org, attempt=None)
    db.session.commit()
    response = redirect(url, 303)
    # Only this browser may finish the login (login CSRF): the finishing GET is same-site, so a Lax
    # cookie comes along, while the IdP's cross-site POST to the ACS carries none.
    response.set_cookie(finish.NONCE_COOKIE, nonce, max_age=int(sso_login_service.STATE_TTL.total_seconds()),
                        path="/sso/", secure=current_app.config["SESSION_COOKIE_SECURE"], httponly=True,
                        samesite="Lax")
    return response


@bp.route("/sso/<org_ref>/acs", methods=["POST"])
@public_page
@csrf.exempt
@limiter.exempt  # counted below, by the machine APIs' counter
def sso_acs(org_ref):
    """The IdP's POST: every check, then JIT provisioning and a fresh session (or the refusal page)."""
    # SSO_ACS_RATE_LIMIT per client address, in a fixed window (blueprints/rate_counter.py): the count
    # goes out before the org lookup and is read after it, so the two round trips overlap, and a client
    # past the limit is refused before its response's signature is checked. Its answers carry no
    # X-RateLimit-* headers: the IdP's posting page has no use for them.
    counter = RateCounter.start(f"sso:acs-rate:{client_ip()}", current_app.config["SSO_ACS_RATE_LIMIT"])
    try:
        org, connection = sso_login_service.org_and_connection(org_ref)
    finally:
        counter.finish()
    if counter.exceeded:
        raise TooManyRequests(retry_after=counter.reset_seconds())
    oversized = False
    try:
        saml_response, relay_state = request.form.get("SAMLResponse"), request.form.get("RelayState")
    except RequestEntityTooLarge:
        saml_response, relay_state, oversized = None, None, True
    outcome = sso_login_service.receive_response(org, connection, org_ref, saml_response, relay_state, client_ip(),
                                                 request.headers.get("User-Agent"), oversized=oversized)
    if outcome.refused is not None and not outcome.is_test:
        db.session.commit()  # the refusal is in the SSO log
        return render_page("sso/refused.html", status=outcome.refused.status, reason=outcome.refused.reason,
                           org=outcome.org, attempt=outcome.attempt)
    # Where to next, read before the commit: afterwards every loaded row is expired, and reading an id
    # would reload it (a second transaction on every login).
    if outcome.setup_link_id is not None:
        # A test started through a setup link: its result page is the link's, not the settings'.
        location = url_for("setup_links.setup_sso_test_result", link_id=outcome.setup_link_id,
                           login_attempt_id=outcome.attempt.id)
    elif outcome.is_test:
        # The admin who started the test sees the outcome on the settings side (a top-level GET, so
        # the SameSite=Lax session cookie comes along).
        location = url_for("sso.sso_log_show", org_slug=outcome.org.slug, login_attempt_id=outcome.attempt.id)
    else:
        location = url_for("sso.sso_finish", org_ref=outcome.org.id, key=outcome.finish_key)
    db.session.commit()
    return redirect(location, 303)


# Capped before the form is parsed (app.apply_view_body_limit): a huge post is refused unread.
sso_acs.max_body_bytes = lambda config: config["SSO_MAX_RESPONSE_BYTES"] * 2 + 16 * 1024


@bp.route("/sso/<org_ref>/finish/<key>")
@public_page
def sso_finish(org_ref, key):
    """Finish a validated response in the browser that started the login (or ask first)."""
    return _finish(finish.finish_login(org_ref, key, request.cookies.get(finish.NONCE_COOKIE), _signed_in(),
                                       ip=client_ip(), user_agent=request.headers.get("User-Agent")), key)


@bp.route("/sso/<org_ref>/finish/<key>", methods=["POST"])
@public_page
def sso_finish_switch(org_ref, key):
    """The person confirmed that an IdP-initiated login may replace who is signed in here."""
    if not ConfirmForm().validate_on_submit():
        return render_page("sso/refused.html", status=400, reason=finish.EXPIRED, org=None, attempt=None)
    return _finish(finish.finish_login(org_ref, key, request.cookies.get(finish.NONCE_COOKIE), _signed_in(),
                                       switch_confirmed=True, ip=client_ip(),
                                       user_agent=request.headers.get("User-Agent")), key)


def _consent_account_key():
    """The per-account password limit (shared with login and break-glass) for a consent form."""
    try:
        _, _, user = finish.consent_pending(request.view_args["org_ref"], request.view_args["key"],
                                            request.cookies.get(finish.NONCE_COOKIE))
    except ServiceError:
        return "account:"
    return "account:" + user.email


@bp.route("/sso/<org_ref>/finish/<key>/link", methods=["POST"])
@public_page
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT_IP"], key_func=client_ip, deduct_when=failed_attempt)
@limit_password_tries_by_account(key_func=_consent_account_key)
def sso_link_password(org_ref, key):
    """Consent by the account's password: link the identity and sign in."""
    form = LinkPasswordForm()
    try:
        org, pending, account = finish.consent_pending(org_ref, key, request.cookies.get(finish.NONCE_COOKIE))
    except ServiceError as error:
        return render_page("sso/refused.html", status=400, reason=error.message, org=None, attempt=None)
    if form.validate_on_submit():
        try:
            outcome = finish.link_with_password(org_ref, key, request.cookies.get(finish.NONCE_COOKIE),
                                                form.password.data, client_ip(), request.headers.get("User-Agent"))
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            return _finish(outcome, key)
    return render_page("sso/link.html", status=422, form=form, org=org, account=account, key=key)


@bp.route("/sso/<org_ref>/finish/<key>/email-link", methods=["POST"])
@public_page
@limiter.limit(lambda: current_app.config["FORGOT_PASSWORD_RATE_LIMIT_IP"], key_func=client_ip)
def sso_link_email(org_ref, key):
    """Consent by email: send the account a one-time link."""
    if not ConfirmForm().validate_on_submit():
        return render_page("sso/refused.html", status=400, reason=finish.EXPIRED, org=None, attempt=None)
    try:
        account = finish.email_link(org_ref, key, request.cookies.get(finish.NONCE_COOKIE))
    except ServiceError as error:
        return render_page("sso/refused.html", status=400, reason=error.message, org=None, attempt=None)
    db.session.commit()
    flash(f"We emailed {account.email} a link. Open it within {int(finish.CONSENT_TTL.total_seconds() // 60)} "
          "minutes to link the account.", "info")
    return redirect(url_for("auth.login"), 303)


@bp.route("/sso/<org_ref>/link/<token>", methods=["GET", "POST"])
@public_page
def sso_link_confirm(org_ref, token):
    """The emailed link: GET asks (mail scanners open links), POST links the account and signs in."""
    try:
        org, _, account = finish.pending_for_link(org_ref, token)
    except ServiceError as error:
        return render_page("sso/refused.html", status=410 if error.code != "invalid" else 400, reason=error.message,
                           org=None, attempt=None)
    form = ConfirmForm()
    if request.method == "POST" and form.validate_on_submit():
        return _finish(finish.link_by_email(org_ref, token, client_ip(), request.headers.get("User-Agent")), None)
    return render_page("sso/link_confirm.html", form=form, org=org, account=account)


def _signed_in():
    return current_user._get_current_object() if current_user.is_authenticated else None


def _finish(outcome, key):
    """The browser's answer to a finished (or paused) login."""
    if outcome.refused is not None:
        db.session.commit()  # the refusal is in the SSO log
        return render_page("sso/refused.html", status=outcome.refused.status, reason=outcome.refused.reason,
                           org=outcome.org, attempt=outcome.attempt)
    if outcome.switch_from is not None:
        return render_page("sso/switch.html", form=ConfirmForm(), org=outcome.org, signed_in=outcome.switch_from,
                           email=outcome.email)
    if outcome.consent_for is not None:
        db.session.commit()  # the pending login waits longer for the consent
        return render_page("sso/link.html", form=LinkPasswordForm(formdata=None), org=outcome.org,
                           account=outcome.consent_for, key=key)
    sessions.grant_sso(outcome.user, outcome.org)
    location = outcome.return_path or url_for("orgs.org_overview", org_slug=outcome.org.slug)  # before the
    db.session.commit()  # commit expires the org: reading its slug afterwards would reload it
    return redirect(location, 303)


@bp.route("/sso/<org_ref>/metadata")
@public_page
def sso_metadata(org_ref):
    """The SP metadata to give the IdP (entity ID, ACS URL, signing certificate)."""
    org = sso_login_service.org_for_ref(org_ref)
    if org is None:
        return render_page("sso/refused.html", status=404, reason="No workspace has this SSO address.", org=None,
                           attempt=None)
    # Never created here: an anonymous GET must not write (an SP key pair per request for any org id).
    # An admin opening the SSO settings makes the connection and its key pair.
    connection = sso_config.get_connection(org.id)
    if connection is None:
        return render_page("sso/refused.html", status=404, org=org, attempt=None,
                           reason="Single sign-on is not set up for this workspace yet. An administrator opens "
                                  "its SSO settings first; this metadata is served from then on.")
    return saml.sp_metadata_xml(connection), 200, {"Content-Type": "application/samlmetadata+xml; charset=utf-8"}


@bp.route("/sso/break-glass", methods=["GET", "POST"])
@public_page
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT_IP"], key_func=client_ip, methods=["POST"])
@limit_password_tries_by_account()
def sso_break_glass():
    """An owner's password login while the org requires SSO; audited in every such org."""
    form = BreakGlassForm()
    if form.validate_on_submit():
        try:
            user = enforcement.break_glass_login(form.email.data, form.password.data, form.reason.data,
                                                 client_ip(), request.headers.get("User-Agent"))
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            # Break-glass skips SSO, never the second factor (blueprints/twofactor/login.py).
            return continue_login(user, break_glass=True)
    return render_page("sso/break_glass.html", status=422 if form.errors or form.form_errors else 200, form=form)
