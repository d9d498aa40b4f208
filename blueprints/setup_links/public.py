"""The pages a setup link opens for the org's IT admin (public: the link is the credential).

    GET       /setup/<token>                  setup_open        (a link without email: straight in; else asks for a code)
    POST      /setup/<token>/code             setup_code_send   (emails a one-time code to the link's address)
    POST      /setup/<token>/verify           setup_code_verify (the code opens the link in this browser)
    GET       /setup/l/<link_id>              setup_home        (the steps of each part, the provider choice, Finish)
    POST      /setup/l/<link_id>/provider     setup_provider_update
    POST      /setup/l/<link_id>/finish       setup_finish      (closes the link; the owners are told)

Opening the link puts its id in this browser's session and moves to /setup/l/<link_id>, so the token
stays out of every later address, Referer and history entry. Every page then checks the link again
(revoked, expired or finished: refused at once) and the scope it needs; a link not opened in this
browser, or another org's object, is a 404.
"""
from functools import wraps

from flask import abort, current_app, g, redirect, request, session, url_for

from blueprints.formtools import apply_service_error
from blueprints.setup_links import bp
from blueprints.setup_links.forms import CodeForm, ConfirmForm, ProviderForm
from extensions import db, limiter
from htmx import render_page
from request_context import client_ip
from services import ServiceError, setup_links
from services.setup_guides import GUIDES, guide_for
from tenancy import public_page

GRANTS = "setup_link_grants"  # session key: ids of the links opened in this browser


def _refused(reason, status):
    return render_page("setup_links/refused.html", status=status, reason=reason)


def _grant(link):
    grants = [i for i in session.get(GRANTS, []) if i != str(link.id)][-4:]
    session[GRANTS] = grants + [str(link.id)]


def link_page(scope=None):
    """A page of an opened link: loads it (404 unless opened in this browser), refuses a link no
    longer live (410) or outside its scope (403), and passes (link, org) to the view."""
    def decorator(view):
        @wraps(view)
        def wrapped(link_id, **kwargs):
            link = setup_links.find_by_id(link_id)
            if link is None or str(link.id) not in session.get(GRANTS, []):
                abort(404)
            reason = setup_links.refusal(link)
            if reason:
                return _refused(reason, 410)
            if scope and setup_links.out_of_scope(link, scope):
                return _refused(setup_links.out_of_scope(link, scope), 403)
            org = setup_links.org_of(link)
            g.setup_link, g.setup_org = link, org
            setup_links.record_use(link)
            return view(link, org, **kwargs)
        return public_page(wrapped)
    return decorator


def link_actor(link):
    return setup_links.actor_for(link, client_ip(), request.headers.get("User-Agent"))


def _home(link):
    return redirect(url_for("setup_links.setup_home", link_id=link.id), 303)


def _token_link(token):
    """(link, refusal response): the link a token names, or the page saying why it cannot be used."""
    link = setup_links.find_by_token(token)
    if link is None:
        return None, _refused("This setup link is not valid. Check that you copied all of it, or ask for a new one.", 404)
    reason = setup_links.refusal(link)
    return link, (_refused(reason, 410) if reason else None)


def _no_store(response):
    body, status = response
    return body, status, {"Cache-Control": "no-store"}


@bp.route("/setup/<token>")
@public_page
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT_IP"], key_func=client_ip)
def setup_open(token):
    """Open a setup link: in at once, or (an emailed link) ask for a one-time code."""
    link, refused = _token_link(token)
    if refused:
        return refused
    if link.sent_to is None:
        _grant(link)
        setup_links.record_use(link)
        db.session.commit()
        return _home(link)
    return _no_store(render_page("setup_links/code.html", link=link, org=setup_links.org_of(link), token=token,
                                 form=CodeForm(formdata=None), code_sent=False, send_form=ConfirmForm()))


@bp.route("/setup/<token>/code", methods=["POST"])
@public_page
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT_IP"], key_func=client_ip)
def setup_code_send(token):
    """Email a one-time code to the address the link was sent to."""
    link, refused = _token_link(token)
    if refused:
        return refused
    form, send_form, error = CodeForm(formdata=None), ConfirmForm(), None
    if link.sent_to is None:
        return _home(link) if str(link.id) in session.get(GRANTS, []) else redirect(url_for("setup_links.setup_open", token=token), 303)
    if send_form.validate_on_submit():
        try:
            setup_links.send_code(setup_links.org_of(link), link)
        except ServiceError as exc:
            error = exc.message
        else:
            db.session.commit()
    else:
        error = "The form expired. Try again."
    return _no_store(render_page("setup_links/code.html", status=422 if error else 200, link=link,
                                 org=setup_links.org_of(link), token=token, form=form, code_sent=error is None,
                                 send_error=error, send_form=ConfirmForm(formdata=None)))


@bp.route("/setup/<token>/verify", methods=["POST"])
@public_page
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT_IP"], key_func=client_ip)
def setup_code_verify(token):
    """Check the one-time code; the right one opens the link in this browser."""
    link, refused = _token_link(token)
    if refused:
        return refused
    form = CodeForm()
    if form.validate_on_submit():
        try:
            setup_links.check_code(link, form.code.data)
        except ServiceError as error:
            db.session.commit()  # a wrong code counts, whatever happens next
            apply_service_error(form, error)
        else:
            _grant(link)
            db.session.commit()
            return _home(link)
    return _no_store(render_page("setup_links/code.html", status=422, link=link, org=setup_links.org_of(link),
                                 token=token, form=form, code_sent=True, send_form=ConfirmForm(formdata=None)))


def home_context(link, org, **extra):
    return dict(link=link, org=org, guide=guide_for(link.provider), guides=GUIDES,
                scope_labels=setup_links.SCOPE_LABELS, scope_names=setup_links.SCOPE_NAMES, can_finish=setup_links.can_finish(link), **extra)


@bp.route("/setup/l/<link_id>")
@link_page()
def setup_home(link, org):
    """Where the IT admin starts: choose the identity provider, then each part the link covers."""
    db.session.commit()  # last use
    return render_page("setup_links/home.html", provider_form=ProviderForm(provider=link.provider),
                       finish_form=ConfirmForm(), **home_context(link, org))


@bp.route("/setup/l/<link_id>/provider", methods=["POST"])
@link_page()
def setup_provider_update(link, org):
    """Choose the identity provider: its own steps and field names from then on."""
    form = ProviderForm()
    if not form.validate_on_submit():
        return render_page("setup_links/home.html", status=422, provider_form=form, finish_form=ConfirmForm(),
                           **home_context(link, org))
    link.provider = form.provider.data
    db.session.commit()
    return _home(link)


@bp.route("/setup/l/<link_id>/finish", methods=["POST"])
@link_page()
def setup_finish(link, org):
    """Finish: the link closes and the owners are emailed what was set up."""
    form = ConfirmForm()
    error = None
    if form.validate_on_submit():
        try:
            setup_links.finish(org, link, link_actor(link))
        except ServiceError as exc:
            error = exc.message
        else:
            db.session.commit()
            return render_page("setup_links/finished.html", link=link, org=org,
                               scope_labels=setup_links.SCOPE_LABELS)
    else:
        error = "The form expired. Try again."
    return render_page("setup_links/home.html", status=422, provider_form=ProviderForm(provider=link.provider),
                       finish_form=form, finish_error=error, **home_context(link, org))
