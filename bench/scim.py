"""SCIM throughput next to a peer: Orgkit and scim2-server (an in-memory SCIM server on Werkzeug, a dev
requirement), each holding N users (10,000 by default), asked the same things in the same run over real
HTTP by one keep-alive client, one request at a time: filter=userName eq, a page of 100 at startIndex 1
and at N-99, and POST /Users.

    DATABASE_URL=postgresql://... REDIS_URL=redis://127.0.0.1:6379/9 python bench/scim.py [--users N] [--requests R]

Orgkit runs in one gunicorn sync worker, as in production, on an org whose email domain is verified,
so a POST makes the account, the membership, the SCIM record, the audit events and their outbox rows
(a webhook endpoint subscribes to every event) in the request's one transaction. Prints requests per
second and p50/p99 latency for each case, both servers, and the ratio with its target (issue 17). The
servers take turns in ROUNDS rounds per case, so a swing in the shared machine's speed falls on both
sides of a ratio. On PostgreSQL the lookup and the create are also sent to bench/scim_floor.py, the same
SQL and Redis round trips in a bare WSGI app on the same gunicorn set-up: the most any code on this
stack could do.
It drops and recreates every table of DATABASE_URL: point it at a scratch database.
"""
import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from importlib.metadata import version  # noqa: E402

from sqlalchemy import insert, text  # noqa: E402

from app import create_app  # noqa: E402
from config import TestConfig  # noqa: E402
from extensions import db  # noqa: E402
from models import Membership, Role, ScimUser, User, utcnow  # noqa: E402
from services.events import SYSTEM  # noqa: E402
from services.scim import settings  # noqa: E402


def build_app():
    os.environ.setdefault("DATABASE_URL", "sqlite:////tmp/orgkit-bench-scim.db")
    # The rate limit is what keeps one IdP from starving others; it is not what is measured here.
    return create_app(TestConfig(SCIM_RATE_LIMIT="100000 per second", USE_REDIS_QUEUE=None))


def seed(app, users):
    from services import orgs, webhooks
    from services.sso import domains
    with app.app_context():
        db.drop_all()
        db.create_all()
        owner = User(email="bench-owner@example.com", name="Owner")
        db.session.add(owner)
        db.session.flush()
        org = orgs.create_org("Bench", owner, SYSTEM, slug="bench")
        settings.set_enabled(org, True, SYSTEM)
        _, token = settings.create_token(org, SYSTEM)
        domains.mark_verified(org, domains.add_domain(org, "bench.example.com", SYSTEM), SYSTEM, "operator")
        webhooks.create_endpoint(org, SYSTEM, "http://127.0.0.1:9/hook", "bench: outbox rows only, nothing delivers")
        db.session.commit()
        now = utcnow()
        batch = 2000
        for start in range(0, users, batch):
            ids = range(start, min(start + batch, users))
            user_rows = [{"id": uuid.uuid4(), "email": f"user{i}@bench.example.com", "name": f"User {i}",
                          "session_epoch": 0, "is_deactivated": False, "created_at": now} for i in ids]
            db.session.execute(insert(User), user_rows)
            member_rows = [{"id": uuid.uuid4(), "org_id": org.id, "user_id": u["id"], "role": Role.member,
                            "created_at": now} for u in user_rows]
            db.session.execute(insert(Membership), member_rows)
            scim_rows = [{"id": uuid.uuid4(), "org_id": org.id, "membership_id": m["id"], "user_id": m["user_id"],
                          "user_name": u["email"], "user_name_lower": u["email"], "active": True, "version": 1,
                          "created_at": now, "updated_at": now, "display_name": u["name"]}
                         for m, u in zip(member_rows, user_rows)]
            db.session.execute(insert(ScimUser), scim_rows)
            db.session.commit()
        # A table that grew to 10,000 rows in production has been vacuumed and analysed by autovacuum;
        # one bulk-loaded a moment ago has not, and the planner would guess from empty statistics.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE" if db.engine.dialect.name == "postgresql" else "ANALYZE"))
        return token


