"""The floor under bench/scim.py's `filter=userName eq` and `POST /Users` cases: the same round trips
with no framework.

A bare WSGI callable, served by the same gunicorn set-up as Orgkit (one sync worker, one thread), that
does what the request must do and nothing else: the per-token count in Redis (INCR and EXPIRE in one
round trip), Orgkit's own SQL, the COMMIT, the request log's RPUSH and SADD in one round trip, and a
JSON body of the row. No Flask, no SQLAlchemy, no checks: what Orgkit adds on top of this is what its
framework and its own code cost.

- GET (the lookup): Orgkit's token SELECT and page SELECT (the SQL text of
  services/scim/settings._token_lookup and provisioning._PageStatements, compiled by bench/scim.py and
  passed in SCIM_FLOOR_SQL).
- POST (the create): every statement Orgkit sent for one create, as it sent them (recorded by
  bench/scim.py from a create of its own, passed in SCIM_FLOOR_CREATE), replayed with the body's
  userName and new row ids: the token, the check, the account, membership, SCIM user and two audit
  events, the webhook endpoints, the outbox rows, the recipients and their notifications.
"""
import hashlib
import json
import os
import time
import uuid
from datetime import datetime, timezone
from urllib.parse import parse_qs

import psycopg
import redis
from psycopg.types.json import Json

SQL = json.loads(os.environ["SCIM_FLOOR_SQL"])
NAMESPACE = os.environ["SCIM_FLOOR_NAMESPACE"]
_connection = None
_redis = redis.Redis.from_url(os.environ["REDIS_URL"])


def _database():
    global _connection
    if _connection is None:  # opened in the worker, after gunicorn's fork
        _connection = psycopg.connect(SQL["dsn"], options="-c TimeZone=UTC")  # as Orgkit's (config.py)
    return _connection


_org_index_found = []


def _org_index(cursor):
    if not _org_index_found:
        _org_index_found.append([column.name for column in cursor.description].index("bound_org"))
    return _org_index_found[0]


def _text(value):
    return value.isoformat() if isinstance(value, datetime) else value if isinstance(value, (int, bool, type(None))) else str(value)


def app(environ, start_response):
    token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")[2]
    digest = hashlib.sha256(token.encode()).hexdigest()
    window = int(time.time())
    bucket = f"{NAMESPACE}:scim:floor-rate:{digest[:32]}:{window}"
    counter = _redis.pipeline(transaction=False)
    counter.incr(bucket)
    counter.expire(bucket, 2)
    counter.execute()
    if environ["REQUEST_METHOD"] == "POST":
        status, body = "201 Created", _create(environ, digest)
    else:
        status, body = "200 OK", _lookup(environ, digest)
    log = _redis.pipeline(transaction=False)
    log.rpush(f"{NAMESPACE}:scim-floor-log", json.dumps({"id": str(uuid.uuid4()), "at": datetime.now(timezone.utc).isoformat(),
                                                         "method": environ["REQUEST_METHOD"], "status": int(status[:3])}))
    log.sadd(f"{NAMESPACE}:scim-floor-pending", "1")
    log.execute()
    start_response(status, [("Content-Type", "application/scim+json"), ("Content-Length", str(len(body)))])
    return [body]


def _lookup(environ, digest):
    filter_text = parse_qs(environ.get("QUERY_STRING", ""))["filter"][0]
    user_name = filter_text.split('"')[1]
    database = _database()
    with database.cursor() as cursor:
        cursor.execute(SQL["token"], {**SQL["token_params"], "digest": digest})
        found = cursor.fetchone()
        # The token SELECT binds the org for row-level security and returns it as "bound_org".
        org_id = found[_org_index(cursor)]
        cursor.execute(SQL["page"], {**SQL["page_params"], SQL["value_param"]: user_name.lower(), "org_id": org_id})
        names = [column.name for column in cursor.description]
        rows = cursor.fetchall()
    database.commit()
    return json.dumps({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                       "totalResults": len(rows), "startIndex": 1, "itemsPerPage": len(rows),
                       "Resources": [{name: _text(value) for name, value in zip(names, row)} for row in rows]}).encode()


CREATE = json.loads(os.environ.get("SCIM_FLOOR_CREATE", "null"))


def _typed(value):
    """Parameters as psycopg takes them, from bench/scim.py's tagged JSON."""
    if "$uuid" in value:
        return uuid.UUID(value["$uuid"])
    if "$time" in value:
        return datetime.fromisoformat(value["$time"])
    if "$json" in value:
        return Json(value["$json"])
    return value


def _create(environ, digest):
    user_name = json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))["userName"]
    # The recorded create with this request's userName and a new id for every row it inserted (the
    # same ids recur as foreign keys and inside the audit and webhook bodies: replaced everywhere).
    recorded = CREATE["statements"].replace(CREATE["sentinel"], user_name)
    for old in CREATE["new_ids"]:
        recorded = recorded.replace(old, str(uuid.uuid4()))
    statements = json.loads(recorded, object_hook=_typed)
    statements[0][1]["digest"] = digest  # the token SELECT
    database = _database()
    with database.cursor() as cursor:
        for statement, parameters, many in statements:
            if many:
                cursor.executemany(statement, parameters)
            else:
                cursor.execute(statement, parameters)
            if statement.startswith("INSERT INTO scim_users"):
                created = parameters
    database.commit()
    return json.dumps({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": str(created["id"]),
                       "userName": created["user_name"], "active": created["active"],
                       "name": {"givenName": created["name_given_name"], "familyName": created["name_family_name"]},
                       "meta": {"resourceType": "User", "created": created["created_at"].isoformat(),
                                "location": f"/scim/v2/Users/{created['id']}", "version": 'W/"1"'}}).encode()
