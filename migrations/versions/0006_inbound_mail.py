"""inbound e-mail: received mails and their attachments; failing addresses; thread headers

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'inbound_mails',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('message_id', sa.String(length=300), nullable=True),
        sa.Column('source', sa.String(length=8), nullable=False),
        sa.Column('received_at', sa.DateTime(), nullable=False),
        sa.Column('sender', sa.String(length=254), nullable=True),
        sa.Column('subject', sa.String(length=300), nullable=True),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('threaded_by', sa.String(length=12), nullable=True),
        sa.Column('ticket_number', sa.Integer(), sa.ForeignKey('tickets.number'), nullable=True),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('raw', sa.LargeBinary(), nullable=True),
        sa.Column('notes', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('digest'),
    )
    op.create_index('ix_inbound_mails_message_id', 'inbound_mails', ['message_id'])
    op.create_index('ix_inbound_mails_sender', 'inbound_mails', ['sender'])
    op.create_index('ix_inbound_mails_ticket_number', 'inbound_mails', ['ticket_number'])
    op.create_table(
        'mail_attachments',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('mail_id', sa.Integer(), sa.ForeignKey('inbound_mails.id'), nullable=False),
        sa.Column('filename', sa.String(length=200), nullable=False),
        sa.Column('content_type', sa.String(length=100), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('content', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_mail_attachments_mail_id', 'mail_attachments', ['mail_id'])
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_failing_at', sa.DateTime(), nullable=True))
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('headers', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('headers')
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_column('email_failing_at')
    op.drop_table('mail_attachments')
    op.drop_table('inbound_mails')
