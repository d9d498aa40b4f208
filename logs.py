"""Logging: one line per record, as JSON (LOG_FORMAT=json, for production) or readable text (local).

Every line carries the context it was logged in, so an operator can follow one request or one job
through the logs without grepping messages:

- during a request: request_id (g.request_id, echoed as X-Request-ID), org (slug) and org_id when an
  org is in scope, user_id when someone is signed in;
- during a job: job_id and job (function name) from the worker, the request_id and org of the request
  that enqueued it (carried in the job's meta), and any org a job binds with bind_org().

The context is read without touching the database: a log line written while a connection is broken
(or inside an after_commit hook) must not itself run a query.
"""
import contextlib
import contextvars
import json
import logging
import re
import sys
import time
from datetime import datetime, timezone

from flask import g, has_request_context, request
from sqlalchemy import event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

# Fields bound outside a request (jobs, the sweeper, CLI): a copy-on-write dict per context.
_bound = contextvars.ContextVar("orgkit_log_context", default={})

# The LogRecord attributes every record has; anything else on a record came from `extra=`.
_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
CONTEXT_FIELDS = ("request_id", "org", "org_id", "user_id", "job_id", "job")

_HANDLER_MARK = "_orgkit_handler"


def bind(**fields):
    """Add fields to the log context of this thread/context; returns a token for unbind()."""
    return _bound.set({**_bound.get(), **{k: v for k, v in fields.items() if v is not None}})


def unbind(token):
    _bound.reset(token)


@contextlib.contextmanager
def bound(**fields):
    token = bind(**fields)
    try:
        yield
    finally:
        unbind(token)


def bind_org(org):
    """Jobs call this once they have loaded the org they work for, so their lines name it."""
    if org is not None:
        bind(org=_loaded_attr(org, "slug"), org_id=_identity(org))


def current_context():
    """The context fields in force now (request first, then bound fields)."""
    fields = dict(_bound.get())
    if has_request_context():
        fields.update(_request_fields())
    return fields


def carried_context():
    """What a job enqueued now should log as its origin: the request id and the org."""
    fields = current_context()
    return {key: fields[key] for key in ("request_id", "org", "org_id") if key in fields}


def _request_fields():
    fields = {}
    request_id = g.get("request_id")
    if request_id:
        fields["request_id"] = request_id
    fields.update(_org_fields())
    # Flask-Login caches the user of this request on g; never load it just to log.
    user = g.get("_login_user")
    if user is not None and getattr(user, "is_authenticated", False):
        user_id = _identity(user)
        if user_id:
            fields["user_id"] = user_id
    return fields


def _org_fields():
    # Org pages and the JSON API put their org on g.org; SCIM puts the token's org on g.scim_org.
    org = g.get("org") or g.get("scim_org")
    if org is None:
        return {"org": g.org_slug} if g.get("org_slug") else {}
    cached = g.get("_log_org")
    if cached is not None and cached[0] is org:
        return cached[1]
    slug = g.get("org_slug") or _loaded_attr(org, "slug")
    fields = {key: value for key, value in (("org", slug), ("org_id", _identity(org))) if value}
    if slug:
        # After the commit the org's attributes are expired; keep what we read while they were loaded.
        g._log_org = (org, fields)
    return fields


@event.listens_for(Session, "before_commit")
def _remember_org_before_commit(session):
    if has_request_context():
        try:
            _org_fields()
        except Exception:  # logging must never break a commit
            pass


def _identity(obj):
    """A model's primary key without a query (the identity survives expiry after a commit)."""
    try:
        state = sa_inspect(obj)
    except Exception:  # not a mapped object
        return None
    identity = state.identity
    return str(identity[0]) if identity else None


def _loaded_attr(obj, name):
    try:
        return sa_inspect(obj).dict.get(name)
    except Exception:  # not a mapped object
        return getattr(obj, name, None)


