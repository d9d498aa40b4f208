"""Row-level security DDL for org tables, called by the migrations that create them.

    from migrations.rls import enable_org_isolation
    enable_org_isolation("api_keys", "api_idempotency_records")           # in upgrade()
    disable_org_isolation("api_keys", "api_idempotency_records")          # in downgrade()

A table whose rows also belong to one user (user_id) and that the user reads across orgs from an org
page (memberships: the workspace switcher; notifications: the bell) passes user_owned=True.

Each call enables and FORCEs row-level security (so the tables' owner is walled too, when it is not a
superuser) and (re)creates the policies, so calling it again for a table is harmless. The policies
read the transaction-local settings db_scope.py sets; an unset or empty setting means "no org bound"
and lets every row through (docs/security.md explains why). On SQLite it does nothing.
"""
from alembic import op

from db_scope import ORG_SETTING, USER_SETTING

ORG_POLICY = "org_isolation"
OWN_ROWS_POLICY = "own_rows_read"


def _bound(setting):
    # current_setting(..., true) is NULL before the setting was ever set on this connection and ''
    # after a transaction that set it ended; both mean "nothing bound".
    return f"NULLIF(current_setting('{setting}', true), '')::uuid"


ORG_VISIBLE = f"({_bound(ORG_SETTING)} IS NULL OR org_id = {_bound(ORG_SETTING)})"
# Rows with no org (a user-level audit event or notification, where org_id is nullable) may be written
# from an org context (SCIM deactivation ends the person's sessions: user.sessions_revoked) but are
# not read there: another user's account events are no org's business.
ORG_WRITABLE = f"({_bound(ORG_SETTING)} IS NULL OR org_id = {_bound(ORG_SETTING)} OR org_id IS NULL)"
OWN_ROW = f"(user_id = {_bound(USER_SETTING)})"


def enable_org_isolation(*tables, user_owned=False):
    for name in _quoted_postgresql_tables(tables):
        for statement in enable_statements(name, user_owned):
            op.execute(statement)


def disable_org_isolation(*tables):
    for name in _quoted_postgresql_tables(tables):
        for statement in disable_statements(name):
            op.execute(statement)


def enable_statements(name, user_owned=False):
    """The SQL that walls one table (name already quoted)."""
    statements = [
        f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {name} FORCE ROW LEVEL SECURITY",
        f"DROP POLICY IF EXISTS {ORG_POLICY} ON {name}",
        f"CREATE POLICY {ORG_POLICY} ON {name} USING {ORG_VISIBLE} WITH CHECK {ORG_WRITABLE}",
        f"DROP POLICY IF EXISTS {OWN_ROWS_POLICY} ON {name}",
    ]
    if user_owned:
        # Permissive policies are OR-ed per command: the user's own rows become readable, while
        # INSERT, UPDATE and DELETE still pass only org_isolation.
        statements.append(f"CREATE POLICY {OWN_ROWS_POLICY} ON {name} FOR SELECT USING {OWN_ROW}")
    return statements


def disable_statements(name):
    return [
        f"DROP POLICY IF EXISTS {OWN_ROWS_POLICY} ON {name}",
        f"DROP POLICY IF EXISTS {ORG_POLICY} ON {name}",
        f"ALTER TABLE {name} NO FORCE ROW LEVEL SECURITY",
        f"ALTER TABLE {name} DISABLE ROW LEVEL SECURITY",
    ]


def _quoted_postgresql_tables(tables):
    """The tables' quoted names on PostgreSQL; none on SQLite (no row-level security there)."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return []
    return [bind.dialect.identifier_preparer.quote(table) for table in tables]