def measure(port, token, method, path_fn, requests, body_fn=None, first=0):
    """Seconds taken and the latencies of one keep-alive client sending requests first.. first+requests-1."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    latencies = []
    started = time.perf_counter()
    for i in range(first, first + requests):
        t0 = time.perf_counter()
        conn.request(method, path_fn(i), body=body_fn(i) if body_fn else None, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status >= 300:
            raise SystemExit(f"{method} {path_fn(i)} answered {response.status}")
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed, latencies


def figures(elapsed, latencies):
    """Requests per second and p50/p99 ms."""
    latencies = sorted(latencies)
    return {"rps": len(latencies) / elapsed, "p50": statistics.median(latencies) * 1000,
            "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000}


def in_turns(servers, requests):
    """Each server's figures for `requests` requests, sent in ROUNDS turns: a change in the shared
    machine's speed (it swings by half within minutes) falls on every side of a ratio alike, instead of
    on whichever ran during it. servers: [(port, method, path_fn, body_fn)]."""
    taken = [[0.0, []] for _ in servers]
    for round_ in range(ROUNDS):
        first, last = round_ * requests // ROUNDS, (round_ + 1) * requests // ROUNDS
        for (port, method, path_fn, body_fn), total in zip(servers, taken):
            elapsed, latencies = measure(port, TOKEN[0], method, path_fn, last - first, body_fn, first)
            total[0] += elapsed
            total[1] += latencies
    return [figures(*total) for total in taken]


ROUNDS = 5
TOKEN = [None]


def wait_for(port, process, name):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if process.poll() is not None:
                raise SystemExit(f"{name} exited before it answered")
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"{name} did not start within 60 s")


def start_gunicorn(app_spec="bench.scim:build_app()", environment=None):
    """One gunicorn sync worker serving build_app(), in its own process as in production (a server
    thread inside this process would share the GIL with the load loop and halve both)."""
    port = free_port()
    root = Path(__file__).resolve().parents[1]
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), "--no-control-socket", "--bind", f"127.0.0.1:{port}", "--workers", "1",
         # --threads 1: gunicorn.conf.py (read from the working directory) sets 4, and with more than
         # one thread gunicorn swaps the sync worker for gthread, which hands every request to a pool
         # thread: issue 17's set-up is one worker with one thread.
         "--threads", "1", "--worker-class", "sync", "--log-level", "warning", app_spec],
        cwd=root, env={**os.environ, "PYTHONPATH": str(root), **(environment or {})},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # its access lines would bury the table
    wait_for(port, server, "gunicorn")
    return server, port


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_peer(users, token):
    """scim2-server on a free port, holding the same N users (posted to it, as an IdP would)."""
    port = free_port()
    peer = subprocess.Popen([str(Path(sys.executable).with_name("scim2-server")), "--hostname", "127.0.0.1",
                             "--port", str(port), "--bearer-token", token],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(port, peer, "scim2-server")
    user = lambda i: json.dumps({"schemas": [USER_SCHEMA], "userName": f"user{i}@bench.example.com", "active": True,
                                 "name": {"givenName": "User", "familyName": str(i)},
                                 "emails": [{"value": f"user{i}@bench.example.com", "primary": True}]})
    measure(port, token, "POST", lambda i: "/v2/Users", users, user)
    return peer, port


def floor_sql(app):
    """Orgkit's own token and userName-lookup SQL as text, for bench/scim_floor.py (PostgreSQL only)."""
    from models import ScimUser
    from services.scim import provisioning
    from services.scim.filters import where_clause
    from services.scim.settings import _token_lookup
    sentinel = "floor-sentinel@bench.example.com"
    with app.app_context():
        engine = db.engine
        dialect = engine.dialect
        token = _token_lookup(dialect.name).compile(dialect=dialect)
        page = provisioning._PageStatements(ScimUser, dialect.name,
                                            where_clause("User", f'userName eq "{sentinel}"')).first.compile(dialect=dialect)
    page_params = {name: value for name, value in page.params.items() if value != sentinel}
    page_params["limit"] = 100
    return {"dsn": engine.url.set(drivername="postgresql").render_as_string(hide_password=False),
            "token": token.string, "token_params": token.params, "page": page.string, "page_params": page_params,
            "value_param": next(name for name, value in page.params.items() if value == sentinel)}


