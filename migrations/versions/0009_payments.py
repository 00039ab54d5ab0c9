"""payment intents and webhook events (issue 5): the provider events table and the sandbox
provider's payment intents, refunds, transfers, reversals and idempotency keys

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 09:00:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade():
    op.create_table('payment_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('event_id', sa.String(length=255), nullable=False),
    sa.Column('type', sa.String(length=100), nullable=False),
    sa.Column('object_id', sa.String(length=255), nullable=True),
    sa.Column('payload', JSON, nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_events')),
    sa.UniqueConstraint('event_id', name=op.f('uq_payment_events_event_id'))
    )
    op.create_index(op.f('ix_payment_events_object_id'), 'payment_events', ['object_id'], unique=False)
    op.create_index(op.f('ix_payment_events_type'), 'payment_events', ['type'], unique=False)
    op.create_table('payment_sandbox_idempotency_keys',
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('object_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_payment_sandbox_idempotency_keys'))
    )
    op.create_table('payment_sandbox_intents',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('client_secret', sa.String(length=128), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('transfer_group', sa.String(length=128), nullable=False),
    sa.Column('metadata', JSON, nullable=False),
    sa.Column('status', sa.Enum('requires_payment_method', 'requires_action', 'succeeded', 'canceled', name='payment_sandbox_intent_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('charge_id', sa.String(length=64), nullable=True),
    sa.Column('last_error', sa.String(length=300), nullable=True),
    sa.Column('amount_refunded', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount_minor > 0', name=op.f('ck_payment_sandbox_intents_amount_positive')),
    sa.CheckConstraint('amount_refunded >= 0 AND amount_refunded <= amount_minor', name=op.f('ck_payment_sandbox_intents_refund_within_amount')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_sandbox_intents')),
    sa.UniqueConstraint('charge_id', name=op.f('uq_payment_sandbox_intents_charge_id'))
    )
    op.create_table('payment_sandbox_refunds',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('payment_intent_id', sa.String(length=64), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('metadata', JSON, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount_minor > 0', name=op.f('ck_payment_sandbox_refunds_amount_positive')),
    sa.ForeignKeyConstraint(['payment_intent_id'], ['payment_sandbox_intents.id'], name=op.f('fk_payment_sandbox_refunds_payment_intent_id_payment_sandbox_intents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_sandbox_refunds'))
    )
    op.create_index(op.f('ix_payment_sandbox_refunds_payment_intent_id'), 'payment_sandbox_refunds', ['payment_intent_id'], unique=False)
    op.create_table('payment_sandbox_transfers',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('destination', sa.String(length=64), nullable=False),
    sa.Column('transfer_group', sa.String(length=128), nullable=False),
    sa.Column('source_transaction', sa.String(length=64), nullable=True),
    sa.Column('metadata', JSON, nullable=False),
    sa.Column('amount_reversed', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount_minor > 0', name=op.f('ck_payment_sandbox_transfers_amount_positive')),
    sa.CheckConstraint('amount_reversed >= 0 AND amount_reversed <= amount_minor', name=op.f('ck_payment_sandbox_transfers_reversal_within_amount')),
    sa.ForeignKeyConstraint(['destination'], ['payment_sandbox_accounts.id'], name=op.f('fk_payment_sandbox_transfers_destination_payment_sandbox_accounts'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_sandbox_transfers'))
    )
    op.create_index(op.f('ix_payment_sandbox_transfers_destination'), 'payment_sandbox_transfers', ['destination'], unique=False)
    op.create_index(op.f('ix_payment_sandbox_transfers_transfer_group'), 'payment_sandbox_transfers', ['transfer_group'], unique=False)
    op.create_table('payment_sandbox_transfer_reversals',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('transfer_id', sa.String(length=64), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount_minor > 0', name=op.f('ck_payment_sandbox_transfer_reversals_amount_positive')),
    sa.ForeignKeyConstraint(['transfer_id'], ['payment_sandbox_transfers.id'], name=op.f('fk_payment_sandbox_transfer_reversals_transfer_id_payment_sandbox_transfers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_sandbox_transfer_reversals'))
    )
    op.create_index(op.f('ix_payment_sandbox_transfer_reversals_transfer_id'), 'payment_sandbox_transfer_reversals', ['transfer_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_payment_sandbox_transfer_reversals_transfer_id'), table_name='payment_sandbox_transfer_reversals')
    op.drop_table('payment_sandbox_transfer_reversals')
    op.drop_index(op.f('ix_payment_sandbox_transfers_transfer_group'), table_name='payment_sandbox_transfers')
    op.drop_index(op.f('ix_payment_sandbox_transfers_destination'), table_name='payment_sandbox_transfers')
    op.drop_table('payment_sandbox_transfers')
    op.drop_index(op.f('ix_payment_sandbox_refunds_payment_intent_id'), table_name='payment_sandbox_refunds')
    op.drop_table('payment_sandbox_refunds')
    op.drop_table('payment_sandbox_intents')
    op.drop_table('payment_sandbox_idempotency_keys')
    op.drop_index(op.f('ix_payment_events_type'), table_name='payment_events')
    op.drop_index(op.f('ix_payment_events_object_id'), table_name='payment_events')
    op.drop_table('payment_events')
