"""Test fixtures: a real app on the configured database (PostgreSQL or SQLite) and real Redis.

Each test request runs in a fresh context (IsolatedClient), exactly as in production: its own app
context, g and database session. So the test's own session must commit what it sets up, and it sees
what a request wrote (its identity map is expired after every request).

Environment: DATABASE_URL (default: a SQLite file in a temp dir) and REDIS_URL (default database 1
of the local Redis, flushed before every test).
"""
import contextvars
import os
import tempfile

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text

if not os.environ.get("DATABASE_URL"):
    os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp(prefix='orgkit-test-')}/test.db"
if not os.environ.get("REDIS_URL"):
    os.environ["REDIS_URL"] = "redis://127.0.0.1:6379/1"

from tests.netguard import network_guard  # noqa: E402

# No packet leaves this machine: here, and in the Python processes tests start (sitecustomize).
network_guard.install()
_GUARD_SITE = os.path.dirname(network_guard.__file__)
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [_GUARD_SITE, os.environ.get("PYTHONPATH")]))

from app import create_app  # noqa: E402
from config import TestConfig  # noqa: E402
from extensions import db, jobs  # noqa: E402
from tests import factories  # noqa: E402


class IsolatedClient(FlaskClient):
    """A test client whose every request runs in an empty context, like a real server's."""

    def open(self, *args, **kwargs):
        response = contextvars.Context().run(super().open, *args, **kwargs)
        if db.session.registry.has():
            db.session.expire_all()
        return response


@pytest.fixture(scope="session")
def quiet_dns():
    """The domain-verification job's resolver in tests: a local DNS server that knows no name, so a
    check never asks the machine's resolver (tests that publish records use their own server)."""
    from tests.sso.servers import DnsServer

    server = DnsServer().start()
    os.environ["SSO_DNS_RESOLVER"] = server.address   # read by TestConfig and by worker processes
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def no_packet_leaves_the_machine():
    """Fails the test that tried to reach beyond loopback (tests/netguard/network_guard.py refused it)."""
    network_guard.escapes.clear()
    yield
    escapes, network_guard.escapes[:] = list(network_guard.escapes), []
    if escapes:
        pytest.fail("tests stay on this machine, but this one tried: " + "; ".join(escapes))


@pytest.fixture(scope="session")
def app(quiet_dns):
    app = create_app(TestConfig())
    app.test_client_class = IsolatedClient
    with app.app_context():
        if os.environ.get("ORGKIT_TEST_RLS"):
            _migrate_under_the_wall()
        else:
            db.drop_all()
            db.create_all()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _migrate_under_the_wall():
    """ORGKIT_TEST_RLS=1 (make test-postgres-rls): the schema comes from the real migrations, with
    their row-level security, and the suite connects as a role the wall applies to (FORCE makes it
    apply to the tables' owner too). Every org page and SCIM request of the suite then runs walled
    to its org, so a feature that reads or writes across orgs while bound fails here."""
    from flask_migrate import upgrade

    assert db.engine.dialect.name == "postgresql", "ORGKIT_TEST_RLS needs PostgreSQL"
    role = db.session.execute(text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")).one()
    assert not (role.rolsuper or role.rolbypassrls), "ORGKIT_TEST_RLS needs a role without SUPERUSER and BYPASSRLS"
    db.session.commit()
    db.drop_all()
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    upgrade()


@pytest.fixture(autouse=True)
def app_ctx(app):
    """The test's own app context and database session; tables and Redis emptied afterwards."""
    jobs.redis.flushdb()
    with app.app_context():
        yield
        db.session.rollback()
        _empty_tables()
        db.session.remove()


def _empty_tables():
    """DELETE every table, children first, in one round trip where the driver allows it. On PostgreSQL a
    TRUNCATE of the 39 tables cost about 220 ms per test (it makes new files for each), a DELETE of the
    few rows a test leaves about 5 ms. No table has a sequence to restart (the keys are UUIDs)."""
    from db_scope import unbind_org
    unbind_org()   # no wall while emptying: a bound org would hide the other orgs' rows from the DELETEs
    tables = list(reversed(db.metadata.sorted_tables))
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("; ".join(f'DELETE FROM "{t.name}"' for t in tables)))
    else:
        for table in tables:
            db.session.execute(table.delete())
    db.session.commit()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make():
    """Factories: make.user(), make.org(owner=...), make.member(org, role=...)... each commits."""
    return factories


@pytest.fixture
def login(client):
    """login(user) signs the test client in as user (no password round trip): a password session, or
    login(user, method=None, sso_orgs=[org]) one that only org's IdP signed in."""
    def _login(user, a_client=None, method="password", sso_orgs=()):
        a_client = a_client or client
        login_id = factories.login_id(user, method=method, sso_orgs=sso_orgs)
        with a_client.session_transaction() as session:
            session["_user_id"] = login_id
            session["_fresh"] = True
        return a_client
    return _login


@pytest.fixture
def run_jobs(app):
    """Work every queued job with a real RQ worker in burst mode on real Redis."""
    def _run(queue_names=None):
        from worker import make_worker

        def burst():
            with app.app_context():
                worker = make_worker(queue_names) if queue_names else make_worker()
                worker.work(burst=True)
        contextvars.Context().run(burst)
        db.session.expire_all()
    return _run


# --- Real local servers shared by many tests -------------------------------------------------------

@pytest.fixture
def smtp_server(app, monkeypatch):
    """A real SMTP server (aiosmtpd) on a free local port; the app is pointed at it.

    smtp_server.messages is the list of email.message.EmailMessage received, in order.
    """
    from tests.servers import SmtpServer

    server = SmtpServer()
    server.start()
    monkeypatch.setitem(app.config, "SMTP_HOST", server.host)
    monkeypatch.setitem(app.config, "SMTP_PORT", server.port)
    yield server
    server.stop()


@pytest.fixture
def live_server(app):
    """The app served over real HTTP on a free local port (a thread), for browsers and HTTP clients."""
    from tests.servers import LiveServer

    server = LiveServer(app)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chromium():
    """Headless Debian Chromium driven by Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  # The browser resolves no name but this machine's (the network guard cannot see it).
                  "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE *.localhost, EXCLUDE 127.0.0.1"],
        )
        yield browser
        browser.close()


@pytest.fixture
def browser_context(chromium):
    """A fresh browser profile (cookies and all); call it again for a second person."""
    contexts = []

    def _new():
        context = chromium.new_context(viewport={"width": 1280, "height": 860})
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context

    yield _new
    for context in contexts:
        context.close()
