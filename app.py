"""Orgkit: create_app() builds the Flask app: config, extensions, blueprints, request hooks, CLI."""
import importlib
import os
import re
import uuid

from flask import Flask, abort, g, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

import assets
import htmx
import logs
from config import Config, refuse_insecure_start
from extensions import csrf, db, end_read_only_transaction, jobs, limiter, login_manager, migrate

# Each module exposes `bp`, and may expose init_app(app) for error renderers and the like.
BLUEPRINT_MODULES = [
    "blueprints.health",
    "blueprints.auth",
    "blueprints.workspaces",
    "blueprints.orgs",
    "blueprints.members",
    "blueprints.audit",
    "blueprints.invitations",
    "blueprints.invitations.public",
    "blueprints.scim",
    "blueprints.notifications",
    "blueprints.webhooks",
    "blueprints.sso",
    "blueprints.api_keys",
    "blueprints.setup_links",
    "blueprints.twofactor",
    "blueprints.twofactor.org_settings",
]

REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,128}")
NUL_REFUSED = "The request contains a NUL character (\\0), which no field or parameter accepts. Remove it and try again."

ERROR_TITLES = {
    400: "Bad request",
    403: "You can't do that here",
    404: "Page not found",
    405: "Method not allowed",
    413: "Too large",
    422: "Check the form",
    429: "Too many attempts",
    500: "Something went wrong",
}


def create_app(config=None):
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_object(config or Config())
    refuse_insecure_start(app.config)
    os.makedirs(app.instance_path, exist_ok=True)  # the default SQLite database lives there
    logs.init_app(app)  # LOG_FORMAT json|text, context (request id, org, user) on every line
    if app.config["TRUSTED_PROXY_COUNT"]:
        # Only as many X-Forwarded-* hops as there are proxies we run, so clients cannot spoof their
        # IP (rate limits, audit log) or the scheme (secure cookies, SAML/SCIM URLs).
        hops = app.config["TRUSTED_PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)

    db.init_app(app)
    # Batch mode lets Alembic alter tables on SQLite (which has no ALTER COLUMN).
    migrate.init_app(app, db, render_as_batch=True, directory=str(app.root_path) + "/migrations")
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please log in to see that page."
    login_manager.login_message_category = "info"
    csrf.init_app(app)
    jobs.init_app(app)
    if not app.config["USE_REDIS_QUEUE"]:
        app.config["RATELIMIT_STORAGE_URI"] = "memory://"
    limiter.init_app(app)

    import models  # noqa: F401  every model registered before the first query

    app.extensions["orgkit_error_renderers"] = []
    for module_name in BLUEPRINT_MODULES:
        module = importlib.import_module(module_name)
        app.register_blueprint(module.bp)
        if hasattr(module, "init_app"):
            module.init_app(app)

    _register_request_hooks(app)
    _register_error_handlers(app)
    _register_template_helpers(app)
    assets.init_app(app)  # fingerprinted static URLs cached a year; compression (COMPRESS_RESPONSES)
    import cli
    cli.register(app)
    return app


def register_error_renderer(app, path_prefix, renderer):
    """Machine interfaces (SCIM, JSON API) answer errors in their own format under their prefix."""
    app.extensions["orgkit_error_renderers"].append((path_prefix, renderer))


@login_manager.user_loader
def load_user(login_id):
    # The user of a live server-side session record, or nobody (services/sessions.py). On an org page
    # (tenancy) the same statement fetches the membership; on a page that shows the top bar (every
    # full page; the badge fragment is its bell), the unread count and the workspace switcher's orgs.
    from services import sessions
    full_page = request.method == "GET" and not htmx.wants_region()
    return sessions.load_user(login_id, org_slug=g.get("org_slug"), workspaces=full_page,
                              unread_count=full_page or request.endpoint == "notifications.notifications_badge")


def _register_request_hooks(app):
    @app.before_request
    def assign_request_id():
        # A proxy's request id is kept so its logs and ours line up; anything that is not a plain
        # token is replaced, so a client cannot forge log fields through this header.
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if REQUEST_ID_PATTERN.fullmatch(incoming) else uuid.uuid4().hex

    @app.before_request
    def apply_view_body_limit():
        # A view that takes posts from outside (the SAML ACS) declares its own body limit; it must be
        # in force before anything below reads the form.
        limit = getattr(app.view_functions.get(request.endpoint), "max_body_bytes", None)
        if limit is not None:
            request.max_content_length = limit(app.config)

    @app.before_request
    def refuse_nul_characters():
        # PostgreSQL text cannot hold U+0000 (it raises on insert and on comparison), so a NUL in a
        # path, query string or form field would be a 500 there while SQLite stores it. No Orgkit input
        # has a use for it: refuse it once, here, in the interface's error format (render_error).
        if "\x00" in request.path:
            abort(404)   # no page, id or token contains one: the path names nothing
        if _has_nul(request.args):
            abort(400, description=NUL_REFUSED)
        if request.mimetype in FORM_MIMETYPES:
            try:
                form = request.form
            except RequestEntityTooLarge:
                return  # the view reads the form again and answers the 413 in its own way
            if _has_nul(form):
                abort(400, description=NUL_REFUSED)

    @app.after_request
    def security_headers(response):
        headers = response.headers
        # htmx runs under this policy: no inline scripts, no eval (htmx.config.allowEval is off). Forms
        # post to this site only; a POST that leads to an IdP goes on with formtools.continue_to().
        headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'",
        )
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        if request.is_secure:
            headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
        if response.mimetype == "text/html":
            # Pages show org data and, once, secrets: no browser or proxy keeps a copy, so Back after
            # logout refetches (and meets the login page) instead of showing a stored one.
            headers.setdefault("Cache-Control", "no-store")
        headers["X-Request-ID"] = g.get("request_id", "")
        return htmx.add_vary(response)

    @app.teardown_request
    def end_transaction(exc):
        # Nothing half-written: a request that failed leaves its transaction rolled back, and so does
        # one that wrote without committing. One that only read ends with COMMIT, which keeps the
        # connection's prepared statements (extensions.end_read_only_transaction).
        if exc is not None:
            db.session.rollback()
        elif db.session.registry.has():   # a request that never touched the database has no session
            end_read_only_transaction(db.session())


