"""SCIM throughput: an org with N users (10,000 by default); filter=userName eq, a page of 100 at
startIndex 1 and at N-99, and POST /Users, each next to a baseline route that runs the same indexed
SELECT behind the same token check, in the same run, over real HTTP to one gunicorn sync worker (one web worker, one request at a time).

    DATABASE_URL=postgresql://... REDIS_URL=redis://127.0.0.1:6379/9 python bench/scim.py [--users N] [--requests R]

Prints requests per second and p50/p99 latency for each case and its baseline. It drops and
recreates every table of DATABASE_URL: point it at a scratch database. Targets (issue 7):
at least 0.5x the baseline, and at least 100 requests per second.
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flask import Response  # noqa: E402
from sqlalchemy import insert, select, text  # noqa: E402

from app import create_app  # noqa: E402
from config import TestConfig  # noqa: E402
from extensions import db  # noqa: E402
from models import Membership, Role, ScimUser, User, utcnow  # noqa: E402
from services.events import SYSTEM  # noqa: E402
from services.scim import settings  # noqa: E402


def build_app():
    os.environ.setdefault("DATABASE_URL", "sqlite:////tmp/orgkit-bench-scim.db")
    # The rate limit is what keeps one IdP from starving others; it is not what is measured here.
    app = create_app(TestConfig(SCIM_RATE_LIMIT="100000 per second", USE_REDIS_QUEUE=None))
    from blueprints.scim import api

    @app.get("/bench/baseline/users")
    def bench_baseline():
        """The same token check, then the same indexed SELECTs, serialised minimally."""
        found = settings.authenticate(api._bearer_token())
        if found is None:
            return Response(status=401)
        token, org, _ = found
        from flask import request
        if "userName" in request.args:
            rows = db.session.scalars(select(ScimUser).where(
                ScimUser.org_id == org.id, ScimUser.user_name_lower == request.args["userName"].lower())).all()
        else:
            # The very SELECTs the SCIM route runs for a page (the page, its users' values, the total).
            from services.scim import provisioning
            _, rows = provisioning.list_page(ScimUser, "User", org.id, None, int(request.args.get("startIndex", 1)), 100)
        return Response(json.dumps([{"id": str(r.id), "userName": r.user_name} for r in rows]), mimetype="application/json")

    @app.post("/bench/baseline/users")
    def bench_baseline_insert():
        """Token check, then one INSERT of a bare row (no account, no membership, no event)."""
        found = settings.authenticate(api._bearer_token())
        if found is None:
            return Response(status=401)
        from models import ScimRequestLog
        db.session.add(ScimRequestLog(org_id=found[1].id, method="POST", path="/bench", status=201, summary="baseline"))
        db.session.commit()
        return Response(status=201)

    bench_baseline.required_permission = "public"
    bench_baseline_insert.required_permission = "public"
    return app


def seed(app, users):
    from services import orgs
    with app.app_context():
        db.drop_all()
        db.create_all()
        owner = User(email="bench-owner@example.com", name="Owner")
        db.session.add(owner)
        db.session.flush()
        org = orgs.create_org("Bench", owner, SYSTEM, slug="bench")
        settings.set_enabled(org, True, SYSTEM)
        _, token = settings.create_token(org, SYSTEM)
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


def measure(port, token, method, path_fn, requests, body_fn=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    latencies = []
    started = time.perf_counter()
    for i in range(requests):
        t0 = time.perf_counter()
        conn.request(method, path_fn(i), body=body_fn(i) if body_fn else None, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status >= 300:
            raise SystemExit(f"{method} {path_fn(i)} answered {response.status}")
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    conn.close()
    latencies.sort()
    return {"rps": requests / elapsed, "p50": statistics.median(latencies) * 1000,
            "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000}


def start_gunicorn():
    """One gunicorn sync worker serving build_app(), in its own process as in production (a server
    thread inside this process would share the GIL with the load loop and halve both)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    root = Path(__file__).resolve().parents[1]
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), "--no-control-socket", "--bind", f"127.0.0.1:{port}", "--workers", "1",
         "--worker-class", "sync", "--log-level", "warning", "bench.scim:build_app()"],
        cwd=root, env={**os.environ, "PYTHONPATH": str(root)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # its access lines would bury the table
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server, port
        except OSError:
            if server.poll() is not None:
                raise SystemExit("gunicorn exited before it answered")
            time.sleep(0.1)
    server.kill()
    raise SystemExit("gunicorn did not start within 60 s")


def run(users=10_000, requests=300):
    app = build_app()
    token = seed(app, users)
    server, port = start_gunicorn()  # one web worker, one request at a time
    last_page = max(users - 99, 1)
    cases = [
        ("filter userName eq", "GET", lambda i: f"/scim/v2/Users?filter=userName%20eq%20%22user{i % users}%40bench.example.com%22",
         "GET", lambda i: f"/bench/baseline/users?userName=user{i % users}%40bench.example.com", None),
        ("page of 100 at startIndex 1", "GET", lambda i: "/scim/v2/Users?startIndex=1&count=100",
         "GET", lambda i: "/bench/baseline/users?startIndex=1", None),
        (f"page of 100 at startIndex {last_page}", "GET", lambda i: f"/scim/v2/Users?startIndex={last_page}&count=100",
         "GET", lambda i: f"/bench/baseline/users?startIndex={last_page}", None),
        ("POST /Users", "POST", lambda i: "/scim/v2/Users", "POST", lambda i: "/bench/baseline/users",
         lambda i: json.dumps({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                               "userName": f"new{i}-{uuid.uuid4().hex[:6]}@bench.example.com", "active": True,
                               "name": {"givenName": "New", "familyName": "User"}})),
    ]
    results = []
    print(f"SCIM bench: {users} users, {requests} requests per case, one gunicorn sync worker, "
          f"{os.environ['DATABASE_URL'].split(':')[0]}")
    print(f"{'case':34} {'SCIM rps':>9} {'p50 ms':>7} {'p99 ms':>7} | {'base rps':>9} {'p50 ms':>7} {'p99 ms':>7} | ratio")
    for name, method, path_fn, base_method, base_fn, body_fn in cases:
        measure(port, token, method, path_fn, min(20, requests), body_fn)  # warm up
        scim = measure(port, token, method, path_fn, requests, body_fn)
        base = measure(port, token, base_method, base_fn, requests, None)
        ratio = scim["rps"] / base["rps"]
        results.append((name, scim, base, ratio))
        print(f"{name:34} {scim['rps']:9.1f} {scim['p50']:7.2f} {scim['p99']:7.2f} | "
              f"{base['rps']:9.1f} {base['p50']:7.2f} {base['p99']:7.2f} | {ratio:.2f}x")
    server.terminate()
    server.wait(timeout=30)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    run(args.users, args.requests)
