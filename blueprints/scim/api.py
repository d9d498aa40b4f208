"""The SCIM 2.0 protocol at /scim/v2 (RFC 7644). The org comes from the bearer token, never from the
URL or body. Routes load (org-scoped: another org's id is 404), act through services.scim, and
commit once; every request is written to the org's SCIM request log afterwards."""
import json
import time

from flask import Blueprint, current_app, g, request, url_for
from sqlalchemy.exc import IntegrityError
from flask import Response

from blueprints.rate_counter import RateCounter
from extensions import db, limiter
from models import ScimGroup, ScimUser
from request_context import client_ip
from services.events import Actor
from services.json_text import unstorable_text
from services.scim import DEFAULT_COUNT, MAX_RESULTS, SEARCH_SCHEMA, LIST_SCHEMA, ScimError, invalid_syntax, invalid_value, not_found
from services.scim import provisioning, settings
from services.scim.resources import Projection, etag, group_members, group_resource, read_user_resource, user_resource
from services.scim.schema import GROUP, USER, resource_type_documents, schema_documents, service_provider_config
from tenancy import bind_org, public_page

bp = Blueprint("scim_api", __name__, url_prefix="/scim/v2")

SCIM_MEDIA_TYPE = "application/scim+json"
MAX_BODY_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 16
# The largest startIndex accepted: beyond any real directory, and far inside PostgreSQL's bigint OFFSET.
MAX_START_INDEX = 2**31 - 1


def base_url():
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + "/scim/v2"


