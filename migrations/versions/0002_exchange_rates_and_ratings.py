"""exchange rates and product rating totals

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 08:30:00

"""
import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

# Starting rates (units per 1 EUR, in millionths) so prices compare across currencies on a
# fresh install; admins keep them current (the admin issue).
INITIAL_RATES = {"EUR": 1_000_000, "USD": 1_100_000, "GBP": 850_000, "JPY": 160_000_000}


def upgrade():
    rates = op.create_table(
        'exchange_rates',
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('per_base_micro', sa.BigInteger(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('per_base_micro > 0', name=op.f('ck_exchange_rates_rate_positive')),
        sa.PrimaryKeyConstraint('currency', name=op.f('pk_exchange_rates')),
    )
    op.bulk_insert(rates, [
        {"currency": code, "per_base_micro": micro, "updated_at": dt.datetime.now(dt.UTC)}
        for code, micro in INITIAL_RATES.items()
    ])
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rating_count', sa.Integer(), server_default='0',
                                      nullable=False))
        batch_op.add_column(sa.Column('rating_total', sa.Integer(), server_default='0',
                                      nullable=False))


def downgrade():
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_column('rating_total')
        batch_op.drop_column('rating_count')
    op.drop_table('exchange_rates')
