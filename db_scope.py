"""The second wall behind the org filter: PostgreSQL row-level security keyed on the bound org.

Every table with an org_id column has a policy (migrations/rls.py) that, once a transaction has set
`orgkit.org_id`, lets through only that org's rows, for reads and for writes. The app binds an org
wherever it works for one: org pages (tenancy, once the membership is loaded), SCIM (once the token
names the org), the JSON API (once the key names the org) and jobs for one org. A query that forgets
its `.where(org_id == ...)` then returns that org's rows and nothing of any other org.

    bind_org(org)                 # for the rest of this request or job
    with org_scope(org_id): ...   # for a block (a job that handles one org, a test)

The setting is transaction-local (set_config(..., true)): it vanishes at COMMIT or ROLLBACK, so a
pooled connection never carries one request's org into the next. The binding itself lives on the
database session (session.info), which Flask-SQLAlchemy discards at the end of every request and the
worker after every job; the after_begin hook below sets it again at the start of every transaction
of that session, because requests and jobs commit more than once (SCIM's request log, batches).

Nothing bound means no wall (see docs/security.md): sign-in, the workspace list, token lookups before
the org is known, the sweeper, retention and the operator CLI work across orgs by design.

The bound user (org pages only) additionally sees their own rows of user-owned tables (memberships,
notifications) in other orgs: the workspace switcher and the notification bell on an org page are
the user's own, across orgs. Writes stay walled to the bound org.

On SQLite (development, half the test suite) this does nothing: there is no row-level security.
"""
from contextlib import contextmanager

from sqlalchemy import String, case, cast, event, func, text
from sqlalchemy.orm import Session

from extensions import db

# The names of the transaction-local settings the policies read (migrations/rls.py).
ORG_SETTING = "orgkit.org_id"
USER_SETTING = "orgkit.user_id"

_SCOPE_KEY = "orgkit_rls_scope"
_SET_SCOPE = text(f"SELECT set_config('{ORG_SETTING}', :org_id, true), set_config('{USER_SETTING}', :user_id, true)")


def bind_org(org, user=None, set_by_lookup=False):
    """Wall this session's transactions to one org (an Organization or its id) from now on.

    user (a User or id) lets the user's own memberships and notifications in other orgs through for
    reading: pass it on browser pages only. Takes effect at once, in the transaction already open.
    set_by_lookup: the statement that found the org already set it in this transaction (it selected
    lookup_binds(...)), so only the session's later transactions need it set.
    """
    scope = {"org_id": str(_id_of(org)), "user_id": str(_id_of(user)) if user is not None else ""}
    db.session.info[_SCOPE_KEY] = scope
    if not set_by_lookup:
        _apply_now(scope)


def lookup_binds(org_id_column, dialect_name, user_id_column=None):
    """Columns to add to the SELECT that finds an org by a credential (an API key, a SCIM token, a
    browser session on an org page), so that the same statement binds the org it finds: one round
    trip fewer on every request. Empty where there is nothing to bind (SQLite). Follow with
    bind_org(org, set_by_lookup=True) (with the user, when user_id_column was given). A NULL org
    (an outer join that found none) binds nothing, and then no user either."""
    if dialect_name != "postgresql":
        return ()
    if user_id_column is None:
        org_text, user_text = cast(org_id_column, String), ""
    else:
        org_text = func.coalesce(cast(org_id_column, String), "")
        user_text = case((org_id_column.is_(None), ""), else_=cast(user_id_column, String))
    return (func.set_config(ORG_SETTING, org_text, True).label("bound_org"),
            func.set_config(USER_SETTING, user_text, True).label("bound_user"))


def bind_session(session, org):
    """bind_org for a session of its own (a streamed response reads through one after the request's
    session is gone): every transaction it begins is walled to the org."""
    session.info[_SCOPE_KEY] = {"org_id": str(_id_of(org)), "user_id": ""}


def unbind_org():
    """Back to no wall (the transaction already open included)."""
    if db.session.info.pop(_SCOPE_KEY, None) is not None:
        _apply_now({"org_id": "", "user_id": ""})


def bound_org_id():
    """The id (str) of the org this session is bound to, or None."""
    scope = db.session.info.get(_SCOPE_KEY)
    return scope["org_id"] if scope else None


@contextmanager
def org_scope(org, user=None):
    """bind_org for a block; the previous binding (or none) comes back afterwards."""
    previous = db.session.info.get(_SCOPE_KEY)
    bind_org(org, user)
    try:
        yield
    finally:
        if previous is None:
            unbind_org()
        else:
            db.session.info[_SCOPE_KEY] = previous
            _apply_now(previous)


def _id_of(obj):
    return getattr(obj, "id", obj)


def _apply_now(scope):
    session = db.session()
    if session.in_transaction() and _is_postgresql(session.connection()):
        session.connection().execute(_SET_SCOPE, scope)
    # Otherwise the next transaction's after_begin sets it.


def _is_postgresql(connection):
    return connection.dialect.name == "postgresql"


@event.listens_for(Session, "after_begin")
def _set_scope_on_begin(session, transaction, connection):
    scope = session.info.get(_SCOPE_KEY)
    if scope is not None and _is_postgresql(connection):
        connection.execute(_SET_SCOPE, scope)
