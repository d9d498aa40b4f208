"""The floor under bench/scim.py's `filter=userName eq` case: the same round trips with no framework.

A bare WSGI callable, served by the same gunicorn set-up as Orgkit (one sync worker, one thread), that
does what a SCIM lookup must do and nothing else: the per-token count in Redis (INCR and EXPIRE in one
round trip), Orgkit's own token SELECT and Orgkit's own page SELECT (the SQL text of
services/scim/settings._token_lookup and provisioning._PageStatements, compiled by bench/scim.py and
passed in SCIM_FLOOR_SQL), the COMMIT that keeps them prepared, the request log's RPUSH and SADD in one
round trip, and a JSON body of the row. No Flask, no SQLAlchemy, no checks beyond "is there a row":
what Orgkit adds on top of this is what its framework and its own code cost. It answers only that
request; bench/scim.py starts it only for that case.
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
    log = _redis.pipeline(transaction=False)
    log.rpush(f"{NAMESPACE}:scim-floor-log", json.dumps({"id": str(uuid.uuid4()), "at": datetime.now(timezone.utc).isoformat(),
                                                         "method": "GET", "status": 200}))
    log.sadd(f"{NAMESPACE}:scim-floor-pending", "1")
    log.execute()
    body = json.dumps({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                       "totalResults": len(rows), "startIndex": 1, "itemsPerPage": len(rows),
                       "Resources": [{name: _text(value) for name, value in zip(names, row)} for row in rows]}).encode()
    start_response("200 OK", [("Content-Type", "application/scim+json"), ("Content-Length", str(len(body)))])
    return [body]
