"""Row-level security, the second wall behind the org filter (db_scope.py, migrations/rls.py).

PostgreSQL only. One fresh database per module: the migrations run as the owner (the suite's
superuser), `flask db-roles grant` creates the app's login role, and a second app connects as that
role, the way production runs. The suite's own connection (a superuser) bypasses row-level security,
so every assertion about the wall goes through the app role.
"""
import contextvars
import os
import uuid
from types import SimpleNamespace

import pytest
from flask import jsonify
from flask_migrate import upgrade
from sqlalchemy import create_engine, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

import db_scope
from app import create_app
from config import TestConfig
from extensions import db, jobs
from models import AuditEvent, Invitation, Membership, OutboundEmail, SsoDomain, utcnow
from services.events import SYSTEM
from services.scim import settings as scim_settings
from tenancy import org_blueprint, requires
from tests import factories
from tests.conftest import IsolatedClient

SUITE_URL = make_url(os.environ["DATABASE_URL"])
pytestmark = pytest.mark.skipif(
    SUITE_URL.get_backend_name() != "postgresql",
    reason="row-level security is a PostgreSQL feature; SQLite has no roles or policies",
)

# An org page that forgets the org filter on purpose: what would it show under the wall?
probe = org_blueprint("rls_probe", __name__, "/rls-probe")


@probe.route("/")
@requires("org.read")
def forgetful_page():
    """Every membership and audit event, without .where(org_id == ...)."""
    memberships = db.session.scalars(select(Membership)).all()
    audit_orgs = db.session.scalars(text("SELECT DISTINCT org_id FROM audit_events")).all()
    return jsonify(memberships=[[str(m.org_id), str(m.user_id)] for m in memberships],
                   audit_orgs=sorted(str(o) for o in audit_orgs))


def record_bound_org_after_scim(response):
    """After SCIM's own after_request committed its request log, a new transaction began: which org
    does it see? (Registered before the first request, as Flask requires.)"""
    from flask import current_app, request
    if request.path.startswith("/scim/") and response.status_code < 400:
        current_app.extensions["rls_seen"].append(
            db.session.scalar(text("SELECT current_setting('orgkit.org_id', true)")))
    return response


def _in_fresh_context(func):
    # A separate app with its own context, so the suite's own session and database are untouched.
    return contextvars.Context().run(func)


