"""setup_links: bearer links an owner gives the IT admin to set up SSO, SCIM or domains (issue 18)

Revision ID: c4e8a1f2b9d0
Revises: b7c1d2e3f4a5
Create Date: 2026-12-03 06:50:00

"""
from alembic import op
import sqlalchemy as sa

from migrations.rls import disable_org_isolation, enable_org_isolation
from models.base import UTCDateTime

# revision identifiers, used by Alembic.
revision = 'c4e8a1f2b9d0'
down_revision = 'b7c1d2e3f4a5'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'setup_links',
        sa.Column('prefix', sa.String(length=20), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('scopes', sa.JSON(), nullable=False),
        sa.Column('expires_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('created_by_user_id', sa.Uuid(), nullable=True),
        sa.Column('created_by_label', sa.String(length=254), nullable=False),
        sa.Column('sent_to', sa.String(length=254), nullable=True),
        sa.Column('code_hash', sa.String(length=64), nullable=True),
        sa.Column('code_sent_at', UTCDateTime(timezone=True), nullable=True),
        sa.Column('code_failures', sa.Integer(), nullable=False),
        sa.Column('last_used_at', UTCDateTime(timezone=True), nullable=True),
        sa.Column('revoked_at', UTCDateTime(timezone=True), nullable=True),
        sa.Column('revoked_by_label', sa.String(length=254), nullable=True),
        sa.Column('completed_at', UTCDateTime(timezone=True), nullable=True),
        sa.Column('provider', sa.String(length=30), nullable=True),
        sa.Column('sso_draft', sa.JSON(), nullable=True),
        sa.Column('done', sa.JSON(), nullable=False),
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('org_id', sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(['created_by_user_id'], ['users.id'], name=op.f('fk_setup_links_created_by_user_id_users'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_setup_links_org_id_organizations'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_setup_links')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_setup_links_token_hash')),
    )
    with op.batch_alter_table('setup_links', schema=None) as batch_op:
        batch_op.create_index('ix_setup_links_org_created', ['org_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_setup_links_org_id'), ['org_id'], unique=False)
    enable_org_isolation('setup_links')


def downgrade():
    disable_org_isolation('setup_links')
    with op.batch_alter_table('setup_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_setup_links_org_id'))
        batch_op.drop_index('ix_setup_links_org_created')
    op.drop_table('setup_links')
