"""scim_users: a SCIM user may wait for the person to accept an invitation (no membership yet), and its
active may be unassigned (removed by a PATCH); accounts SCIM created become managed by their org

Existing SCIM users all have a membership and keep it: nobody loses access. An account is marked
managed by an org only where that org's SCIM is its whole story: no password, and no membership in any
other org (it was created by that SCIM, and no one else relies on it). Every other account stays the
person's own, which only narrows what the org's SCIM may do to it.

Revision ID: e5b2c8d4f6a1
Revises: d3f1a9b7c2e4
Create Date: 2026-12-03 07:50:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e5b2c8d4f6a1'
down_revision = 'd3f1a9b7c2e4'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('scim_users', schema=None) as batch_op:
        batch_op.alter_column('membership_id', existing_type=sa.Uuid(), nullable=True)
        batch_op.alter_column('user_id', existing_type=sa.Uuid(), nullable=True)
        batch_op.alter_column('active', existing_type=sa.Boolean(), nullable=True)
        batch_op.add_column(sa.Column('invitation_id', sa.Uuid(), nullable=True))
        batch_op.create_index(batch_op.f('ix_scim_users_invitation_id'), ['invitation_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_scim_users_invitation_id_invitations'), 'invitations',
                                    ['invitation_id'], ['id'], ondelete='SET NULL')
    op.execute("""
        UPDATE users SET managed_by_org_id = (SELECT s.org_id FROM scim_users s WHERE s.user_id = users.id)
        WHERE managed_by_org_id IS NULL AND password_hash IS NULL
          AND (SELECT COUNT(*) FROM scim_users s WHERE s.user_id = users.id) = 1
          AND (SELECT COUNT(*) FROM memberships m WHERE m.user_id = users.id) = 1
          AND EXISTS (SELECT 1 FROM memberships m JOIN scim_users s ON s.membership_id = m.id
                      WHERE m.user_id = users.id AND m.role <> 'owner')
    """)


def downgrade():
    op.execute("DELETE FROM scim_users WHERE membership_id IS NULL")
    op.execute("UPDATE scim_users SET active = TRUE WHERE active IS NULL")
    with op.batch_alter_table('scim_users', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_scim_users_invitation_id_invitations'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_scim_users_invitation_id'))
        batch_op.drop_column('invitation_id')
        batch_op.alter_column('active', existing_type=sa.Boolean(), nullable=False)
        batch_op.alter_column('user_id', existing_type=sa.Uuid(), nullable=False)
        batch_op.alter_column('membership_id', existing_type=sa.Uuid(), nullable=False)
