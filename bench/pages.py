"""Benchmark: the members page of an org with many members, and the workspaces page of a user in many
orgs, each next to a baseline route that runs the same SELECTs and returns JSON (no template), in the
same run.

How: the Flask test client, in-process (no network, no server threads), one signed-in user, the
requests one after another. Figures: requests per second, p50 and p99 latency. The page/baseline
ratio is what matters (target: each page at least 0.5x its baseline); absolute numbers depend on
the machine.

    python bench/pages.py [--members 500] [--orgs 200] [--requests 200]

The database is BENCH_DATABASE_URL (emptied and rebuilt: never point it at real data), else a
temporary SQLite file. Redis is not used (jobs in-process, rate limits in memory).
"""
import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def build_app():
    os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL") or (
        f"sqlite:///{tempfile.mkdtemp(prefix='orgkit-bench-')}/bench.db")
    from app import create_app
    from config import TestConfig

    app = create_app(TestConfig(USE_REDIS_QUEUE=False, RATELIMIT_STORAGE_URI="memory://", LOG_LEVEL="WARNING"))
    _add_baseline_routes(app)
    return app


def _add_baseline_routes(app):
    """JSON twins of the two pages: the same SELECTs (user, org and membership, the rows, the count,
    the top-bar switcher), no template."""
    from flask import Blueprint, jsonify
    from flask_login import current_user, login_required
    from sqlalchemy import func, select

    from extensions import db
    from models import Membership, Organization
    from services import orgs
    from tenancy import user_workspaces

    bp = Blueprint("bench", __name__, url_prefix="/bench")

    @bp.route("/members/<slug>")
    @login_required
    def members_json(slug):
        membership = db.session.scalar(
            select(Membership).join(Organization, Organization.id == Membership.org_id)
            .where(Organization.slug == slug, Membership.user_id == current_user.id))
        page = orgs.members_page(membership.org_id, "", 1)
        switcher = user_workspaces()
        return jsonify(total=page.total, switcher=[o.slug for o in switcher], members=[
            {"id": str(m.id), "name": m.user.name, "email": m.user.email, "role": m.role.value,
             "joined": m.created_at.isoformat()} for m in page.rows])

    @bp.route("/workspaces")
    @login_required
    def workspaces_json():
        member_counts = select(Membership.org_id, func.count().label("members")).group_by(Membership.org_id).subquery()
        rows = db.session.execute(
            select(Organization, Membership.role, member_counts.c.members)
            .join(Membership, Membership.org_id == Organization.id)
            .join(member_counts, member_counts.c.org_id == Organization.id)
            .where(Membership.user_id == current_user.id).order_by(Organization.name)).all()
        switcher = user_workspaces()
        return jsonify(switcher=[o.slug for o in switcher], workspaces=[
            {"slug": org.slug, "name": org.name, "role": role.value, "members": members,
             "created": org.created_at.isoformat()} for org, role, members in rows])

    app.register_blueprint(bp)
    for endpoint in ("bench.members_json", "bench.workspaces_json"):
        app.view_functions[endpoint].required_permission = "login"


def seed(app, n_members, n_orgs):
    """An org with n_members members (the viewer is its owner) and n_orgs orgs the viewer belongs to.
    Rows are inserted directly: this measures reading, and password hashing would dominate set-up."""
    import uuid

    from extensions import db
    from models import Membership, Organization, Role, User

    with app.app_context():
        db.drop_all()
        db.create_all()
        viewer = User(id=uuid.uuid4(), email="viewer@example.com", name="Vera Viewer")
        people = [User(id=uuid.uuid4(), email=f"person{n}@example.com", name=f"Person {n:04d}")
                  for n in range(max(n_members - 1, 2))]
        db.session.add_all([viewer, *people])
        big = Organization(id=uuid.uuid4(), name="Big Org", slug="big-org")
        db.session.add(big)
        db.session.flush()
        db.session.add(Membership(org_id=big.id, user_id=viewer.id, role=Role.owner))
        db.session.add_all(Membership(org_id=big.id, user_id=p.id, role=Role.member) for p in people[: n_members - 1])
        for n in range(n_orgs - 1):
            org = Organization(id=uuid.uuid4(), name=f"Workspace {n:04d}", slug=f"ws-{n:04d}")
            db.session.add(org)
            db.session.flush()
            db.session.add(Membership(org_id=org.id, user_id=viewer.id, role=Role.admin))
            db.session.add_all(Membership(org_id=org.id, user_id=p.id, role=Role.member) for p in people[n % 50: n % 50 + 2])
        db.session.commit()
        return _signed_in_login_id(viewer)


def _signed_in_login_id(user):
    """A live server-side session for user (a password login), as a signed-in browser holds it."""
    from extensions import db
    from services import sessions
    record = sessions.new_session_record(user)
    db.session.commit()
    return sessions.login_id(user, record)


def measure_pair(client, page_url, baseline_url, requests):
    """Time the page and its baseline alternately, request by request, so that load from elsewhere on
    the machine (the figures are wall-clock) falls on both alike."""
    for _ in range(min(10, requests)):  # warm-up: template compilation, connection pool
        assert client.get(page_url).status_code == 200 and client.get(baseline_url).status_code == 200
    latencies = {page_url: [], baseline_url: []}
    for _ in range(requests):
        for url in (baseline_url, page_url):
            t0 = time.perf_counter()
            response = client.get(url)
            latencies[url].append(time.perf_counter() - t0)
            assert response.status_code == 200, (url, response.status_code)
    return _figures(latencies[page_url]), _figures(latencies[baseline_url])


def _figures(latencies):
    latencies = sorted(latencies)
    return {
        "rps": len(latencies) / sum(latencies),
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=500)
    parser.add_argument("--orgs", type=int, default=200)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args(argv)

    app = build_app()
    user_id = seed(app, args.members, args.orgs)
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = user_id
        session["_fresh"] = True
    # As gunicorn.conf.py does in every web process: what is loaded by now lives as long as the process,
    # and without this each full collection walks it again (a 100+ ms pause every few dozen requests
    # of the workspaces page, which the baseline's fewer allocations rarely triggered).
    gc.freeze()

    pairs = [
        (f"members page ({args.members} members, 50 per page)", "/app/o/big-org/members", "/bench/members/big-org"),
        (f"workspaces page ({args.orgs} orgs)", "/app/workspaces", "/bench/workspaces"),
    ]
    print(f"Orgkit page benchmark · {app.config['SQLALCHEMY_DATABASE_URI'].split(':')[0]} · "
          f"Flask test client, in-process, page and baseline alternating · {args.requests} requests each")
    print(f"{'':44} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    ratios = []
    for label, page_url, baseline_url in pairs:
        page, baseline = measure_pair(client, page_url, baseline_url, args.requests)
        ratio = page["rps"] / baseline["rps"]
        ratios.append(ratio)
        for name, figures in ((label, page), ("  baseline: same SELECTs as JSON", baseline)):
            print(f"{name:44} {figures['rps']:8.1f} {figures['p50_ms']:8.2f} {figures['p99_ms']:8.2f}")
        print(f"{'  page / baseline':44} {ratio:8.2f}x  (target >= 0.5x)")
    return ratios


if __name__ == "__main__":
    main()
