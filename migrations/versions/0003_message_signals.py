"""message signals (seed 002: emotion, themes per customer message)

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'message_signals',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('event_key', sa.String(length=80), nullable=True),
        sa.Column('conversation_id', sa.String(length=128), nullable=True),
        sa.Column('customer_id', sa.String(length=16), nullable=True),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('mode', sa.String(length=10), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('intent', sa.String(length=60), nullable=True),
        sa.Column('scenario', sa.String(length=60), nullable=True),
        sa.Column('emotion', sa.String(length=20), nullable=False),
        sa.Column('polarity', sa.String(length=10), nullable=False),
        sa.Column('intensity', sa.Integer(), nullable=False),
        sa.Column('themes', sa.JSON(), nullable=False),
        sa.Column('keywords', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('event_key'),
    )
    with op.batch_alter_table('message_signals', schema=None) as batch_op:
        batch_op.create_index('ix_message_signals_conversation_id', ['conversation_id'], unique=False)
        batch_op.create_index('ix_message_signals_customer_id', ['customer_id'], unique=False)
        batch_op.create_index('ix_message_signals_at', ['at'], unique=False)


def downgrade():
    op.drop_table('message_signals')
