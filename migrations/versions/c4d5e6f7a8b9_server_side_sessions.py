"""server-side sessions and their per-org SSO grants (logout ends a session on the server)

Revision ID: c4d5e6f7a8b9
Revises: c4f2a9d81e07
Create Date: 2026-12-03 06:40:00

Cookies from before this revision name no session record, so everyone signs in once more after it.
"""
from alembic import op
import sqlalchemy as sa

from migrations.rls import disable_org_isolation, enable_org_isolation

# revision identifiers, used by Alembic.
revision = 'c4d5e6f7a8b9'
down_revision = 'c4f2a9d81e07'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'user_sessions',
        sa.Column('user_id', sa.Uuid(), nullable=False),
        sa.Column('password_method', sa.String(length=20), nullable=True),
        sa.Column('password_granted_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('remember', sa.Boolean(), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('ended_reason', sa.String(length=40), nullable=True),
        sa.Column('ip', sa.String(length=45), nullable=True),
        sa.Column('user_agent', sa.String(length=255), nullable=True),
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_sessions_user_id_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_user_sessions')),
    )
    op.create_index('ix_user_sessions_user_ended', 'user_sessions', ['user_id', 'ended_at'], unique=False)
    op.create_index('ix_user_sessions_expires', 'user_sessions', ['expires_at'], unique=False)
    op.create_table(
        'session_sso_grants',
        sa.Column('session_id', sa.Uuid(), nullable=False),
        sa.Column('user_id', sa.Uuid(), nullable=False),
        sa.Column('org_id', sa.Uuid(), nullable=False),
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_session_sso_grants_org_id_organizations'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['session_id'], ['user_sessions.id'], name=op.f('fk_session_sso_grants_session_id_user_sessions'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_session_sso_grants_user_id_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_session_sso_grants')),
        sa.UniqueConstraint('session_id', 'org_id', name=op.f('uq_session_sso_grants_session_id_org_id')),
    )
    op.create_index('ix_session_sso_grants_org_user', 'session_sso_grants', ['org_id', 'user_id'], unique=False)
    # The user reads their own grants of every org (an org page checks the grant of the org it opens).
    enable_org_isolation('session_sso_grants', user_owned=True)


def downgrade():
    disable_org_isolation('session_sso_grants')
    op.drop_index('ix_session_sso_grants_org_user', table_name='session_sso_grants')
    op.drop_table('session_sso_grants')
    op.drop_index('ix_user_sessions_expires', table_name='user_sessions')
    op.drop_index('ix_user_sessions_user_ended', table_name='user_sessions')
    op.drop_table('user_sessions')