def create_floor_statements(app, token):
    """Every statement Orgkit sends for one POST /Users, as sent to psycopg (text, parameters, whether
    executemany), for bench/scim_floor.py to replay with another userName and new row ids. Parameters
    go as JSON, their types tagged; new_ids are the ids of the rows the create inserted."""
    from psycopg.types.json import Json
    from sqlalchemy import event
    sentinel = "floor-create-sentinel@bench.example.com"
    sent = []

    def record(connection, cursor, statement, parameters, context, executemany):
        sent.append([statement, parameters, executemany])

    def tagged(value):
        if isinstance(value, uuid.UUID):
            return {"$uuid": str(value)}
        if isinstance(value, datetime):
            return {"$time": value.isoformat()}
        if isinstance(value, Json):
            return {"$json": value.obj}
        raise TypeError(f"no tag for {type(value).__name__}")

    with app.app_context():
        engine = db.engine
    body = json.dumps({"schemas": [USER_SCHEMA], "userName": sentinel, "active": True,
                       "name": {"givenName": "New", "familyName": "User"}})
    event.listen(engine, "before_cursor_execute", record)
    try:
        response = app.test_client().post("/scim/v2/Users", data=body, headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"})
    finally:
        event.remove(engine, "before_cursor_execute", record)
    if response.status_code != 201:
        raise SystemExit(f"the create recorded for the floor answered {response.status_code}")
    new_ids = [str(row["id"]) for statement, parameters, many in sent if statement.startswith("INSERT")
               for row in (parameters if many else [parameters])]
    return {"sentinel": sentinel, "new_ids": new_ids, "statements": json.dumps(sent, default=tagged)}


USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
# (case, Orgkit at least this many times the peer's requests per second): issue 17's targets.
TARGETS = {"filter userName eq": 1.5, "page of 100 at the start": 10, "page of 100 at the end": 10, "POST /Users": 0.3}


def run(users=10_000, requests=300):
    app = build_app()
    token = seed(app, users)
    server, port = start_gunicorn()  # one web worker, one request at a time
    peer, peer_port = start_peer(users, token)
    last_page = max(users - 99, 1)
    new_user = lambda i: json.dumps({"schemas": [USER_SCHEMA], "userName": f"new{i}-{uuid.uuid4().hex[:6]}@bench.example.com",
                                     "active": True, "name": {"givenName": "New", "familyName": "User"}})
    cases = [
        ("filter userName eq", "GET", lambda i: f"/Users?filter=userName%20eq%20%22user{i % users}%40bench.example.com%22", None),
        ("page of 100 at the start", "GET", lambda i: "/Users?startIndex=1&count=100", None),
        ("page of 100 at the end", "GET", lambda i: f"/Users?startIndex={last_page}&count=100", None),
        ("POST /Users", "POST", lambda i: "/Users", new_user),
    ]
    floor = None
    if os.environ["DATABASE_URL"].startswith("postgresql"):
        floor = start_gunicorn("bench.scim_floor:app", {"SCIM_FLOOR_SQL": json.dumps(floor_sql(app), default=str),
                                                        "SCIM_FLOOR_CREATE": json.dumps(create_floor_statements(app, token)),
                                                        "SCIM_FLOOR_NAMESPACE": app.config["REDIS_NAMESPACE"]})
    results = []
    print(f"SCIM bench: {users} users, {requests} requests per case, one keep-alive client; Orgkit in one gunicorn "
          f"sync worker on {os.environ['DATABASE_URL'].split(':')[0]}, scim2-server {version('scim2-server')} in memory")
    print(f"{'case':26} {'Orgkit rps':>10} {'p50 ms':>7} {'p99 ms':>7} | {'peer rps':>9} {'p50 ms':>7} {'p99 ms':>7} | ratio (target)")
    TOKEN[0] = token
    try:
        for name, method, path_fn, body_fn in cases:
            ours_path, peer_path = (lambda i, f=path_fn: "/scim/v2" + f(i)), (lambda i, f=path_fn: "/v2" + f(i))
            servers = [(port, method, ours_path, body_fn), (peer_port, method, peer_path, body_fn)]
            if floor is not None and name in ("filter userName eq", "POST /Users"):
                servers.append((floor[1], method, ours_path, body_fn))
            for server_port, *request in servers:  # warm up
                measure(server_port, token, *request[:2], min(20, requests), request[2], first=requests)
            ours, theirs, *bare = in_turns(servers, requests)
            ratio = ours["rps"] / theirs["rps"]
            results.append((name, ours, theirs, ratio))
            print(f"{name:26} {ours['rps']:10.1f} {ours['p50']:7.2f} {ours['p99']:7.2f} | "
                  f"{theirs['rps']:9.1f} {theirs['p50']:7.2f} {theirs['p99']:7.2f} | {ratio:.2f}x (>= {TARGETS[name]}x)")
            if bare:
                bare = bare[0]
                print(f"{'  floor (no framework)':26} {bare['rps']:10.1f} {bare['p50']:7.2f} {bare['p99']:7.2f} | "
                      f"the same SQL and Redis round trips in a bare WSGI app (bench/scim_floor.py): "
                      f"{bare['rps'] / theirs['rps']:.2f}x the peer; Orgkit at {ours['rps'] / bare['rps']:.2f}x of it")
    finally:
        for process in (server, peer) + ((floor[0],) if floor else ()):
            process.terminate()
            process.wait(timeout=30)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    run(args.users, args.requests)
