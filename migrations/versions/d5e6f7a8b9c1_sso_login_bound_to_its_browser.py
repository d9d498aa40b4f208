"""SSO login bound to its browser (pending logins, nonce), and JIT-created accounts become managed

Revision ID: d5e6f7a8b9c1
Revises: c4d5e6f7a8b9
Create Date: 2026-12-03 06:55:00

Data: existing SSO links (sso_identities) stay linked, so nobody is asked for consent or locked out.
An account with no password whose identities all belong to one org can only have been made by that
org's just-in-time provisioning (or its SCIM): it becomes managed by that org. Accounts with a
password, or linked to several orgs, stay the person's own (where it cannot be known, the safe side).
"""
from alembic import op
import sqlalchemy as sa

import models
from migrations.rls import disable_org_isolation, enable_org_isolation

# revision identifiers, used by Alembic.
revision = 'd5e6f7a8b9c1'
down_revision = 'c4d5e6f7a8b9'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('sso_request_states', schema=None) as batch_op:
        batch_op.add_column(sa.Column('browser_nonce_hash', sa.String(length=64), nullable=True))
    op.create_table(
        'sso_pending_logins',
        sa.Column('key_hash', sa.String(length=64), nullable=False),
        sa.Column('request_state_id', sa.Uuid(), nullable=True),
        sa.Column('initiated_by', sa.String(length=10), nullable=False),
        sa.Column('identity', sa.JSON(), nullable=False),
        sa.Column('return_path', sa.String(length=2048), nullable=False),
        sa.Column('expires_at', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('consumed_at', models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('org_id', sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_sso_pending_logins_org_id_organizations'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['request_state_id'], ['sso_request_states.id'], name=op.f('fk_sso_pending_logins_request_state_id_sso_request_states'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sso_pending_logins')),
        sa.UniqueConstraint('key_hash', name=op.f('uq_sso_pending_logins_key_hash')),
    )
    with op.batch_alter_table('sso_pending_logins', schema=None) as batch_op:
        batch_op.create_index('ix_sso_pending_logins_created', ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_sso_pending_logins_org_id'), ['org_id'], unique=False)
    enable_org_isolation('sso_pending_logins')

    op.execute("""
        UPDATE users SET managed_by_org_id = (
            SELECT MIN(i.org_id) FROM sso_identities i WHERE i.user_id = users.id)
        WHERE password_hash IS NULL AND managed_by_org_id IS NULL
          AND (SELECT COUNT(DISTINCT i.org_id) FROM sso_identities i WHERE i.user_id = users.id) = 1
    """ if op.get_bind().dialect.name != "postgresql" else """
        UPDATE users SET managed_by_org_id = linked.org_id
        FROM (SELECT user_id, MIN(org_id::text)::uuid AS org_id FROM sso_identities
              GROUP BY user_id HAVING COUNT(DISTINCT org_id) = 1) AS linked
        WHERE linked.user_id = users.id AND users.password_hash IS NULL AND users.managed_by_org_id IS NULL
    """)


def downgrade():
    # Which accounts the upgrade made managed is not recorded; they stay managed (no link is lost).
    disable_org_isolation('sso_pending_logins')
    with op.batch_alter_table('sso_pending_logins', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sso_pending_logins_org_id'))
        batch_op.drop_index('ix_sso_pending_logins_created')
    op.drop_table('sso_pending_logins')
    with op.batch_alter_table('sso_request_states', schema=None) as batch_op:
        batch_op.drop_column('browser_nonce_hash')
