"""scim_tokens: who generated each token and why it was revoked, so tokens follow their creator

Existing tokens keep created_by_id NULL (their creator was recorded only as a label) and stay live:
an upgrade cuts no identity provider off.

Revision ID: d3f1a9b7c2e4
Revises: d5e6f7a8b9c1
Create Date: 2026-12-03 07:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd3f1a9b7c2e4'
down_revision = 'd5e6f7a8b9c1'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('scim_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('created_by_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('revoked_reason', sa.String(length=40), nullable=True))
        batch_op.create_index(batch_op.f('ix_scim_tokens_created_by_id'), ['created_by_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_scim_tokens_created_by_id_users'), 'users',
                                    ['created_by_id'], ['id'], ondelete='SET NULL')
    op.execute("UPDATE scim_tokens SET revoked_reason = 'revoked' WHERE revoked_at IS NOT NULL")


def downgrade():
    with op.batch_alter_table('scim_tokens', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_scim_tokens_created_by_id_users'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_scim_tokens_created_by_id'))
        batch_op.drop_column('revoked_reason')
        batch_op.drop_column('created_by_id')
