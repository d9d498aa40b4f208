"""The migrations build the schema from nothing, and it is the schema the models declare.

A model change without its Alembic revision fails here, on whichever database the suite runs.
"""
import contextvars
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app import create_app
from config import TestConfig
from extensions import db


@pytest.fixture
def scratch_database_url(app, tmp_path):
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    name = f"orgkit_migrations_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_migrations_build_the_schema_the_models_declare(scratch_database_url):
    def check():
        app = create_app(TestConfig(SQLALCHEMY_DATABASE_URI=scratch_database_url))
        with app.app_context():
            upgrade()
            with db.engine.connect() as conn:
                diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), db.metadata)
            db.engine.dispose()
        return diff

    # A separate app with its own context, so the suite's own session and database are untouched.
    diff = contextvars.Context().run(check)
    assert diff == [], f"models and migrations differ; run `flask db migrate`: {diff}"


def test_events_from_before_the_feed_order_keep_their_order_before_all_later_ones(scratch_database_url):
    """The feed_order migration ranks each org's existing events by (created_at, id), all at or below
    zero, so a feed cursor taken after the upgrade never skips one of them."""
    def check():
        app = create_app(TestConfig(SQLALCHEMY_DATABASE_URI=scratch_database_url))
        with app.app_context():
            upgrade(revision="e59b3636ff6f")
            org_ids = [uuid.uuid4(), uuid.uuid4()]
            with db.engine.begin() as conn:
                for org_id in org_ids:
                    conn.execute(text("INSERT INTO organizations (id, name, slug, status, created_at) "
                                      "VALUES (:id, 'Org', :slug, 'active', '2026-01-01 00:00:00+00')"),
                                 {"id": _uuid_param(conn, org_id), "slug": org_id.hex[:12]})
                for minute, org_id in ((3, org_ids[0]), (1, org_ids[0]), (2, org_ids[0]), (5, org_ids[1]), (None, None)):
                    conn.execute(text(
                        "INSERT INTO audit_events (id, org_id, action, actor_type, actor_label, targets, data, created_at) "
                        "VALUES (:id, :org, 'org.updated', 'system', 'Orgkit', '[]', '{}', :at)"),
                        {"id": _uuid_param(conn, uuid.uuid4()), "org": org_id and _uuid_param(conn, org_id),
                         "at": f"2026-01-01 00:0{minute or 9}:00+00"})
            upgrade()
            with db.engine.connect() as conn:
                rows = conn.execute(text("SELECT org_id, feed_order, created_at FROM audit_events "
                                         "ORDER BY org_id, created_at")).all()
            db.engine.dispose()
        return rows

    rows = contextvars.Context().run(check)
    orders = {}
    for org_id, order, _ in rows:
        orders.setdefault(org_id, []).append(order)
    assert sorted(orders.pop(None)) == [None]  # user-level events are in no feed
    assert sorted(orders.values()) == [[-2, -1, 0], [0]]  # each org: oldest first, the newest at 0


def _uuid_param(conn, value):
    # The Uuid type stores 32 hex digits on SQLite and a native uuid on PostgreSQL.
    return value if conn.dialect.name == "postgresql" else value.hex


def test_existing_sso_links_stay_linked_and_jit_accounts_become_managed(scratch_database_url):
    """Issue 13: the identity model's data migration locks nobody out. Every SSO link stays (no consent
    is asked again); an account without a password linked to one org only (JIT made it) becomes managed
    by that org; a password account, or one linked to two orgs, stays the person's own."""
    def check():
        app = create_app(TestConfig(SQLALCHEMY_DATABASE_URI=scratch_database_url))
        with app.app_context():
            upgrade(revision="c4d5e6f7a8b9")
            org_a, org_b = uuid.uuid4(), uuid.uuid4()
            people = {"jit": (None, [org_a]), "own": ("argon2-hash", [org_a]), "two": (None, [org_a, org_b]),
                      "none": (None, [])}
            ids = {name: uuid.uuid4() for name in people}
            with db.engine.begin() as conn:
                for org_id in (org_a, org_b):
                    conn.execute(text("INSERT INTO organizations (id, name, slug, status, created_at) "
                                      "VALUES (:id, 'Org', :slug, 'active', '2026-01-01 00:00:00+00')"),
                                 {"id": _uuid_param(conn, org_id), "slug": org_id.hex[:12]})
                for name, (password_hash, orgs) in people.items():
                    conn.execute(text(
                        "INSERT INTO users (id, email, name, password_hash, session_epoch, is_deactivated, created_at) "
                        "VALUES (:id, :email, :name, :hash, 0, false, '2026-01-01 00:00:00+00')"),
                        {"id": _uuid_param(conn, ids[name]), "email": f"{name}@example.com", "name": name,
                         "hash": password_hash})
                    for org_id in orgs:
                        conn.execute(text("INSERT INTO sso_identities (id, org_id, name_id, user_id, groups, created_at) "
                                          "VALUES (:id, :org, :name_id, :user, '[]', '2026-01-01 00:00:00+00')"),
                                     {"id": _uuid_param(conn, uuid.uuid4()), "org": _uuid_param(conn, org_id),
                                      "name_id": f"{name}@example.com", "user": _uuid_param(conn, ids[name])})
            upgrade()
            with db.engine.connect() as conn:
                managed = {row.name: row.managed_by_org_id for row in conn.execute(
                    text("SELECT name, managed_by_org_id FROM users"))}
                links = conn.execute(text("SELECT COUNT(*) FROM sso_identities")).scalar()
            db.engine.dispose()
        return managed, links, org_a

    managed, links, org_a = contextvars.Context().run(check)
    assert links == 4  # every link kept
    assert uuid.UUID(str(managed["jit"])) == org_a
    assert managed["own"] is None and managed["two"] is None and managed["none"] is None