FORM_MIMETYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _has_nul(multidict):
    return any("\x00" in key or "\x00" in value for key, values in multidict.lists() for value in values)


def _register_error_handlers(app):
    def render_error(status, description=None):
        for prefix, renderer in app.extensions["orgkit_error_renderers"]:
            if request.path.startswith(prefix):
                return renderer(status, description)
        if request.accept_mimetypes.best == "application/json" or request.path.startswith("/api/"):
            return jsonify(error={"code": status, "message": description or ERROR_TITLES.get(status, "Error")}), status
        return render_template(
            "errors/error.html", status=status, title=ERROR_TITLES.get(status, "Error"), description=description
        ), status

    @app.errorhandler(HTTPException)
    def http_error(exc):
        db.session.rollback()
        description = exc.description if exc.code not in (404, 500) else None
        if exc.code == 429:
            response = render_error(429, "Too many attempts. Wait a moment and try again.")
            response = app.make_response(response)
            retry_after = getattr(exc, "retry_after", None)  # whole seconds, from a RateCounter
            if retry_after is None:
                response.headers.setdefault("Retry-After", "60")  # Flask-Limiter's hook sets the true figure
            else:
                response.headers["Retry-After"] = str(retry_after)
            return response
        response = app.make_response(render_error(exc.code or 500, description))
        if exc.code == 405 and getattr(exc, "valid_methods", None):
            response.headers["Allow"] = ", ".join(exc.valid_methods)  # RFC 9110 section 15.5.6
        return response

    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        db.session.rollback()
        return render_error(400, "The form expired or was sent from another site. Reload the page and try again.")

    @app.errorhandler(Exception)
    def unexpected_error(exc):
        try:
            db.session.rollback()
        except Exception:  # the connection is gone; the pool replaces it on the next checkout
            app.logger.warning("rollback failed after an error", exc_info=True)
        if isinstance(exc, OperationalError):
            # The database is unreachable (restart, failover): a 503 that says so and asks to retry,
            # rendered without touching the database; the pool drops dead connections once it is back.
            app.logger.error("database unavailable on %s %s: %s", request.method, logs.logged_path(request), exc.orig)
            return render_unavailable(503, "Orgkit cannot reach its database right now. Try again in a moment.")
        app.logger.exception("unhandled error on %s %s", request.method, logs.logged_path(request))
        try:
            return render_error(500)
        except Exception:  # the error page itself failed (it reads the signed-in user from the database)
            app.logger.exception("error page failed; answering with the plain one")
            return render_unavailable(500)

    def render_unavailable(status, description=None):
        for prefix, renderer in app.extensions["orgkit_error_renderers"]:
            if request.path.startswith(prefix):
                response = app.make_response(renderer(status, description))
                break
        else:
            if request.accept_mimetypes.best == "application/json":
                response = app.make_response((jsonify(error={"code": status, "message": description or ERROR_TITLES[500]}), status))
            else:
                title = "Temporarily unavailable" if status == 503 else ERROR_TITLES[500]
                # Straight from the Jinja environment: render_template would run the context
                # processors, and Flask-Login's loads the signed-in user from the database.
                page = app.jinja_env.get_template("errors/unavailable.html").render(
                    status=status, title=title, description=description)
                response = app.make_response((page, status))
        if status == 503:
            response.headers["Retry-After"] = "5"
        return response


def _register_template_helpers(app):
    from navigation import org_nav, user_menu
    from permissions import ROLE_DESCRIPTIONS, ROLE_LABELS
    from tenancy import can, current_membership, current_org, user_workspaces

    # Globals, not a context processor, so imported macros (_macros.html) see them too.
    app.jinja_env.globals.update(
        can=can,
        ROLE_LABELS=ROLE_LABELS,
        ROLE_DESCRIPTIONS=ROLE_DESCRIPTIONS,
        org_nav=org_nav,
        user_menu=user_menu,
        user_workspaces=user_workspaces,
        url_exists=lambda endpoint: endpoint in app.view_functions,
    )
    # The shared macros as a global too: a block rendered alone for htmx (render_block) does not run
    # the template's top-level {% import %}, so blocks would otherwise lose `ui`.
    app.jinja_env.globals["ui"] = app.jinja_env.get_template("_macros.html").module

    @app.context_processor
    def inject():
        return {
            "current_org": current_org if g.get("org") is not None else None,
            "current_membership": current_membership if g.get("membership") is not None else None,
        }

    @app.template_filter("when")
    def format_when(value):
        if value is None:
            return "—"
        return value.strftime("%Y-%m-%d %H:%M UTC")
