"""Extensions created without an app and bound in create_app(); the Redis connection and job queues.

Jobs are enqueued only after the commit that produced their rows (STYLE.md example 6): services call
enqueue_after_commit(), which parks the job on the session; the SQLAlchemy after_commit hook hands it to
RQ, or, when Redis is not in use, to an in-process runner so a one-command local run still delivers.
Services name a job by its dotted path ("jobs.email.deliver_email"): jobs import services, never the
other way round.
"""
import importlib
import logging
import queue
import select
import threading

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from redis import Redis
from rq import Queue
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.pool import Pool

import logs

log = logging.getLogger(__name__)

# Named constraints so Alembic migrations are stable on SQLite and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[])

QUEUE_NAMES = ("default", "email", "webhooks")


class Jobs:
    """The app's job dispatcher: RQ queues on Redis, or an in-process thread without Redis."""

    def __init__(self):
        self.app = None
        self.namespace = "orgkit"
        self.redis = None
        self.queues = {}
        self._local = None

    def init_app(self, app):
        self.app = app
        # Two installs on one Redis database must not take each other's jobs (docs/deploy.md section 3).
        self.namespace = app.config.get("REDIS_NAMESPACE") or "orgkit"
        self.redis = Redis.from_url(app.config["REDIS_URL"])
        use_redis = app.config.get("USE_REDIS_QUEUE")
        if use_redis is None:
            use_redis = redis_reachable(self.redis)
        app.config["USE_REDIS_QUEUE"] = use_redis
        if use_redis:
            self.queues = {name: Queue(self.key(name), connection=self.redis) for name in QUEUE_NAMES}
        else:
            log.warning("Redis unreachable at %s: jobs run in-process after each commit", app.config["REDIS_URL"])
            self._local = _InProcessRunner(app)
        app.extensions["orgkit_jobs"] = self

    def key(self, name):
        """This install's Redis key (or queue name) for name."""
        return f"{self.namespace}:{name}"

    def enqueue(self, queue_name, func, *args, job_id=None, **kwargs):
        """func: a job function or its dotted path (RQ imports it in the worker, as it would anyway)."""
        if self._local is not None:
            self._local.submit(func, args, kwargs)
            return None
        # The job logs with the request id and org of the request that enqueued it (logs.py).
        return self.queues[queue_name].enqueue(
            func, *args, job_id=job_id, failure_ttl=86400, result_ttl=300,
            meta={"log": logs.carried_context()}, **kwargs
        )


jobs = Jobs()


def job_function(func):
    """The function a job names: itself, or the one at a dotted path such as "jobs.email.deliver_email"."""
    if not isinstance(func, str):
        return func
    module_name, _, name = func.rpartition(".")
    return getattr(importlib.import_module(module_name), name)


def job_label(func):
    """A job's function name for the log, whether it was given as a function or a dotted path."""
    return getattr(func, "__name__", None) or str(func).rpartition(".")[2]


def redis_reachable(conn):
    try:
        return bool(conn.ping())
    except Exception:  # any connection error means "not reachable"; the caller falls back
        return False


def enqueue_after_commit(queue_name, func, *args, job_id=None):
    """Enqueue func(*args) once the current transaction commits; drop it if it rolls back."""
    db.session.info.setdefault("pending_jobs", []).append((queue_name, func, args, job_id))


@event.listens_for(Session, "after_commit")
def _enqueue_pending_jobs(session):
    pending = session.info.pop("pending_jobs", [])
    for queue_name, func, args, job_id in pending:
        try:
            jobs.enqueue(queue_name, func, *args, job_id=job_id)
        except Exception:
            # Redis down between commit and enqueue: the rows are committed and the periodic sweeper
            # (worker.py) picks them up later, so the request still succeeds (DESIGN.md section 6).
            log.exception("enqueue of %s failed; the sweeper will retry it", job_label(func))


@event.listens_for(Session, "after_rollback")
def _drop_pending_jobs(session):
    session.info.pop("pending_jobs", None)