def scim_response(body, status=200, headers=None):
    response = Response(json.dumps(body), status=status, mimetype=SCIM_MEDIA_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def error_response(error):
    response = scim_response(error.to_json(), error.status, error.headers)
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="scim"'
    return response


def _bearer_token():
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def rate_counter():
    """SCIM_RATE_LIMIT per token (its digest), so one IdP cannot slow another org's provisioning; requests
    without a token count against their client address."""
    token = _bearer_token()
    name = f"scim:rate:{settings.hash_token(token)[:32]}" if token else f"scim:rate-anon:{client_ip()}"
    return RateCounter.start(name, current_app.config["SCIM_RATE_LIMIT"])


# --- Authentication, logging, errors ---------------------------------------------------------------

@bp.before_request
def authenticate():
    g.scim_started = time.monotonic()
    counter = rate_counter()   # sent now, read after the token lookup: the two round trips overlap
    try:
        found = settings.authenticate(_bearer_token())
    finally:
        counter.finish()
    g.scim_rate = counter
    if counter.exceeded:
        raise ScimError(429, f"Too many requests: more than {counter.amount} in {counter.window} seconds. "
                        f"Retry after {counter.reset_seconds()} seconds.", headers={"Retry-After": str(counter.reset_seconds())})
    if found is None:
        raise ScimError(401, "A valid SCIM bearer token is required (Authorization: Bearer okscim_...).")
    token, org, enabled = found
    g.scim_token, g.scim_org = token, org
    # Plain values for the request log, which is written after the request's own commit has expired
    # the rows (reading them there would reload both).
    g.scim_log_key = (org.id, token.id, token.prefix)
    # The token named the org: from here on PostgreSQL shows no other org's rows (bound by the lookup
    # itself in this transaction).
    bind_org(org, set_by_lookup=True)
    if not enabled:
        raise ScimError(403, "SCIM provisioning is turned off for this organization. An admin can turn it on in its SCIM settings.")
    if org.is_suspended and request.method not in ("GET", "HEAD"):
        raise ScimError(403, "This organization is suspended, so it is read-only.")


@bp.errorhandler(ScimError)
def scim_error(error):
    db.session.rollback()
    g.scim_summary = error.detail
    return error_response(error)


@bp.errorhandler(IntegrityError)
def concurrent_write(error):
    """Two requests raced for one userName, email or displayName: the database's unique index let one
    through, and every other one is 409 uniqueness (RFC 7644 section 3.3), never a 500."""
    db.session.rollback()
    return scim_error(conflict_error(error))


# Unique indexes (extensions.NAMING_CONVENTION names) and what a client sent that clashed.
UNIQUE_CLASHES = (
    ("uq_scim_users_org_id", "A user with this userName already exists in this organization."),
    ("user_name_lower", "A user with this userName already exists in this organization."),
    ("uq_scim_groups_org_id", "A group with this displayName already exists in this organization."),
    ("display_name_lower", "A group with this displayName already exists in this organization."),
    ("uq_scim_users_membership_id", "This email address is already provisioned in this organization under another userName."),
    ("scim_users.membership_id", "This email address is already provisioned in this organization under another userName."),
    ("uq_users_email", "This email address is already provisioned in this organization under another userName."),
    ("users.email", "This email address is already provisioned in this organization under another userName."),
    ("uq_memberships_org_id", "This email address is already provisioned in this organization under another userName."),
    ("memberships.org_id", "This email address is already provisioned in this organization under another userName."),
)


def conflict_error(error):
    text = str(error.orig)
    for marker, detail in UNIQUE_CLASHES:
        if marker in text:
            return ScimError(409, detail, "uniqueness")
    return ScimError(409, "Another request changed the same resource at the same moment. Read it again and retry.")


@bp.after_request
def record_request(response):
    """The request log an IT admin reads on the settings page: method, path, status, what changed.
    Buffered in Redis (services/scim/settings.py), so a read commits nothing."""
    counter = g.get("scim_rate")
    if counter is not None:
        response.headers["X-RateLimit-Limit"] = str(counter.amount)
        response.headers["X-RateLimit-Remaining"] = str(counter.remaining)
        response.headers["X-RateLimit-Reset"] = str(counter.reset_seconds())
    if g.get("scim_log_key") is None:
        return response
    org_id, token_id, token_prefix = g.scim_log_key
    try:
        path = request.full_path.rstrip("?")[:500]
        summary = g.get("scim_summary") or ""
        if not settings.record_request(org_id, token_id, token_prefix, request.method, path, response.status_code, summary):
            db.session.commit()
    except Exception:
        db.session.rollback()
        current_app.logger.exception("could not record the SCIM request log")
    return response


def render_scim_error(status, description):
    """App-level errors under /scim/ (404 for unknown paths, 405, 413, 500) as SCIM errors."""
    details = {
        404: "Not found.",
        405: "Method not allowed on this endpoint.",
        500: "Something went wrong on our side. Retry later.",
    }
    error = ScimError(status, description if status in (400, 413) and description else details.get(status, description or "Error"))
    g.scim_summary = error.detail
    return error_response(error)


def actor():
    token = g.scim_token
    return Actor("scim", str(token.id), f"SCIM token {token.prefix}", client_ip(),
                 (request.headers.get("User-Agent") or "")[:255] or None)


def read_json():
    raw = request.get_data(cache=False)
    if len(raw) > MAX_BODY_BYTES:
        raise ScimError(413, f"The request body is larger than {MAX_BODY_BYTES} bytes.")
    if not raw:
        raise invalid_syntax("The request needs a JSON body.")
    try:
        body = json.loads(raw)
    except RecursionError:
        raise invalid_syntax(f"The request body is nested more than {MAX_JSON_DEPTH} levels deep.") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid_syntax(f"The request body is not valid JSON: {exc}") from None
    check_json_shape(body)
    return body


def check_json_shape(body):
    """Refuse what no SCIM resource holds before anything walks it: nesting deeper than MAX_JSON_DEPTH
    (a SCIM body is at most five levels deep), then NUL characters and lone surrogates, which no
    column stores and which forge or break log lines."""
    pending = [(body, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_JSON_DEPTH:
            raise invalid_syntax(f"The request body is nested more than {MAX_JSON_DEPTH} levels deep.")
        if isinstance(value, (dict, list)):
            pending.extend((item, depth + 1) for item in (value.values() if isinstance(value, dict) else value))
    problem = unstorable_text(body)
    if problem:
        raise invalid_value(f"The request body {problem}.")


def _int_param(name, default, source=None):
    source = request.args if source is None else source
    raw = source.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise invalid_value(f"'{name}' must be an integer.") from None


def list_parameters(source=None):
    """startIndex, count, filter, attributes, excludedAttributes (RFC 7644 section 3.4.2)."""
    source = request.args if source is None else source
    start_index = max(_int_param("startIndex", 1, source), 1)
    if start_index > MAX_START_INDEX:
        raise invalid_value(f"'startIndex' must be at most {MAX_START_INDEX}.")
    # count is capped at the advertised maximum; a negative count is read as 0 (section 3.4.2.4).
    count = min(max(_int_param("count", DEFAULT_COUNT, source), 0), MAX_RESULTS)
    text = source.get("filter")
    if text is not None and not isinstance(text, str):
        raise invalid_value("'filter' must be a string.")

    def joined(name):
        value = source.get(name)
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return ",".join(value)
        if value is not None and not isinstance(value, str):
            raise invalid_value(f"'{name}' must be a string or a list of strings.")
        return value

    return start_index, count, text, joined("attributes"), joined("excludedAttributes")


def check_if_match(row):
    """If-Match with a stale version gives 412 (RFC 7644 section 3.14)."""
    wanted = request.headers.get("If-Match")
    if not wanted:
        return
    tags = [t.strip() for t in wanted.split(",")]
    current = etag(row.version)
    if "*" in tags or current in tags or current.removeprefix("W/") in tags:
        return
    raise ScimError(412, f"The resource changed: its version is now {current}. Read it again and retry.")


def resource_response(resource, status=200, projection=None, location=False):
    body = projection.apply(resource) if projection else resource
    headers = {"ETag": resource["meta"]["version"]}
    if location:
        headers["Location"] = resource["meta"]["location"]
    return scim_response(body, status, headers)


def written_resource(scim_user, groups=None):
    """The User resource of a change, built before the commit: the rows are in memory now, and after
    the commit reading them again would cost three SELECTs (the user, its values, its groups). A user
    just created is in no group yet (groups=[])."""
    db.session.flush()
    return user_resource(scim_user, base_url(), groups)


def not_modified(row):
    wanted = request.headers.get("If-None-Match")
    return bool(wanted) and etag(row.version) in [t.strip() for t in wanted.split(",")]


# --- Discovery (RFC 7644 section 4) ----------------------------------------------------------------

@bp.get("/ServiceProviderConfig")
@public_page
def service_provider_config_read():
    """What this service provider supports."""
    # Public documentation (no sign-in), so an IdP's admin can read it before they have an account.
    docs = current_app.config["PUBLIC_BASE_URL"].rstrip("/") + url_for("scim_docs.scim_docs")
    return scim_response(service_provider_config(base_url(), MAX_RESULTS, docs))


def _list_of(resources):
    return {"schemas": [LIST_SCHEMA], "totalResults": len(resources), "startIndex": 1,
            "itemsPerPage": len(resources), "Resources": resources}


@bp.get("/ResourceTypes")
@public_page
def resource_types_list():
    """User and Group."""
    return scim_response(_list_of(resource_type_documents(base_url())))


@bp.get("/ResourceTypes/<name>")
@public_page
def resource_types_read(name):
    """One resource type."""
    for document in resource_type_documents(base_url()):
        if document["id"].lower() == name.lower():
            return scim_response(document)
    raise not_found("ResourceType", name)


@bp.get("/Schemas")
@public_page
def schemas_list():
    """User, the enterprise User extension and Group."""
    return scim_response(_list_of(schema_documents(base_url())))


@bp.get("/Schemas/<path:schema_id>")
@public_page
def schemas_read(schema_id):
    """One schema."""
    for document in schema_documents(base_url()):
        if document["id"].lower() == schema_id.lower():
            return scim_response(document)
    raise not_found("Schema", schema_id)


@bp.post("/.search")
@public_page
def root_search():
    """Searching several resource types at once is not offered (RFC 7644 section 3.4.3 allows 501)."""
    raise ScimError(501, "Search across resource types is not supported: POST to /Users/.search or /Groups/.search.")


# --- Users (RFC 7644 section 3) --------------------------------------------------------------------

def _load_user(user_id):
    row = ScimUser.get_for_org(g.scim_org.id, user_id)
    if row is None:
        raise not_found("User", user_id)
    return row


def _list_users(source=None):
    start_index, count, text, attributes, excluded = list_parameters(source)
    projection = Projection(USER, attributes, excluded)
    total, rows = provisioning.list_page(ScimUser, "User", g.scim_org.id, text, start_index, count)
    base = base_url()
    resources = [projection.apply(read_user_resource(r, base)) for r in rows]
    g.scim_summary = f"listed users{' where ' + text if text else ''}: {total} found"
    return scim_response({"schemas": [LIST_SCHEMA], "totalResults": total, "startIndex": start_index,
                          "itemsPerPage": len(resources), "Resources": resources})


@bp.get("/Users")
@public_page
def users_list():
    """Users of the token's org, filtered in SQL, oldest first."""
    return _list_users()


@bp.post("/Users/.search")
@public_page
def users_search():
    """The same query sent as a SearchRequest body (RFC 7644 section 3.4.3)."""
    return _list_users(_search_body())


def _search_body():
    body = read_json()
    if not isinstance(body, dict):
        raise invalid_syntax("A SearchRequest must be a JSON object.")
    schemas = body.get("schemas")
    if schemas is not None and (not isinstance(schemas, list) or SEARCH_SCHEMA not in schemas):
        raise invalid_value(f"A search body's schemas must be [\"{SEARCH_SCHEMA}\"].")
    return {k: v for k, v in body.items() if k != "schemas"}


@bp.post("/Users")
@public_page
def users_create():
    """Provision a person: a member of the org (201)."""
    scim_user, summary = provisioning.create_user(g.scim_org, read_json(), actor(), base_url())
    resource = written_resource(scim_user, groups=[])
    db.session.commit()
    g.scim_summary = summary
    return resource_response(resource, 201, Projection(USER, *list_parameters()[3:]), location=True)


@bp.get("/Users/<user_id>")
@public_page
def users_read(user_id):
    """One user, with ETag."""
    scim_user = _load_user(user_id)
    if not_modified(scim_user):
        return Response(status=304, headers={"ETag": etag(scim_user.version)})
    g.scim_summary = f"read user {scim_user.user_name}"
    projection = Projection(USER, *list_parameters()[3:])
    return resource_response(user_resource(scim_user, base_url()), projection=projection)


@bp.put("/Users/<user_id>")
@public_page
def users_replace(user_id):
    """Replace a user's attributes (RFC 7644 section 3.5.1)."""
    scim_user = _load_user(user_id)
    check_if_match(scim_user)
    scim_user, summary = provisioning.replace_user(g.scim_org, scim_user, read_json(), actor(), base_url())
    resource = written_resource(scim_user)
    db.session.commit()
    g.scim_summary = summary
    return resource_response(resource, projection=Projection(USER, *list_parameters()[3:]))


@bp.patch("/Users/<user_id>")
@public_page
def users_patch(user_id):
    """Change some attributes (RFC 7644 section 3.5.2); 200 with the resource."""
    scim_user = _load_user(user_id)
    check_if_match(scim_user)
    scim_user, summary = provisioning.patch_user(g.scim_org, scim_user, read_json(), actor(), base_url())
    resource = written_resource(scim_user)
    db.session.commit()
    g.scim_summary = summary
    return resource_response(resource, projection=Projection(USER, *list_parameters()[3:]))


@bp.delete("/Users/<user_id>")
@public_page
def users_delete(user_id):
    """Remove the person from the org (their account stays); 204."""
    scim_user = _load_user(user_id)
    check_if_match(scim_user)
    g.scim_summary = provisioning.delete_user(g.scim_org, scim_user, actor())
    db.session.commit()
    return Response(status=204)


# --- Groups ----------------------------------------------------------------------------------------

def _load_group(group_id):
    row = ScimGroup.get_for_org(g.scim_org.id, group_id)
    if row is None:
        raise not_found("Group", group_id)
    return row


def _group_body(group, projection):
    include = projection.wants("members")
    return group_resource(group, base_url(), include_members=include)


def _list_groups(source=None):
    start_index, count, text, attributes, excluded = list_parameters(source)
    projection = Projection(GROUP, attributes, excluded)
    total, rows = provisioning.list_page(ScimGroup, "Group", g.scim_org.id, text, start_index, count)
    include = projection.wants("members")
    members = group_members([r.id for r in rows]) if include else {}
    resources = [
        projection.apply(group_resource(r, base_url(), members.get(r.id, []), include_members=include)) for r in rows
    ]
    g.scim_summary = f"listed groups{' where ' + text if text else ''}: {total} found"
    return scim_response({"schemas": [LIST_SCHEMA], "totalResults": total, "startIndex": start_index,
                          "itemsPerPage": len(resources), "Resources": resources})


@bp.get("/Groups")
@public_page
def groups_list():
    """Groups of the token's org."""
    return _list_groups()


@bp.post("/Groups/.search")
@public_page
def groups_search():
    """Groups queried with a SearchRequest body."""
    return _list_groups(_search_body())


@bp.post("/Groups")
@public_page
def groups_create():
    """Create a group (201)."""
    group, summary = provisioning.create_group(g.scim_org, read_json(), actor())
    db.session.commit()
    g.scim_summary = summary
    projection = Projection(GROUP, *list_parameters()[3:])
    return resource_response(_group_body(group, projection), 201, projection, location=True)


@bp.get("/Groups/<group_id>")
@public_page
def groups_read(group_id):
    """One group with its members."""
    group = _load_group(group_id)
    if not_modified(group):
        return Response(status=304, headers={"ETag": etag(group.version)})
    g.scim_summary = f"read group {group.display_name}"
    projection = Projection(GROUP, *list_parameters()[3:])
    return resource_response(_group_body(group, projection), projection=projection)


@bp.put("/Groups/<group_id>")
@public_page
def groups_replace(group_id):
    """Replace a group's name and members."""
    group = _load_group(group_id)
    check_if_match(group)
    group, summary = provisioning.replace_group(g.scim_org, group, read_json(), actor())
    db.session.commit()
    g.scim_summary = summary
    projection = Projection(GROUP, *list_parameters()[3:])
    return resource_response(_group_body(group, projection), projection=projection)


@bp.patch("/Groups/<group_id>")
@public_page
def groups_patch(group_id):
    """Rename a group, or add and remove members without touching the others."""
    group = _load_group(group_id)
    check_if_match(group)
    group, summary = provisioning.patch_group(g.scim_org, group, read_json(), actor())
    db.session.commit()
    g.scim_summary = summary
    projection = Projection(GROUP, *list_parameters()[3:])
    return resource_response(_group_body(group, projection), projection=projection)


@bp.delete("/Groups/<group_id>")
@public_page
def groups_delete(group_id):
    """Delete a group; members lose the role it gave them."""
    group = _load_group(group_id)
    check_if_match(group)
    g.scim_summary = provisioning.delete_group(g.scim_org, group, actor())
    db.session.commit()
    return Response(status=204)


# SCIM counts its own rate (rate_counter above); Flask-Limiter need not look at its requests at all.
limiter.exempt(bp)