class ContextFilter(logging.Filter):
    """Puts the current context fields on every record (attached to the handler, so every logger's
    records get them, including Flask's, RQ's and gunicorn's)."""

    def filter(self, record):
        try:
            fields = current_context()
        except Exception:  # logging must never raise into the caller
            fields = {}
        for key, value in fields.items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, the context fields, extras, exc."""

    def format(self, record):
        entry = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_") and value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # default=str: a UUID or datetime in `extra` must not turn a log line into an exception.
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Readable lines for a terminal, with the context as key=value pairs."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record):
        line = super().format(record)
        context = " ".join(
            f"{key}={getattr(record, key)}" for key in CONTEXT_FIELDS if getattr(record, key, None) is not None
        )
        if not context:
            return line
        head, newline, rest = line.partition("\n")  # keep tracebacks below the first line
        return f"{head} [{context}]{newline}{rest}"


def make_formatter(log_format):
    if log_format == "json":
        return JsonFormatter()
    if log_format == "text":
        return TextFormatter()
    raise ValueError(f"LOG_FORMAT must be json or text, not {log_format!r}")


def configure(log_format="text", level="INFO", stream=None):
    """Install the one root handler (replacing an earlier one of ours), with the context filter."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(make_formatter(log_format))
    handler.addFilter(ContextFilter())
    root.addHandler(handler)
    root.setLevel(level)
    return handler


request_log = logging.getLogger("orgkit.request")


def drop_werkzeug_request_line(record):
    """False for the dev server's own access line (WSGIRequestHandler.log_request); its other lines
    (the address it serves at, errors) pass."""
    return not (isinstance(record.msg, str) and record.msg.rstrip().endswith('] "%s" %s %s'))


def init_app(app):
    """Logging for this app: the root handler per LOG_FORMAT, and one line per finished request."""
    from flask.logging import default_handler

    if not app.config.get("TESTING"):
        configure(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"])
    else:
        make_formatter(app.config["LOG_FORMAT"])  # still refuse a bad value in tests
    # Flask's own handler would print app.logger lines a second time, without context.
    app.logger.removeHandler(default_handler)
    if app.config["LOG_REQUESTS"]:
        # `flask run`'s server (werkzeug) prints a line per request too: every request showed twice.
        logging.getLogger("werkzeug").addFilter(drop_werkzeug_request_line)

    @app.before_request
    def start_request_clock():
        g.request_started = time.perf_counter()

    @app.after_request
    def log_request(response):
        # The access line, with the same context as every other line (gunicorn's access log has none).
        if app.config["LOG_REQUESTS"]:
            started = g.get("request_started")
            path = logged_path(request)
            request_log.info(
                "%s %s %s", request.method, path, response.status_code,
                extra={
                    "method": request.method,
                    "path": path,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1) if started else None,
                    "remote_addr": request.remote_addr,
                },
            )
        return response


# URL parts that are credentials (password reset, sign-up, invitation, invite-link, unsubscribe and
# setup links): a route names them <token> (or <..._token>), and access lines show this instead.
REDACTED = "[redacted]"
_SECRET_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?(?:token|\w+_token)>")


def logged_path(request):
    """The request's path as an access line may show it: every token segment of its route redacted."""
    rule = request.url_rule
    if rule is None or not _SECRET_ARGUMENT.search(rule.rule):
        return request.path
    rule_parts, path_parts = rule.rule.split("/"), request.path.split("/")
    if len(rule_parts) != len(path_parts):   # a path converter spans segments: say less, not more
        return rule.rule
    return "/".join(REDACTED if _SECRET_ARGUMENT.fullmatch(r) else p for r, p in zip(rule_parts, path_parts))


def job_context(job):
    """The log context of one RQ job: its id, function, and what the enqueuing request carried."""
    carried = (job.meta or {}).get("log") or {}
    return bound(job_id=job.id, job=job.func_name.rsplit(".", 1)[-1], **carried)