class _InProcessRunner:
    """Runs jobs one at a time on a daemon thread, each inside an app context (no-Redis local mode)."""

    def __init__(self, app):
        self.app = app
        self.q = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="orgkit-jobs", daemon=True)
        self.thread.start()

    def submit(self, func, args, kwargs):
        self.q.put((func, args, kwargs))

    def _run(self):
        while True:
            func, args, kwargs = self.q.get()
            with self.app.app_context():
                try:
                    job_function(func)(*args, **kwargs)
                except Exception:
                    log.exception("in-process job %s failed", job_label(func))
                finally:
                    db.session.remove()


@event.listens_for(Engine, "connect")
def _sqlite_enforce_foreign_keys(dbapi_connection, connection_record):
    # SQLite ignores FOREIGN KEY clauses (ON DELETE CASCADE included) unless asked per connection;
    # PostgreSQL always enforces them. Deleting a workspace relies on the cascade on both.
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
        # SQLite's own lower() folds ASCII letters only, so case-insensitive matches (SCIM filters on
        # caseExact=false attributes, RFC 7643 section 2.2) missed "Émile" for "émile"; Python's
        # lower() is the one the stored *_lower columns were made with, and PostgreSQL folds Unicode too.
        dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)


def _unicode_lower(value):
    return value.lower() if isinstance(value, str) else value


@event.listens_for(Pool, "checkout")
def _refuse_connection_the_server_closed(dbapi_connection, connection_record, connection_proxy):
    """Hand out no pooled PostgreSQL connection that the server has closed, without a round trip.

    An idle connection has nothing to read: PostgreSQL sends a client nothing unprompted but the
    FATAL message of a terminated backend (a restart, pg_terminate_backend, idle_session_timeout),
    and a closed socket reads as end of file. So a socket that is readable, or a connection psycopg
    already knows is broken, is dropped here and the pool opens a fresh one (SQLAlchemy retries a
    checkout that raises DisconnectionError). This replaces pool_pre_ping, which sent a SELECT on
    every checkout, a round trip per request (issue 17). A connection that dies silently (a network
    partition without a FIN) is caught by neither this nor the ping until TCP gives up.
    """
    pgconn = getattr(dbapi_connection, "pgconn", None)
    if pgconn is None:   # SQLite: a file, nothing to lose
        return
    if dbapi_connection.broken or dbapi_connection.closed:
        raise DisconnectionError("the connection is closed")
    readable, _, _ = select.select([pgconn.socket], [], [], 0)
    if readable:
        raise DisconnectionError("the server sent something to an idle connection: it closed it")


# --- A transaction that only read ends with COMMIT (issue 17) ---------------------------------------
# psycopg drops every prepared statement of a connection on ROLLBACK (Connection.rollback clears its
# cache), and a pooled connection's transaction used to end with one after every read: so no statement
# was ever run prepared, and PostgreSQL planned each one again (0.4 ms for the SCIM token lookup, 0.6
# ms for a userName filter: several times their execution). A transaction that sent nothing but
# SELECTs ends with COMMIT instead. On the server the two are the same: a read-only transaction has
# no transaction id and writes nothing to the WAL, and the transaction-local org binding (db_scope)
# ends at either. Anything else a transaction ran, and any change still pending in the session, keeps
# the ROLLBACK: this never commits a write a request left behind.
_WROTE = "orgkit_wrote"
_CONNECTION = "orgkit_connection"


@event.listens_for(Engine, "begin")
def _transaction_begins_read_only(conn):
    conn.info[_WROTE] = False


@event.listens_for(Engine, "before_cursor_execute")
def _note_statement_that_may_write(conn, cursor, statement, parameters, context, executemany):
    # SQLAlchemy compiles every read to "SELECT ..."; anything else (DML, DDL, a CTE, a lower-case
    # text() statement) counts as a write, which only ever costs the prepared statements.
    if not statement.startswith("SELECT"):
        conn.info[_WROTE] = True


@event.listens_for(Session, "after_begin")
def _remember_transaction_connection(session, transaction, connection):
    session.info[_CONNECTION] = connection


def end_read_only_transaction(session):
    """COMMIT the session's open transaction if it only read and holds no pending change; otherwise
    leave it for the rollback that ends every request."""
    if not session.in_transaction() or session.new or session.dirty or session.deleted:
        return
    connection = session.info.get(_CONNECTION)
    if connection is None or connection.closed or connection.info.get(_WROTE, True):
        return
    session.commit()
