"""Benchmark: what row-level security costs an org page. The same pages, the same data, served by two
apps in one process: one connected as a superuser (PostgreSQL skips the policies: the baseline), one
as the app's login role (every query walled: the policy's condition, plus one set_config per
transaction).

How: a scratch database is migrated (policies included), `flask db-roles grant` creates the login role,
and two orgs get --members members and --events audit events each. The Flask test client, in-process,
one signed-in owner of org A, walled and baseline requests alternating. Figures: requests per second,
p50 and p99 latency; the walled/baseline ratio is what matters (absolute numbers depend on the machine).

    BENCH_ADMIN_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres python bench/rls.py [--members 500] [--events 20000] [--requests 200]

BENCH_ADMIN_DATABASE_URL is a PostgreSQL superuser; the scratch database and role (rls_bench_*) are
dropped at the end. Redis is not used.
"""
import argparse
import contextvars
import os
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pages import measure_pair  # noqa: E402


def make_app(url):
    from app import create_app
    from config import TestConfig
    return create_app(TestConfig(SQLALCHEMY_DATABASE_URI=url, USE_REDIS_QUEUE=False,
                                 RATELIMIT_STORAGE_URI="memory://", LOG_LEVEL="WARNING"))


def migrate_grant_and_seed(owner_url, role, password, n_members, n_events):
    """As the owner: the migrations, the login role, two orgs of n_members members and n_events audit
    events each (inserted directly: this measures reading). Returns the viewer's session id."""
    from datetime import timedelta

    from flask_migrate import upgrade
    from sqlalchemy import insert

    from extensions import db
    from models import AuditEvent, Membership, Organization, Role, User, utcnow

    app = make_app(owner_url)
    with app.app_context():
        upgrade()
        os.environ["RLS_BENCH_PASSWORD"] = password
        result = app.test_cli_runner().invoke(args=["db-roles", "grant", "--role", role, "--password-env", "RLS_BENCH_PASSWORD"])
        assert result.exit_code == 0, result.output
        viewer = User(id=uuid.uuid4(), email="viewer@example.com", name="Vera Viewer")
        db.session.add(viewer)
        now = utcnow()
        for slug in ("org-a", "org-b"):
            org = Organization(id=uuid.uuid4(), name=slug.upper(), slug=slug)
            people = [User(id=uuid.uuid4(), email=f"{slug}-{n}@example.com", name=f"Person {n:04d}") for n in range(n_members - 1)]
            db.session.add_all([org, *people])
            db.session.flush()
            db.session.add(Membership(org_id=org.id, user_id=viewer.id, role=Role.owner))
            db.session.add_all(Membership(org_id=org.id, user_id=p.id, role=Role.member) for p in people)
            db.session.execute(insert(AuditEvent), [
                {"id": uuid.uuid4(), "org_id": org.id, "action": "member.added", "actor_type": "system",
                 "actor_label": "bench", "targets": [], "data": {}, "created_at": now - timedelta(seconds=n)}
                for n in range(n_events)])
        db.session.commit()
        db.session.execute(db.text("ANALYZE"))
        db.session.commit()
        db.engine.dispose()
        from bench.pages import _signed_in_login_id
        return _signed_in_login_id(viewer)


def signed_in(app, user_id):
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = user_id
        session["_fresh"] = True
    return client


class _TwoApps:
    """A client whose GET of "walled:/path" or "baseline:/path" goes to the matching app."""

    def __init__(self, walled, baseline):
        self.clients = {"walled": walled, "baseline": baseline}

    def get(self, url):
        which, _, path = url.partition(":")
        return contextvars.Context().run(self.clients[which].get, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=500)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args(argv)

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin_url = os.environ.get("BENCH_ADMIN_DATABASE_URL")
    if not admin_url or not admin_url.startswith("postgres"):
        raise SystemExit("Set BENCH_ADMIN_DATABASE_URL to a PostgreSQL superuser URL (row-level security is PostgreSQL only).")
    os.environ.setdefault("DATABASE_URL", admin_url)
    suffix = uuid.uuid4().hex[:8]
    database, role, password = f"rls_bench_{suffix}", f"rls_bench_app_{suffix}", uuid.uuid4().hex
    admin = create_engine(make_url(admin_url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{database}"'))
    owner_url = make_url(admin_url).set(drivername="postgresql+psycopg", database=database)
    try:
        user_id = contextvars.Context().run(migrate_grant_and_seed, owner_url.render_as_string(hide_password=False),
                                            role, password, args.members, args.events)
        baseline_app = make_app(owner_url.render_as_string(hide_password=False))
        walled_app = make_app(owner_url.set(username=role, password=password).render_as_string(hide_password=False))
        client = _TwoApps(signed_in(walled_app, user_id), signed_in(baseline_app, user_id))
        print(f"Orgkit row-level security benchmark · PostgreSQL · two orgs of {args.members} members and "
              f"{args.events} audit events · Flask test client, in-process, walled and baseline alternating · "
              f"{args.requests} requests each")
        print(f"{'':52} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
        ratios = []
        for label, path in (("members page (50 per page)", "/app/o/org-a/members"),
                            ("audit log page", "/app/o/org-a/audit")):
            walled, baseline = measure_pair(client, f"walled:{path}", f"baseline:{path}", args.requests)
            ratio = walled["rps"] / baseline["rps"]
            ratios.append(ratio)
            for name, figures in ((f"{label}, app role (walled)", walled), ("  baseline: superuser (no policies)", baseline)):
                print(f"{name:52} {figures['rps']:8.1f} {figures['p50_ms']:8.2f} {figures['p99_ms']:8.2f}")
            print(f"{'  walled / baseline':52} {ratio:8.2f}x")
        for app in (walled_app, baseline_app):
            with app.app_context():
                from extensions import db
                db.engine.dispose()
        return ratios
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()


if __name__ == "__main__":
    main()
