"""The OpenAPI 3.1 document of /api/v1, generated from the operations as declared (core.OPERATIONS)
and the schemas the requests are validated against, and the API reference page rendered from it."""
import re
from functools import lru_cache

from flask import current_app, render_template
from markupsafe import Markup, escape

from blueprints.api import bp, schemas
from blueprints.api.core import OPERATIONS, json_response
from services import api_keys
from tenancy import public_page

ERROR = {"application/json": {"schema": schemas.ref("Error")}}
COMMON_ERRORS = {
    "401": "The key is missing, malformed, unknown, revoked or expired, or its creator lost access.",
    "403": "The key lacks the scope this needs (details.required_scope), or the workspace is read-only.",
    "429": "Past API_RATE_LIMIT for this key: wait Retry-After seconds.",
}
RATE_HEADERS = {
    "X-RateLimit-Limit": {"description": "Requests allowed per window for this key.", "schema": {"type": "integer"}},
    "X-RateLimit-Remaining": {"description": "Requests left in the current window.", "schema": {"type": "integer"}},
    "X-RateLimit-Reset": {"description": "Seconds until the window resets.", "schema": {"type": "integer"}},
}


def _path(rule):
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


def _operation_document(op):
    path_params = re.findall(r"<(?:[a-z]+:)?([a-z_]+)>", op.rule)
    parameters = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in path_params]
    parameters += [{"name": name, "in": "query", "required": False, "schema": schema, "description": description}
                   for name, schema, description in op.query]
    responses = {}
    if op.response is None:
        responses[str(op.status)] = {"description": "Done.", "headers": RATE_HEADERS}
    else:
        schema = schemas.list_of(op.response[1]) if isinstance(op.response, tuple) else schemas.ref(op.response)
        responses[str(op.status)] = {"description": "OK.", "headers": RATE_HEADERS,
                                     "content": {"application/json": {"schema": schema}}}
    for status, description in COMMON_ERRORS.items():
        responses[status] = {"description": description, "content": ERROR}
    if path_params:
        responses["404"] = {"description": "No such object in the key's workspace (other workspaces' objects included).", "content": ERROR}
    if op.paginated or op.query:
        responses["400"] = {"description": "A query parameter is not valid (details.parameter).", "content": ERROR}
    if op.method != "GET":
        responses["400"] = {"description": "Malformed JSON, a NUL character, or a bad header.", "content": ERROR}
        responses["409"] = {"description": "The change conflicts with the current state (e.g. already a member, the last owner).", "content": ERROR}
        responses["422"] = {"description": "The body does not match the schema, or a value was refused (details.field).", "content": ERROR}
    if op.body:
        responses["413"] = {"description": "The body is too large.", "content": ERROR}
    document = {
        "operationId": op.endpoint, "summary": op.summary, "tags": [op.rule.split("/")[1]],
        "description": (op.description + "\n\n" if op.description else "") + f"Scope: **{op.scope}**.",
        "x-required-scope": op.scope, "parameters": parameters, "responses": responses,
        "security": [{"apiKey": [op.scope]}],
    }
    if op.method == "POST":
        parameters.append({"name": "Idempotency-Key", "in": "header", "required": False,
                           "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x20-\\x7e]+$"},
                           "description": "Retry safely: the same key with the same request gets the first answer (for API_IDEMPOTENCY_RETENTION_DAYS, 1 day by default)."})
    if op.body:
        document["requestBody"] = {"required": not op.body_optional,
                                   "content": {"application/json": {"schema": schemas.ref(op.body)}}}
    return document


@lru_cache(maxsize=4)
def build_document(server_url):
    paths = {}
    for op in OPERATIONS:
        paths.setdefault(_path(op.rule), {})[op.method.lower()] = _operation_document(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Orgkit API", "version": "1.0.0",
            "description": (
                "Drive your Orgkit workspace from your own software. Authenticate with an API key from the "
                "workspace's API keys settings: `Authorization: Bearer ok_live_...`. The workspace comes from the key. "
                "Errors are `{\"error\": {\"code\", \"message\", \"details\"}}`. Lists are cursor-paginated "
                "(`limit`, `cursor`, `next_cursor`). POST accepts `Idempotency-Key`. Every change is recorded "
                "in the audit log with the key as its actor.\n\nScopes: "
                + " ".join(f"**{name}**: {text}" for name, text in api_keys.SCOPE_DESCRIPTIONS.items())),
        },
        "servers": [{"url": server_url}],
        "security": [{"apiKey": []}],
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer", "bearerFormat": "ok_live_..."}},
            "schemas": schemas.ALL,
        },
        "paths": paths,
    }


def document():
    return build_document(current_app.config["PUBLIC_BASE_URL"].rstrip("/") + "/api/v1")


@bp.get("/openapi.json")
@public_page
def openapi_document():
    """The OpenAPI 3.1 document (no key needed)."""
    return json_response(document())


def inline_markdown(text):
    """The document's descriptions use `code` and **bold** (CommonMark, as OpenAPI says); the page
    shows those two, escaped first."""
    html = str(escape(text or ""))
    html = re.sub(r"`([^`]+)`", r"<code>\1</code>", html)
    return Markup(re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", html))


@bp.get("/reference")
@public_page
def api_reference():
    """The API reference, rendered from the OpenAPI document."""
    doc = document()
    operations = [(path, method.upper(), spec) for path, methods in doc["paths"].items() for method, spec in methods.items()]
    return render_template("api/reference.html", doc=doc, operations=operations, schemas=doc["components"]["schemas"],
                           inline_markdown=inline_markdown)
