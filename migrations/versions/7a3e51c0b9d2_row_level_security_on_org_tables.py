"""row-level security on every org table (the second wall behind the org filter)

Revision ID: 7a3e51c0b9d2
Revises: 060c777ad8ae
Create Date: 2026-11-26 23:20:00

Policies keyed on the transaction-local setting orgkit.org_id (db_scope.py, migrations/rls.py). A
migration that adds a table with org_id calls enable_org_isolation for it too;
tests/security/test_row_level_security.py fails for any org table without its policy.
"""
from migrations.rls import disable_org_isolation, enable_org_isolation

# revision identifiers, used by Alembic.
revision = '7a3e51c0b9d2'
down_revision = '060c777ad8ae'
branch_labels = None
depends_on = None

ORG_TABLES = (
    "audit_events", "invitations", "invite_links",
    "scim_configs", "scim_tokens", "scim_users", "scim_user_values", "scim_groups",
    "scim_group_members", "scim_request_logs",
    "webhook_endpoints", "webhook_messages", "webhook_deliveries", "webhook_attempts",
)
# Read by their user across orgs from an org page: the workspace switcher, the notification bell.
USER_OWNED_ORG_TABLES = ("memberships", "notifications", "notification_digest_items")


def upgrade():
    enable_org_isolation(*ORG_TABLES)
    enable_org_isolation(*USER_OWNED_ORG_TABLES, user_owned=True)


def downgrade():
    disable_org_isolation(*ORG_TABLES, *USER_OWNED_ORG_TABLES)
