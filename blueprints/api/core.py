"""What every /api/v1 request goes through: key authentication, the per-key rate limit, JSON errors,
body validation, scope checks, cursor pagination and Idempotency-Key replay."""
import hashlib
import json
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache, wraps

from flask import Response, current_app, g, request
from jsonschema import Draft202012Validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from blueprints.api import bp, schemas
from blueprints.rate_counter import RateCounter
from extensions import db
from models import ApiIdempotencyRecord, utcnow
from permissions import role_can
from request_context import client_ip
from services import ServiceError, api_keys
from services.audit import decode_cursor, encode_cursor
from services.json_text import unstorable_text
from services.events import Actor
from tenancy import bind_org

MAX_BODY_BYTES = 256 * 1024
DEFAULT_LIMIT = 50
MAX_LIMIT = 100
PUBLIC_ENDPOINTS = {"api.openapi_document", "api.api_reference"}

STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
                422: "validation_failed", 429: "rate_limited", 500: "server_error", 503: "unavailable"}
# ServiceError.code -> HTTP status
SERVICE_STATUS = {"forbidden": 403, "not_found": 404, "conflict": 409, "last_owner": 409, "too_soon": 409}


class ApiError(Exception):
    def __init__(self, status, code, message, details=None, headers=None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details = details or {}
        self.headers = headers or {}


def json_response(body, status=200, headers=None):
    response = Response(json.dumps(body, separators=(",", ":"), default=str), status=status, mimetype="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def error_response(status, code, message, details=None, headers=None):
    return json_response({"error": {"code": code, "message": message, "details": details or {}}}, status, headers)


def render_app_error(status, description):
    """Errors Flask raises itself under /api/ (unknown path, wrong method, 500) as JSON errors."""
    messages = {404: "No such API endpoint or object.", 405: "This endpoint does not accept that method.",
                500: "Something went wrong on our side. Retry later.", 429: "Too many requests."}
    message = description if status in (400, 413) and description else messages.get(status, description or "Error")
    return error_response(status, STATUS_CODES.get(status, "error"), message)


@bp.errorhandler(ApiError)
def api_error(error):
    db.session.rollback()
    return error_response(error.status, error.code, error.message, error.details, error.headers)


def service_error(error):
    """A ServiceError from a verb as the API's error (422 with the field, or its own status)."""
    status = SERVICE_STATUS.get(error.code, 422)
    details = {"field": error.field} if error.field else {}
    return ApiError(status, error.code if status != 422 else "validation_failed", error.message, details)


# --- Authentication and rate limit ---------------------------------------------------------------

def _bearer_key():
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


@bp.before_request
def authenticate():
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    raw = _bearer_key()
    # The rate-limit count is sent to Redis before the key lookup and read after it, so the two
    # round trips overlap (bench/api.py). Keys that fail the format check never reach Redis.
    counter = (RateCounter.start(f"api:rate:{api_keys.hash_key(raw)[:32]}", current_app.config["API_RATE_LIMIT"])
               if api_keys.is_well_formed(raw) else None)
    try:
        credential = api_keys.authenticate(raw)
    except api_keys.KeyRefused as refused:
        raise ApiError(401, "unauthorized", refused.message,
                       headers={"WWW-Authenticate": 'Bearer realm="orgkit", error="invalid_token"'}) from None
    finally:
        if counter is not None:
            counter.finish()  # always: the connection goes back to the pool whatever happened
    g.api_credential = credential
    g.org = credential.org
    # The key named the org: from here on PostgreSQL shows no other org's rows (the lookup itself
    # bound it in this transaction where it could).
    bind_org(credential.org, set_by_lookup=True)
    enforce_rate_limit(counter)
    if api_keys.record_use(credential.key, client_ip()):
        db.session.commit()
    return None


def enforce_rate_limit(counter):
    reset = counter.reset_seconds()
    g.rate_limit = (counter.amount, counter.remaining, reset)
    if counter.exceeded:
        raise ApiError(429, "rate_limited",
                       f"This key sent more than {counter.amount} requests in {counter.window} seconds. Retry after {reset} seconds.",
                       {"limit": counter.amount, "window_seconds": counter.window}, headers={"Retry-After": str(reset)})


@bp.after_request
def rate_limit_headers(response):
    limit = g.get("rate_limit")
    if limit is not None:
        amount, remaining, reset = limit
        response.headers["X-RateLimit-Limit"] = str(amount)
        response.headers["X-RateLimit-Remaining"] = str(remaining)
        response.headers["X-RateLimit-Reset"] = str(reset)
    response.headers["Cache-Control"] = "no-store"
    return response


def actor():
    return Actor.for_api_key(g.api_credential.key, client_ip(), request.headers.get("User-Agent"))


# --- Bodies --------------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def _validator(name):
    return Draft202012Validator(schemas.REQUESTS[name])


def read_body(schema_name, optional=False):
    """The request's JSON body, validated against its published schema (400/413/422 otherwise)."""
    if (request.content_length or 0) > MAX_BODY_BYTES:  # refused before it is read into memory
        raise ApiError(413, "too_large", f"The request body is larger than {MAX_BODY_BYTES} bytes.")
    raw = request.get_data(cache=True)
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, "too_large", f"The request body is larger than {MAX_BODY_BYTES} bytes.")
    if not raw.strip():
        if optional:
            return {}
        raise ApiError(400, "invalid_json", "The request needs a JSON body.")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"The request body is not valid JSON: {exc}") from None
    problem = unstorable_text(body)
    if problem:  # refused here, whatever the field: no column can store it
        raise ApiError(400, "invalid_json", f"The request body {problem}.")
    errors = sorted(_validator(schema_name).iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        details = {"errors": [{"path": "/" + "/".join(str(p) for p in e.absolute_path), "message": e.message[:300]}
                              for e in errors[:20]]}
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "body"
        if first.absolute_path:
            details["field"] = where  # as a ServiceError's refusal names it
        raise ApiError(422, "validation_failed", f"{where}: {first.message[:300]}", details)
    return body


def request_body():
    """The current operation's body, validated against the schema it declares."""
    op = g.api_operation
    return read_body(op.body, optional=op.body_optional)


# --- Pagination ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class PageRequest:
    limit: int
    position: tuple | None


def page_request(decode=decode_cursor):
    """limit and the decoded cursor of a list request (decode: the cursor format of that list)."""
    raw_limit = request.args.get("limit")
    try:
        limit = DEFAULT_LIMIT if raw_limit in (None, "") else int(raw_limit)
    except ValueError:
        raise ApiError(400, "bad_request", "limit must be a whole number from 1 to 100.", {"parameter": "limit"}) from None
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(400, "bad_request", "limit must be a whole number from 1 to 100.", {"parameter": "limit"})
    cursor = request.args.get("cursor")
    position = decode(cursor) if cursor else None
    if cursor and position is None:
        raise ApiError(400, "bad_request", "cursor is not one this API gave out. Start again without it.", {"parameter": "cursor"})
    return PageRequest(limit, position)


def keyset_page(query, created_column, id_column, page, newest_first=False):
    """Rows after the cursor in (created_at, id) order, and the cursor of the next page (or None)."""
    if page.position is not None:
        created_at, row_id = page.position
        if newest_first:
            query = query.where(db.or_(created_column < created_at, db.and_(created_column == created_at, id_column < row_id)))
        else:
            query = query.where(db.or_(created_column > created_at, db.and_(created_column == created_at, id_column > row_id)))
    order = (created_column.desc(), id_column.desc()) if newest_first else (created_column, id_column)
    rows = db.session.scalars(query.order_by(*order).limit(page.limit + 1)).all()
    more = len(rows) > page.limit
    rows = rows[:page.limit]
    return rows, (encode_cursor(rows[-1]) if more else None)


def listing(rows, next_cursor, to_json):
    return {"data": [to_json(row) for row in rows], "next_cursor": next_cursor}


# --- Operations ----------------------------------------------------------------------------------

@dataclass
class Operation:
    method: str
    rule: str
    endpoint: str
    permission: str
    summary: str
    description: str = ""
    body: str | None = None
    body_optional: bool = False
    response: object = None     # schema name, ("list", name), or None for 204
    status: int = 200
    query: list = field(default_factory=list)   # [(name, schema, description)]
    paginated: bool = False
    # A field of the answer holding a secret shown once (a webhook signing secret): it is left out of
    # the Idempotency-Key record (docs/security.md section 7) and read again from where it is kept,
    # encrypted, when the answer is replayed: reveal(stored body) -> the secret.
    secret_field: str | None = None
    reveal: object = None

    @property
    def scope(self):
        return api_keys.required_scope(self.permission, self.method)


OPERATIONS = []


def operation(method, rule, permission, summary, **options):
    """Declare an API operation: registers the route and records it for the OpenAPI document.

    The view receives the URL values, loads its objects, then reads request_body() (so another org's
    id is a 404 whatever the body), and returns the response body (a dict) or None for 204. It runs after the scope and role checks; unsafe methods
    commit once after it, with the Idempotency-Key record when one was sent."""
    def decorator(view):
        op = Operation(method, rule, view.__name__, permission, summary,
                       description=(view.__doc__ or "").strip(), **options)

        @wraps(view)
        def wrapped(**values):
            _authorize(op)
            _check_query(op)
            if method == "GET":
                return json_response(view(**values))
            replay = _idempotent_replay(op) if method == "POST" else None
            if replay is not None:
                return replay
            g.api_operation = op
            try:
                result = view(**values)
            except ServiceError as error:
                raise service_error(error) from None
            response = json_response(result, op.status) if result is not None else Response(status=204)
            try:
                _remember_idempotent(response, op)
                db.session.commit()
            except IntegrityError:
                db.session.rollback()
                raise ApiError(409, "conflict", "A request with this Idempotency-Key is already being handled. Retry it in a moment.") from None
            return response

        wrapped.required_permission = permission
        bp.add_url_rule(rule, endpoint=view.__name__, view_func=wrapped, methods=[method])
        OPERATIONS.append(op)
        return wrapped
    return decorator


def _authorize(op):
    credential = g.api_credential
    if not credential.has_scope(op.scope):
        raise ApiError(403, "missing_scope", f"This API key lacks the {op.scope} scope that {op.method} {op.rule} needs.",
                       {"required_scope": op.scope, "key_scopes": list(credential.key.scopes)})
    if not role_can(credential.acting_role, op.permission):
        raise ApiError(403, "forbidden", "The person who created this API key no longer has a role that allows this.",
                       {"required_permission": op.permission})
    if op.method != "GET" and credential.org.is_suspended:
        raise ApiError(403, "forbidden", "This workspace is suspended, so it is read-only.")


def _check_query(op):
    """Query parameters against the schemas the document publishes; unknown ones are refused (a
    misspelt filter silently ignored would return everything)."""
    declared = {name: schema for name, schema, _ in op.query}
    for name in request.args:
        if name not in declared:
            allowed = ", ".join(declared) or "none"
            raise ApiError(400, "bad_request", f"Unknown query parameter {name[:40]!r}; this endpoint takes: {allowed}.",
                           {"parameter": name[:100]})
        raw = request.args[name]
        value = raw
        if declared[name].get("type") == "integer":
            try:
                value = int(raw)
            except ValueError:
                value = raw
        error = next(_query_validator(name, op.endpoint).iter_errors(value), None)
        if error is not None:
            raise ApiError(400, "bad_request", f"{name}: {error.message[:200]}", {"parameter": name})


@lru_cache(maxsize=None)
def _query_validator(name, endpoint):
    schema = next(schema for op in OPERATIONS if op.endpoint == endpoint for n, schema, _ in op.query if n == name)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _idempotency_key():
    value = request.headers.get("Idempotency-Key")
    if value is None:
        return None
    if not 1 <= len(value) <= 255 or not value.isprintable():
        raise ApiError(400, "bad_request", "Idempotency-Key must be 1 to 255 printable characters (a UUID is a good choice).")
    return value


def _request_hash():
    return hashlib.sha256(b"\n".join([request.method.encode(), request.path.encode(), request.get_data(cache=True)])).hexdigest()


def _idempotent_replay(op):
    """The stored answer to an earlier request with the same Idempotency-Key, if there is one."""
    key = _idempotency_key()
    if key is None:
        return None
    g.idempotency_key = key
    record = db.session.scalar(select(ApiIdempotencyRecord).where(
        ApiIdempotencyRecord.api_key_id == g.api_credential.key.id, ApiIdempotencyRecord.idempotency_key == key))
    if record is None:
        return None
    days = current_app.config["API_IDEMPOTENCY_RETENTION_DAYS"]
    if days and record.created_at < utcnow() - timedelta(days=days):  # not pruned yet, but expired
        db.session.delete(record)
        db.session.flush()
        return None
    if record.request_hash != _request_hash():
        raise ApiError(422, "idempotency_key_reused",
                       "This Idempotency-Key was used for a different request. Use a new key for a new request.")
    if op.secret_field and 200 <= record.response_status < 300:
        body = json.loads(record.response_body)
        body[op.secret_field] = op.reveal(body)
        response = json_response(body, record.response_status)
    else:
        response = Response(record.response_body, status=record.response_status, mimetype="application/json")
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _remember_idempotent(response, op):
    key = g.get("idempotency_key")
    if key is None:
        return
    credential = g.api_credential
    stored = response.get_data(as_text=True)
    if op.secret_field and 200 <= response.status_code < 300:
        body = json.loads(stored)
        body.pop(op.secret_field, None)
        stored = json.dumps(body, separators=(",", ":"), default=str)
    db.session.add(ApiIdempotencyRecord(
        org_id=credential.org.id, api_key_id=credential.key.id, idempotency_key=key,
        request_hash=_request_hash(), response_status=response.status_code, response_body=stored))
    db.session.flush()