@pytest.fixture(scope="module")
def walled(app):
    suffix = uuid.uuid4().hex[:8]
    database, role, password = f"rls_{suffix}", f"rls_app_{suffix}", uuid.uuid4().hex
    admin = create_engine(SUITE_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{database}"'))
    owner_url = SUITE_URL.set(database=database).render_as_string(hide_password=False)

    def migrate_and_grant():
        owner_app = create_app(TestConfig(SQLALCHEMY_DATABASE_URI=owner_url))
        with owner_app.app_context():
            upgrade()
            result = owner_app.test_cli_runner().invoke(
                args=["db-roles", "grant", "--role", role, "--password-env", "RLS_TEST_PASSWORD"],
                env={"RLS_TEST_PASSWORD": password})
            db.engine.dispose()
        assert result.exit_code == 0, result.output
        return result.output

    grant_output = _in_fresh_context(migrate_and_grant)
    app_url = SUITE_URL.set(database=database, username=role, password=password)
    walled_app = create_app(TestConfig(SQLALCHEMY_DATABASE_URI=app_url.render_as_string(hide_password=False),
                                       SMTP_HOST=""))
    walled_app.register_blueprint(probe)
    walled_app.extensions["rls_seen"] = []
    walled_app.after_request(record_bound_org_after_scim)
    walled_app.test_client_class = IsolatedClient

    def seed():
        with walled_app.app_context():
            ada = factories.user(email="ada@a.example.com", name="Ada")
            org_a = factories.org(owner=ada, name="Alpha", slug="alpha")
            org_b = factories.org(name="Beta", slug="beta")
            factories.member(org_b, user_=ada)  # Ada belongs to both: the switcher lists both
            factories.member(org_a)
            scim_settings.set_enabled(org_a, True, SYSTEM)
            # A verified domain: SCIM creates managed accounts on it (docs/security.md section 6.1).
            db.session.add(SsoDomain(org_id=org_a.id, domain="a.example.com", verification_token="t" * 32,
                                     verified_at=utcnow(), verified_by="operator"))
            _, scim_token = scim_settings.create_token(org_a, SYSTEM)
            db.session.commit()
            return SimpleNamespace(ada_id=ada.id, ada_login=factories.login_id(ada), a=org_a.id, b=org_b.id, scim_token=scim_token)

    ids = _in_fresh_context(seed)
    try:
        yield SimpleNamespace(app=walled_app, role=role, owner_url=owner_url, grant_output=grant_output, **vars(ids))
    finally:
        def dispose():
            with walled_app.app_context():
                db.engine.dispose()
        _in_fresh_context(dispose)
        jobs.init_app(app)  # the suite's app owns the job queues again
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()


@pytest.fixture
def walled_ctx(walled):
    with walled.app.app_context():
        yield
        db.session.rollback()
        db_scope.unbind_org()


def signed_in_client(walled):
    client = walled.app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = walled.ada_login
        session["_fresh"] = True
    return client


# --- The schema: no org table without its wall ------------------------------------------------------

def test_every_org_table_has_row_level_security_forced_and_a_policy(walled):
    engine = create_engine(walled.owner_url)
    with engine.connect() as conn:
        rows = conn.execute(text("""
            SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
                   EXISTS (SELECT 1 FROM pg_policies p WHERE p.tablename = c.relname AND p.policyname = 'org_isolation')
            FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'org_id' AND NOT a.attisdropped
            WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace ORDER BY c.relname
        """)).all()
    engine.dispose()
    assert len(rows) >= 17
    unwalled = [name for name, enabled, forced, has_policy in rows if not (enabled and forced and has_policy)]
    assert unwalled == [], (
        f"tables with org_id but no row-level security: {unwalled}; call "
        "migrations.rls.enable_org_isolation for them in the migration that creates them")


def test_the_app_role_owns_nothing_and_is_not_exempt(walled):
    engine = create_engine(walled.owner_url)
    with engine.connect() as conn:
        role = conn.execute(text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = :r"), {"r": walled.role}).one()
        owned = conn.scalar(text("SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname = :r"),
                            {"r": walled.role})
    engine.dispose()
    assert (role.rolsuper, role.rolbypassrls, owned) == (False, False, 0)
    assert f"Created login role {walled.role}." in walled.grant_output


def test_granting_again_changes_nothing_and_refuses_a_superuser(walled):
    def grant(role):
        owner_app = create_app(TestConfig(SQLALCHEMY_DATABASE_URI=walled.owner_url))
        with owner_app.app_context():
            result = owner_app.test_cli_runner().invoke(args=["db-roles", "grant", "--role", role])
            db.engine.dispose()
        jobs.init_app(walled.app)
        return result

    again = _in_fresh_context(lambda: grant(walled.role))
    assert again.exit_code == 0, again.output
    assert "Created" not in again.output and "Granted" in again.output
    superuser = _in_fresh_context(lambda: grant(SUITE_URL.username))
    assert superuser.exit_code != 0
    assert "superuser or has BYPASSRLS" in superuser.output


# --- (1) A forgotten org filter returns only the bound org's rows ------------------------------------

def test_a_query_without_the_org_filter_sees_only_the_bound_org(walled, walled_ctx):
    unbound = {m.org_id for m in db.session.scalars(select(Membership))}
    assert unbound == {walled.a, walled.b}  # no org bound: sweeps and sign-in see every org

    db_scope.bind_org(walled.a)
    assert {m.org_id for m in db.session.scalars(select(Membership))} == {walled.a}
    assert db.session.scalars(text("SELECT DISTINCT org_id FROM audit_events")).all() == [walled.a]
    assert db.session.scalars(Membership.for_org(walled.b)).all() == []

    db.session.commit()  # a new transaction is walled again (after_begin), not only the first one
    assert db.session.scalars(select(AuditEvent.org_id).where(AuditEvent.org_id == walled.b)).all() == []
    assert db_scope.bound_org_id() == str(walled.a)


def test_an_org_page_that_forgets_the_filter_shows_only_its_org(walled):
    client = signed_in_client(walled)
    for slug, org_id in (("alpha", walled.a), ("beta", walled.b)):
        body = client.get(f"/app/o/{slug}/rls-probe/").get_json()
        assert body["audit_orgs"] == [str(org_id)]
        # Ada's own memberships stay readable (the switcher); nobody else's row of another org does.
        others = [user for org, user in body["memberships"] if org != str(org_id)]
        assert others == [str(walled.ada_id)]
        assert len([org for org, _ in body["memberships"] if org == str(org_id)]) == 2


def test_the_user_sees_only_her_own_memberships_of_other_orgs(walled, walled_ctx):
    db_scope.bind_org(walled.a, user=walled.ada_id)
    rows = db.session.scalars(select(Membership)).all()
    other_org_rows = [m for m in rows if m.org_id != walled.a]
    assert [m.user_id for m in other_org_rows] == [walled.ada_id]
    assert {m.org_id for m in rows if m.org_id == walled.a} == {walled.a}
    assert len([m for m in rows if m.org_id == walled.a]) == 2  # Ada and the other member of Alpha


# --- (4) Writes for another org are refused ----------------------------------------------------------

def test_inserting_a_row_for_another_org_is_refused(walled, walled_ctx):
    db_scope.bind_org(walled.a)
    db.session.add(AuditEvent(org_id=walled.b, action="member.added", actor_type="system", actor_label="test"))
    with pytest.raises(ProgrammingError, match="row-level security"):
        db.session.flush()


def test_updating_or_deleting_another_orgs_rows_touches_nothing(walled, walled_ctx):
    db_scope.bind_org(walled.a, user=walled.ada_id)
    # Ada's own membership of Beta is readable from Alpha's pages, but not writable from them.
    result = db.session.execute(update(Membership).where(Membership.org_id == walled.b).values(role="viewer"))
    assert result.rowcount == 0
    db.session.rollback()
    db_scope.unbind_org()
    assert {m.role.value for m in db.session.scalars(Membership.for_org(walled.b))} == {"owner", "member"}


# --- (2) Real pages, SCIM and jobs work as the app role ----------------------------------------------

@pytest.mark.parametrize("path", ["/", "/members", "/audit", "/invitations", "/settings", "/settings/scim", "/webhooks/"])
def test_org_pages_work_as_the_app_role(walled, path):
    response = signed_in_client(walled).get(f"/app/o/alpha{path}")
    assert response.status_code == 200, response.get_data(as_text=True)[:500]


def test_inviting_writes_under_the_wall_and_the_email_job_sends_it(walled, walled_ctx):
    client = signed_in_client(walled)
    response = client.post("/app/o/alpha/invitations", data={"email": "new@a.example.com", "role": "member"})
    assert response.status_code in (200, 303), response.get_data(as_text=True)[:500]
    invitation = db.session.scalar(select(Invitation).where(Invitation.email == "new@a.example.com"))
    assert invitation is not None and invitation.org_id == walled.a

    def burst():
        from worker import make_worker
        with walled.app.app_context():
            make_worker().work(burst=True)
    contextvars.Context().run(burst)
    email = db.session.scalar(select(OutboundEmail).where(OutboundEmail.to_address == "new@a.example.com"))
    assert email is not None and email.status == "sent"


def count_memberships_job(org_id):
    """A job that works for one org (the pattern: bind once the org is known) and forgets its filter."""
    with db_scope.org_scope(org_id):
        walled_count = len(db.session.scalars(select(Membership)).all())
    return walled_count, len(db.session.scalars(select(Membership)).all())


def test_a_job_run_by_the_worker_is_walled_to_its_org_inside_org_scope_only(walled, walled_ctx):
    from worker import make_worker

    queue = jobs.queues["default"]
    job = queue.enqueue(count_memberships_job, str(walled.a))

    def burst():
        with walled.app.app_context():
            make_worker(["default"]).work(burst=True)
    contextvars.Context().run(burst)
    job.refresh()
    total = db.session.scalar(text("SELECT count(*) FROM memberships"))
    in_a = db.session.scalar(text("SELECT count(*) FROM memberships WHERE org_id = :a"), {"a": walled.a})
    assert tuple(job.return_value()) == (in_a, total)  # walled inside org_scope, unbound after it
    assert in_a < total


def test_scim_for_org_a_works_and_sees_only_org_a(walled, walled_ctx):
    seen = walled.app.extensions["rls_seen"]
    client = walled.app.test_client()
    headers = {"Authorization": f"Bearer {walled.scim_token}", "Content-Type": "application/scim+json"}
    created = client.post("/scim/v2/Users", headers=headers, json={
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "grace@a.example.com",
        "emails": [{"value": "grace@a.example.com", "primary": True}], "active": True})
    assert created.status_code == 201, created.get_data(as_text=True)
    listed = client.get("/scim/v2/Users", headers=headers)
    assert listed.status_code == 200
    assert [u["userName"] for u in listed.get_json()["Resources"]] == ["grace@a.example.com"]
    assert seen == [str(walled.a), str(walled.a)]
    from jobs.sweeper import sweep_scim_request_logs
    assert sweep_scim_request_logs() >= 2   # the sweeper stores the buffered log, as the app's role
    logs = db.session.scalars(text("SELECT org_id FROM scim_request_logs")).all()
    assert set(logs) == {walled.a} and len(logs) >= 2


def test_scim_deactivation_records_its_user_level_event_under_the_wall(walled, walled_ctx):
    """Deactivating an account org A manages (created by its SCIM on its verified domain) ends the
    person's sessions: a user-level audit event (no org) written from SCIM, which is bound to org A. Rows with no org may be written from an org context, not read."""
    client = walled.app.test_client()
    headers = {"Authorization": f"Bearer {walled.scim_token}", "Content-Type": "application/scim+json"}
    created = client.post("/scim/v2/Users", headers=headers, json={
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "alan@a.example.com",
        "emails": [{"value": "alan@a.example.com", "primary": True}], "active": True}).get_json()
    deactivated = client.patch(f"/scim/v2/Users/{created['id']}", headers=headers, json={
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": False}]})
    assert deactivated.status_code == 200, deactivated.get_data(as_text=True)
    assert deactivated.get_json()["active"] is False
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.org_id.is_(None))).all()
    assert "user.sessions_revoked" in actions

    db_scope.bind_org(walled.a)
    assert db.session.scalars(select(AuditEvent).where(AuditEvent.org_id.is_(None))).all() == []


# --- (3) Contexts that span orgs keep working -------------------------------------------------------

def test_sign_in_and_the_workspace_list_see_every_org_of_the_user(walled):
    client = walled.app.test_client()
    response = client.post("/login", data={"email": "ada@a.example.com", "password": factories.PASSWORD})
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:500]
    workspaces = client.get("/app/workspaces")
    assert workspaces.status_code == 200
    page = workspaces.get_data(as_text=True)
    assert "Alpha" in page and "Beta" in page
    # On an org page (bound to Alpha) the switcher still lists Ada's other workspace.
    assert "Beta" in client.get("/app/o/alpha/members").get_data(as_text=True)


def test_the_row_level_security_bench_runs_with_tiny_n():
    """bench/rls.py still runs, so the benchmark cannot rot (its own process, database and role)."""
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "BENCH_ADMIN_DATABASE_URL": SUITE_URL.render_as_string(hide_password=False)}
    result = subprocess.run([sys.executable, "bench/rls.py", "--members", "3", "--events", "5", "--requests", "3"],
                            cwd=Path(__file__).resolve().parents[2], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("walled / baseline") == 2
