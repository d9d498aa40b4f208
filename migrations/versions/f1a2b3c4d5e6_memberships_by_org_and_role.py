"""memberships indexed by org and role: an org's admins without reading every membership

Revision ID: f1a2b3c4d5e6
Revises: e5b2c8d4f6a1
Create Date: 2026-12-03 13:45:00
"""
from alembic import op

revision = "f1a2b3c4d5e6"
down_revision = "e5b2c8d4f6a1"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.create_index("ix_memberships_org_role", ["org_id", "role"], unique=False)


def downgrade():
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_index("ix_memberships_org_role")
