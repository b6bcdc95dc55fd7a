"""audit trail of denied attempts and sensitive reads or actions

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'audit_events',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('actor', sa.String(length=100), nullable=True),
        sa.Column('role', sa.String(length=12), nullable=True),
        sa.Column('action', sa.String(length=80), nullable=False),
        sa.Column('target', sa.String(length=128), nullable=True),
        sa.Column('outcome', sa.String(length=12), nullable=False),
        sa.Column('address', sa.String(length=64), nullable=True),
        sa.Column('details', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_at', ['at'], unique=False)


def downgrade():
    op.drop_table('audit_events')
