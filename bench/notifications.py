"""Benchmark: the bell's unread badge, and fanning one event out to a big workspace.

    DATABASE_URL=postgresql://... python bench/notifications.py [--notifications 100000 --unread 10000
                                                                 --members 5000 --requests 400]

1. A user with --notifications rows, --unread of them unread. Requests per second and p50 of the badge
   request (/app/notifications/badge: session, user load, COUNT, template) next to a baseline route on
   the same app that runs only the bare COUNT. Target: badge >= 0.5x baseline.
2. One event (org.updated, told to owners and admins) fanned out to a workspace of --members admins:
   time for emit() to resolve recipients, read preferences and write the rows, next to a raw bulk
   INSERT of the same rows. Target: fan-out >= 0.5x the raw insert's speed. Also shown: the same event
   when every recipient wants email immediately (one outbox email each), for information.

The schema is dropped and created in DATABASE_URL (default: a throwaway SQLite file): point it at a
scratch database. Runs in-process through the Flask test client, so the figures are the app's own cost.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
if not os.environ.get("DATABASE_URL"):
    os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp(prefix='orgkit-bench-')}/bench.db"

from sqlalchemy import Uuid, bindparam, insert, text  # noqa: E402

from app import create_app  # noqa: E402
from config import TestConfig  # noqa: E402
from extensions import db  # noqa: E402
from models import AuditEvent, Membership, Notification, NotificationPreference, Organization, Role, User, utcnow  # noqa: E402
from services import catalog  # noqa: E402
from services.events import SYSTEM, emit  # noqa: E402

BARE_COUNT = text(
    "SELECT count(*) FROM notifications WHERE user_id = :user_id AND read_at IS NULL AND archived_at IS NULL"
).bindparams(bindparam("user_id", type_=Uuid))


def build_app():
    app = create_app(TestConfig(USE_REDIS_QUEUE=False, RATELIMIT_STORAGE_URI="memory://"))

    @app.route("/bench/bare-count")
    def bench_bare_count():  # the baseline: no login, no template, the COUNT alone
        user_id = uuid.UUID(app.config["BENCH_USER_ID"])
        return str(db.session.execute(BARE_COUNT, {"user_id": user_id}).scalar())
    bench_bare_count.required_permission = "public"
    return app


def chunks(rows, size=5000):
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def seed_inbox(total, unread):
    user = User(email="bench-reader@example.com", name="Bench Reader")
    org = Organization(name="Bench", slug="bench")
    db.session.add_all([user, org])
    db.session.flush()
    db.session.add(Membership(org_id=org.id, user_id=user.id, role=Role.member))
    now = utcnow()
    rows = [{"id": uuid.uuid4(), "user_id": user.id, "org_id": org.id, "type": "member.role_changed",
             "title": f"Notification {n}", "body": "", "link": None, "event_id": None, "created_at": now,
             "read_at": None if n < unread else now, "archived_at": None} for n in range(total)]
    for part in chunks(rows):
        db.session.execute(insert(Notification.__table__), part)
    db.session.commit()
    refresh_statistics()
    return user


def refresh_statistics():
    """What autovacuum does after a bulk load: planner statistics for every table, and the visibility
    map that lets PostgreSQL answer the COUNT from the index alone. (SQLite statistics taken while a
    table was tiny would mislead its planner later, so they are refreshed after every seed.)"""
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE" if conn.dialect.name == "postgresql" else "ANALYZE"))


def measure(client, path, requests):
    for _ in range(min(20, requests)):
        client.get(path)
    timings = []
    started = time.perf_counter()
    for _ in range(requests):
        t0 = time.perf_counter()
        response = client.get(path, headers={"HX-Request": "true"})
        timings.append(time.perf_counter() - t0)
        assert response.status_code == 200, response.status_code
    elapsed = time.perf_counter() - started
    return requests / elapsed, statistics.median(timings) * 1000


def bench_badge(app, total, unread, requests):
    with app.app_context():
        user = seed_inbox(total, unread)
        from bench.pages import _signed_in_login_id
        user_id, login_id = str(user.id), _signed_in_login_id(user)
    app.config["BENCH_USER_ID"] = user_id
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = login_id
        session["_fresh"] = True
    badge = client.get("/app/notifications/badge?shown=0")
    assert f'data-count="{unread}"'.encode() in badge.data, badge.data[:300]
    base_rps, base_p50 = measure(client, "/bench/bare-count", requests)
    badge_rps, badge_p50 = measure(client, f"/app/notifications/badge?shown={unread}", requests)
    print(f"badge request ({total:,} notifications, {unread:,} unread, {requests} requests, {db_name(app)})")
    print(f"  baseline bare COUNT route : {base_rps:8.0f} req/s   p50 {base_p50:6.2f} ms")
    print(f"  /app/notifications/badge  : {badge_rps:8.0f} req/s   p50 {badge_p50:6.2f} ms   "
          f"= {badge_rps / base_rps:.2f}x baseline (target >= 0.5x)")
    return badge_rps / base_rps


def seed_big_org(members):
    org = Organization(name="Big", slug="big")
    db.session.add(org)
    db.session.flush()
    users = [{"id": uuid.uuid4(), "email": f"admin{n}@big.example", "name": f"Admin {n}", "password_hash": None,
              "session_epoch": 0, "is_deactivated": False, "created_at": utcnow()} for n in range(members)]
    for part in chunks(users):
        db.session.execute(insert(User.__table__), part)
    memberships = [{"id": uuid.uuid4(), "org_id": org.id, "user_id": u["id"], "role": Role.admin, "created_at": utcnow()}
                   for u in users]
    for part in chunks(memberships):
        db.session.execute(insert(Membership.__table__), part)
    db.session.commit()
    refresh_statistics()
    return org, [u["id"] for u in users]


def timed(fn):
    """Seconds of one fn() run, in a transaction rolled back afterwards."""
    prepared = fn.prepare() if hasattr(fn, "prepare") else None
    t0 = time.perf_counter()
    fn(prepared)
    elapsed = time.perf_counter() - t0
    db.session.rollback()
    return elapsed


def best_of_interleaved(fns, repeat):
    """The fastest of repeat runs of each fn, taken in turns (a, b, a, b...) so that load from other
    processes on the machine falls on both alike; the minimum is the least disturbed run."""
    results = [[] for _ in fns]
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            results[i].append(timed(fn))
    return [min(r) for r in results]


def bench_fan_out(app, members, repeat):
    with app.app_context():
        org, user_ids = seed_big_org(members)
        data = {"org": {"id": str(org.id), "slug": org.slug, "name": org.name}, "changes": {"name": ["Big", "Bigger"]}}

        def fan_out(_):
            emit(org, "org.updated", SYSTEM, [], data)
            db.session.flush()

        def raw_insert(event):
            now = utcnow()
            rows = [{"id": uuid.uuid4(), "user_id": user_id, "org_id": org.id, "type": "org.updated",
                     "title": "Orgkit changed the settings of Big", "body": "A workspace's name or settings changed. By Orgkit.",
                     "link": "/app/o/big/", "event_id": event.id, "created_at": now, "read_at": None, "archived_at": None}
                    for user_id in user_ids]
            db.session.execute(insert(Notification.__table__), rows)

        def make_event():  # outside the timing: the audit row the raw rows point at
            event = AuditEvent(org_id=org.id, action="org.updated", actor_type="system", actor_label="Orgkit", targets=[], data=data)
            db.session.add(event)
            db.session.flush()
            return event
        raw_insert.prepare = make_event

        written = 0
        emit(org, "org.updated", SYSTEM, [], data)
        written = db.session.scalar(text("SELECT count(*) FROM notifications WHERE type = 'org.updated'"))
        db.session.rollback()
        assert written == members, (written, members)
        fan_seconds, raw_seconds = best_of_interleaved([fan_out, raw_insert], repeat)
        print(f"fan-out of one event to {members:,} admins (best of {repeat} interleaved runs, {db_name(app)})")
        print(f"  baseline raw bulk INSERT  : {raw_seconds * 1000:8.1f} ms   {members / raw_seconds:9.0f} rows/s")
        print(f"  emit() -> fan_out         : {fan_seconds * 1000:8.1f} ms   {members / fan_seconds:9.0f} rows/s   "
              f"= {raw_seconds / fan_seconds:.2f}x baseline (target >= 0.5x)")

        # For information: everyone wants this type by email at once (5,000 outbox rows and templates).
        for part in chunks([{"id": uuid.uuid4(), "user_id": u, "event_type": "org.updated", "in_app": True, "email": True,
                             "email_mode": "immediate", "updated_at": utcnow()} for u in user_ids]):
            db.session.execute(insert(NotificationPreference.__table__), part)
        db.session.commit()
        email_seconds = timed(fan_out)
        print(f"  ...with immediate email on for all: {email_seconds * 1000:8.1f} ms "
              f"({members / email_seconds:.0f} recipients/s incl. one rendered outbox email each)")
        return raw_seconds / fan_seconds


def db_name(app):
    return app.config["SQLALCHEMY_DATABASE_URI"].split(":", 1)[0].split("+")[0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--notifications", type=int, default=100_000)
    parser.add_argument("--unread", type=int, default=10_000)
    parser.add_argument("--members", type=int, default=5_000)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    assert "org.updated" in catalog.CATALOG
    app = build_app()
    with app.app_context():
        db.drop_all()
        db.create_all()
    badge_ratio = bench_badge(app, args.notifications, args.unread, args.requests)
    fan_ratio = bench_fan_out(app, args.members, args.repeat)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    return badge_ratio, fan_ratio


if __name__ == "__main__":
    main()
