"""users: the org that manages an account (created by its SSO JIT or SCIM), NULL for a person's own

Revision ID: b7c1d2e3f4a5
Revises: a811837d27c2
Create Date: 2026-12-02 18:50:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7c1d2e3f4a5'
down_revision = 'a811837d27c2'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('managed_by_org_id', sa.Uuid(), nullable=True))
        batch_op.create_index(batch_op.f('ix_users_managed_by_org_id'), ['managed_by_org_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_users_managed_by_org_id_organizations'), 'organizations',
                                    ['managed_by_org_id'], ['id'], ondelete='SET NULL')


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_users_managed_by_org_id_organizations'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_users_managed_by_org_id'))
        batch_op.drop_column('managed_by_org_id')
