"""JSON API throughput: GET /api/v1/members?limit=100 on an org of 100 members with API key
authentication (key lookup, per-key rate limit in Redis, scope check), next to a baseline route that
runs the same members query and the same JSON serialisation without any authentication, in the same
run, over real HTTP to one gunicorn sync worker (its own process, as in production).

    BENCH_DATABASE_URL=postgresql://... REDIS_URL=redis://127.0.0.1:6379/9 python bench/api.py [--members 100] [--requests 1000]

Prints requests per second and p50/p99 latency of both and their ratio (target, issue 5: at least
0.8x: a key check is one indexed lookup). The database is BENCH_DATABASE_URL (emptied and rebuilt:
never point it at real data), else a temporary SQLite file.
"""
import argparse
import http.client
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ORG_SLUG = "bench-api"


def _database_url():
    if "ORGKIT_BENCH_API_DB" not in os.environ:
        os.environ["ORGKIT_BENCH_API_DB"] = os.environ.get("BENCH_DATABASE_URL") or (
            f"sqlite:///{tempfile.mkdtemp(prefix='orgkit-bench-api-')}/bench.db")
    os.environ["DATABASE_URL"] = os.environ["ORGKIT_BENCH_API_DB"]
    return os.environ["DATABASE_URL"]


def build_app():
    """The app with the baseline route added (gunicorn imports this in its worker)."""
    _database_url()
    from flask import g

    from app import create_app
    from blueprints.api import routes
    from blueprints.api.core import json_response
    from config import TestConfig
    from models import Organization

    # The limit is counted as always (one Redis round trip per request); it is set high enough
    # never to refuse, since refusing is not what is measured.
    app = create_app(TestConfig(API_RATE_LIMIT="1000000 per second", USE_REDIS_QUEUE=None))
    org_ids = {}

    @app.get("/bench/baseline/members")
    def bench_baseline():
        """The members_list view itself (same query, same JSON), with no key, rate limit or scope check."""
        if "id" not in org_ids:
            org_ids["id"] = Organization.by_slug(ORG_SLUG).id
        g.api_credential = SimpleNamespace(org=SimpleNamespace(id=org_ids["id"]))
        return json_response(routes.members_list.__wrapped__())

    bench_baseline.required_permission = "public"
    return app


def seed(app, members):
    import uuid

    from sqlalchemy import insert

    from extensions import db
    from models import Membership, Role, User, utcnow
    from services import api_keys, orgs
    from services.events import SYSTEM

    with app.app_context():
        db.drop_all()
        db.create_all()
        owner = User(email="bench-owner@example.com", name="Owner")
        db.session.add(owner)
        db.session.flush()
        org = orgs.create_org("Bench API", owner, SYSTEM, slug=ORG_SLUG)
        _, key = api_keys.create_key(org, "bench", ["read"], SYSTEM)
        now = utcnow()
        users = [{"id": uuid.uuid4(), "email": f"member{i}@bench.example.com", "name": f"Member {i}",
                  "session_epoch": 0, "is_deactivated": False, "created_at": now} for i in range(members - 1)]
        if users:
            db.session.execute(insert(User), users)
            db.session.execute(insert(Membership), [{"id": uuid.uuid4(), "org_id": org.id, "user_id": u["id"],
                                                     "role": Role.member, "created_at": now} for u in users])
        db.session.commit()
        return key


def start_gunicorn():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    root = Path(__file__).resolve().parents[1]
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), "--no-control-socket", "--bind", f"127.0.0.1:{port}", "--workers", "1",
         # gunicorn.conf.py (read from the working directory) sets 4 threads, which would make this gthread.
         "--threads", "1", "--worker-class", "sync", "--log-level", "warning", "bench.api:build_app()"],
        cwd=root, env={**os.environ, "PYTHONPATH": str(root), "LOG_REQUESTS": "false"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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


def measure(port, path, headers, requests):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies = []
    started = time.perf_counter()
    for _ in range(requests):
        t0 = time.perf_counter()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise SystemExit(f"GET {path} answered {response.status}: {body[:200]!r}")
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    conn.close()
    latencies.sort()
    return {"rps": requests / elapsed, "p50": statistics.median(latencies) * 1000,
            "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, "bytes": len(body)}


def run(members=100, requests=1000, rounds=3):
    database = _database_url()
    app = build_app()
    key = seed(app, members)
    server, port = start_gunicorn()
    try:
        api_path, base_path = "/api/v1/members?limit=100", "/bench/baseline/members?limit=100"
        auth = {"Authorization": f"Bearer {key}"}
        measure(port, api_path, auth, min(50, requests))  # warm up both
        measure(port, base_path, {}, min(50, requests))
        print(f"API bench: list {members} members (limit=100), {requests} requests x {rounds} rounds each, "
              f"one gunicorn sync worker, {database.split(':')[0]}")
        print(f"{'case':38} {'rps':>8} {'p50 ms':>7} {'p99 ms':>7}")
        api_runs, base_runs = [], []
        for _ in range(rounds):  # interleaved, so drift in the machine's load hits both alike
            api_runs.append(measure(port, api_path, auth, requests))
            base_runs.append(measure(port, base_path, {}, requests))
        best = lambda runs: max(runs, key=lambda r: r["rps"])  # noqa: E731  least disturbed round
        api, base = best(api_runs), best(base_runs)
        print(f"{'GET /api/v1/members (API key)':38} {api['rps']:8.1f} {api['p50']:7.2f} {api['p99']:7.2f}")
        print(f"{'baseline: same query, no auth':38} {base['rps']:8.1f} {base['p50']:7.2f} {base['p99']:7.2f}")
        ratio = api["rps"] / base["rps"]
        print(f"API / baseline: {ratio:.2f}x (target at least 0.8x); responses {api['bytes']} and {base['bytes']} bytes")
        return api, base, ratio
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    run(args.members, args.requests, args.rounds)
