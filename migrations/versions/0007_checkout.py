"""checkout: carts, addresses, shipping profiles, tax rates, orders, sub-orders, order lines
and stock reservations (issue 5); stock movements learn the reasons "sale" and
"order_cancelled".

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 11:00:00

The starting tax rates are inserted here (standard VAT/GST rates; admins manage them later).
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

import datetime as dt

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

# The standard rates on the day this ran, as marketplace.tax.STARTING_TAX_RATES had them.
TAX_RATES = (
    ("AT", 2000, True, "USt"), ("BE", 2100, True, "BTW"), ("DE", 1900, True, "MwSt"),
    ("DK", 2500, True, "moms"), ("ES", 2100, True, "IVA"), ("FI", 2550, True, "ALV"),
    ("FR", 2000, True, "TVA"), ("IE", 2300, True, "VAT"), ("IT", 2200, True, "IVA"),
    ("NL", 2100, True, "btw"), ("PL", 2300, True, "VAT"), ("PT", 2300, True, "IVA"),
    ("SE", 2500, True, "moms"), ("GB", 2000, True, "VAT"), ("CH", 810, True, "MWST"),
    ("NO", 2500, True, "MVA"), ("AU", 1000, True, "GST"), ("NZ", 1500, True, "GST"),
    ("JP", 1000, True, "JCT"), ("CA", 500, False, "GST"), ("US", 0, False, "Sales tax"),
)

OLD_REASONS = ('received', 'damaged', 'count_correction')
NEW_REASONS = OLD_REASONS + ('sale', 'order_cancelled')


def _reason_type(values):
    return sa.Enum(*values, name='movement_reason', native_enum=False, create_constraint=True,
                   length=32)


def _set_reasons(old, new):
    # The enum is a VARCHAR with a CHECK constraint; batch mode rebuilds it on SQLite.
    with op.batch_alter_table('stock_movements', schema=None) as batch_op:
        batch_op.alter_column('reason', existing_type=_reason_type(old), type_=_reason_type(new),
                              existing_nullable=False)


def upgrade():
    op.create_table('tax_rates',
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('rate_bp', sa.Integer(), nullable=False),
    sa.Column('inclusive', sa.Boolean(), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('rate_bp >= 0 AND rate_bp <= 10000', name=op.f('ck_tax_rates_rate_in_range')),
    sa.PrimaryKeyConstraint('country', name=op.f('pk_tax_rates'))
    )
    op.create_table('addresses',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('line1', sa.String(length=200), nullable=False),
    sa.Column('line2', sa.String(length=200), nullable=False),
    sa.Column('city', sa.String(length=120), nullable=False),
    sa.Column('region', sa.String(length=120), nullable=False),
    sa.Column('postal_code', sa.String(length=20), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('phone', sa.String(length=40), nullable=False),
    sa.Column('is_default', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_addresses_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_addresses'))
    )
    with op.batch_alter_table('addresses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_addresses_user_id'), ['user_id'], unique=False)

    op.create_table('carts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('token_hash', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('user_id IS NOT NULL OR token_hash IS NOT NULL', name=op.f('ck_carts_has_owner')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_carts_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_carts')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_carts_token_hash')),
    sa.UniqueConstraint('user_id', name=op.f('uq_carts_user_id'))
    )
    op.create_table('orders',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('buyer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('idempotency_key', sa.String(length=100), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('status', sa.Enum('awaiting_payment', 'paid', 'payment_failed', 'expired', 'cancelled', name='order_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('items_minor', sa.BigInteger(), nullable=False),
    sa.Column('shipping_minor', sa.BigInteger(), nullable=False),
    sa.Column('tax_minor', sa.BigInteger(), nullable=False),
    sa.Column('total_minor', sa.BigInteger(), nullable=False),
    sa.Column('tax_inclusive', sa.Boolean(), nullable=False),
    sa.Column('fx_rates', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('shipping_address', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('payment_provider', sa.String(length=16), nullable=True),
    sa.Column('payment_intent_id', sa.String(length=255), nullable=True),
    sa.Column('transfer_group', sa.String(length=64), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('request_fingerprint', sa.String(length=64), nullable=True),
    sa.Column('last_payment_error', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('items_minor >= 0 AND shipping_minor >= 0 AND tax_minor >= 0', name=op.f('ck_orders_amounts_not_negative')),
    sa.CheckConstraint('total_minor >= items_minor + shipping_minor', name=op.f('ck_orders_total_covers_parts')),
    sa.ForeignKeyConstraint(['buyer_id'], ['users.id'], name=op.f('fk_orders_buyer_id_users'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_orders')),
    sa.UniqueConstraint('buyer_id', 'idempotency_key', name='uq_orders_buyer_idempotency'),
    sa.UniqueConstraint('number', name=op.f('uq_orders_number')),
    sa.UniqueConstraint('payment_intent_id', name=op.f('uq_orders_payment_intent_id'))
    )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index('ix_orders_buyer_id', ['buyer_id', 'id'], unique=False)
        batch_op.create_index('ix_orders_status_expires', ['status', 'expires_at'], unique=False)

    op.create_table('shipping_profiles',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('vendor_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('countries', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('handling_days', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('handling_days >= 0 AND handling_days <= 90', name=op.f('ck_shipping_profiles_handling_days_in_range')),
    sa.ForeignKeyConstraint(['vendor_id'], ['vendors.id'], name=op.f('fk_shipping_profiles_vendor_id_vendors'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shipping_profiles'))
    )
    with op.batch_alter_table('shipping_profiles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shipping_profiles_vendor_id'), ['vendor_id'], unique=False)

    op.create_table('shipping_methods',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('vendor_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('profile_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('kind', sa.Enum('flat', 'weight', name='shipping_rate_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('base_minor', sa.BigInteger(), nullable=False),
    sa.Column('per_kg_minor', sa.BigInteger(), nullable=False),
    sa.Column('free_over_minor', sa.BigInteger(), nullable=True),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('base_minor >= 0 AND per_kg_minor >= 0', name=op.f('ck_shipping_methods_rates_not_negative')),
    sa.CheckConstraint('free_over_minor >= 0', name=op.f('ck_shipping_methods_free_over_not_negative')),
    sa.ForeignKeyConstraint(['profile_id'], ['shipping_profiles.id'], name=op.f('fk_shipping_methods_profile_id_shipping_profiles'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['vendor_id'], ['vendors.id'], name=op.f('fk_shipping_methods_vendor_id_vendors'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shipping_methods'))
    )
    with op.batch_alter_table('shipping_methods', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shipping_methods_profile_id'), ['profile_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_shipping_methods_vendor_id'), ['vendor_id'], unique=False)

    op.create_table('sub_orders',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('vendor_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('status', sa.Enum('awaiting_payment', 'paid', 'accepted', 'ready_to_ship', 'rejected', 'cancelled', 'void', name='sub_order_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('items_minor', sa.BigInteger(), nullable=False),
    sa.Column('shipping_minor', sa.BigInteger(), nullable=False),
    sa.Column('tax_minor', sa.BigInteger(), nullable=False),
    sa.Column('total_minor', sa.BigInteger(), nullable=False),
    sa.Column('shipping_method', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('rejection_reason', sa.Text(), nullable=True),
    sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('items_minor >= 0 AND shipping_minor >= 0 AND tax_minor >= 0', name=op.f('ck_sub_orders_amounts_not_negative')),
    sa.CheckConstraint('total_minor >= items_minor + shipping_minor', name=op.f('ck_sub_orders_total_covers_parts')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_sub_orders_order_id_orders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['vendor_id'], ['vendors.id'], name=op.f('fk_sub_orders_vendor_id_vendors'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sub_orders')),
    sa.UniqueConstraint('order_id', 'vendor_id', name='uq_sub_orders_order_vendor')
    )
    with op.batch_alter_table('sub_orders', schema=None) as batch_op:
        batch_op.create_index('ix_sub_orders_vendor_id', ['vendor_id', 'id'], unique=False)
        batch_op.create_index('ix_sub_orders_vendor_status', ['vendor_id', 'status', 'id'], unique=False)

    op.create_table('cart_lines',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('cart_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('variant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('unit_price_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_cart_lines_quantity_positive')),
    sa.ForeignKeyConstraint(['cart_id'], ['carts.id'], name=op.f('fk_cart_lines_cart_id_carts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['variant_id'], ['variants.id'], name=op.f('fk_cart_lines_variant_id_variants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cart_lines')),
    sa.UniqueConstraint('cart_id', 'variant_id', name='uq_cart_lines_cart_variant')
    )
    with op.batch_alter_table('cart_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cart_lines_variant_id'), ['variant_id'], unique=False)

    op.create_table('order_lines',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sub_order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('vendor_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('variant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('product_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('attributes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('vendor_unit_price_minor', sa.BigInteger(), nullable=False),
    sa.Column('vendor_currency', sa.String(length=3), nullable=False),
    sa.Column('unit_price_minor', sa.BigInteger(), nullable=False),
    sa.Column('net_minor', sa.BigInteger(), nullable=False),
    sa.Column('tax_minor', sa.BigInteger(), nullable=False),
    sa.Column('total_minor', sa.BigInteger(), nullable=False),
    sa.Column('tax_rate_bp', sa.Integer(), nullable=False),
    sa.CheckConstraint('net_minor >= 0 AND tax_minor >= 0', name=op.f('ck_order_lines_amounts_not_negative')),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_order_lines_quantity_positive')),
    sa.CheckConstraint('tax_rate_bp >= 0', name=op.f('ck_order_lines_tax_rate_not_negative')),
    sa.CheckConstraint('total_minor = net_minor + tax_minor', name=op.f('ck_order_lines_total_is_net_plus_tax')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_lines_order_id_orders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_order_lines_product_id_products'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['sub_order_id'], ['sub_orders.id'], name=op.f('fk_order_lines_sub_order_id_sub_orders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['variant_id'], ['variants.id'], name=op.f('fk_order_lines_variant_id_variants'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['vendor_id'], ['vendors.id'], name=op.f('fk_order_lines_vendor_id_vendors'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_lines'))
    )
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_lines_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_order_lines_sub_order_id'), ['sub_order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_order_lines_variant_id'), ['variant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_order_lines_vendor_id'), ['vendor_id'], unique=False)

    op.create_table('stock_reservations',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('vendor_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_line_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('stock_level_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('active', 'committed', 'released', 'restocked', name='reservation_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_stock_reservations_quantity_positive')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_stock_reservations_order_id_orders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['order_line_id'], ['order_lines.id'], name=op.f('fk_stock_reservations_order_line_id_order_lines'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['stock_level_id'], ['stock_levels.id'], name=op.f('fk_stock_reservations_stock_level_id_stock_levels'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['vendor_id'], ['vendors.id'], name=op.f('fk_stock_reservations_vendor_id_vendors'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_reservations'))
    )
    with op.batch_alter_table('stock_reservations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stock_reservations_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_stock_reservations_order_line_id'), ['order_line_id'], unique=False)
        batch_op.create_index('ix_stock_reservations_status_expires', ['status', 'expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_stock_reservations_stock_level_id'), ['stock_level_id'], unique=False)

    tax_rates = sa.table('tax_rates', sa.column('country', sa.String), sa.column('rate_bp', sa.Integer),
                         sa.column('inclusive', sa.Boolean), sa.column('name', sa.String),
                         sa.column('updated_at', sa.DateTime(timezone=True)))
    op.bulk_insert(tax_rates, [
        {'country': c, 'rate_bp': bp, 'inclusive': inc, 'name': name,
         'updated_at': dt.datetime.now(dt.UTC)} for c, bp, inc, name in TAX_RATES
    ])
    _set_reasons(OLD_REASONS, NEW_REASONS)


def downgrade():
    op.execute("DELETE FROM stock_movements WHERE reason IN ('sale', 'order_cancelled')")
    _set_reasons(NEW_REASONS, OLD_REASONS)
    with op.batch_alter_table('stock_reservations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stock_reservations_stock_level_id'))
        batch_op.drop_index('ix_stock_reservations_status_expires')
        batch_op.drop_index(batch_op.f('ix_stock_reservations_order_line_id'))
        batch_op.drop_index(batch_op.f('ix_stock_reservations_order_id'))

    op.drop_table('stock_reservations')
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_lines_vendor_id'))
        batch_op.drop_index(batch_op.f('ix_order_lines_variant_id'))
        batch_op.drop_index(batch_op.f('ix_order_lines_sub_order_id'))
        batch_op.drop_index(batch_op.f('ix_order_lines_order_id'))

    op.drop_table('order_lines')
    with op.batch_alter_table('cart_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cart_lines_variant_id'))

    op.drop_table('cart_lines')
    with op.batch_alter_table('sub_orders', schema=None) as batch_op:
        batch_op.drop_index('ix_sub_orders_vendor_status')
        batch_op.drop_index('ix_sub_orders_vendor_id')

    op.drop_table('sub_orders')
    with op.batch_alter_table('shipping_methods', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shipping_methods_vendor_id'))
        batch_op.drop_index(batch_op.f('ix_shipping_methods_profile_id'))

    op.drop_table('shipping_methods')
    with op.batch_alter_table('shipping_profiles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shipping_profiles_vendor_id'))

    op.drop_table('shipping_profiles')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_status_expires')
        batch_op.drop_index('ix_orders_buyer_id')

    op.drop_table('orders')
    op.drop_table('carts')
    with op.batch_alter_table('addresses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_addresses_user_id'))

    op.drop_table('addresses')
    op.drop_table('tax_rates')
