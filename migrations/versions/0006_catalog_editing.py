"""vendor catalog editing: option types, translations, images, edit moderation (issue 3)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 09:00:00

Variants get a compare-at price and a weight; products their attributes, option types and
a rejection reason; product_translations hold non-default locales' texts, product_images
the re-encoded photo bytes (in the database, so every web machine serves them), and
product_revisions the edits of live products waiting for moderation.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
JSONType = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade():
    with op.batch_alter_table('variants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('compare_at_minor', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('weight_grams', sa.Integer(), nullable=True))
        batch_op.create_check_constraint(op.f('ck_variants_compare_at_not_negative'),
                                         'compare_at_minor >= 0')
        batch_op.create_check_constraint(op.f('ck_variants_weight_not_negative'),
                                         'weight_grams >= 0')

    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attributes', JSONType, nullable=True))
        batch_op.add_column(sa.Column('option_types', JSONType, nullable=True))
        batch_op.add_column(sa.Column('rejection_reason', sa.Text(), nullable=True))

    op.create_table('product_translations',
    sa.Column('id', BigId, nullable=False),
    sa.Column('vendor_id', BigId, nullable=False),
    sa.Column('product_id', BigId, nullable=False),
    sa.Column('locale', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_product_translations_product_id_products'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['vendor_id'], ['vendors.id'], name=op.f('fk_product_translations_vendor_id_vendors'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product_translations')),
    sa.UniqueConstraint('product_id', 'locale', name='uq_product_translations_product_locale')
    )

    op.create_table('product_images',
    sa.Column('id', BigId, nullable=False),
    sa.Column('vendor_id', BigId, nullable=False),
    sa.Column('product_id', BigId, nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('content_type', sa.String(length=32), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('thumb_width', sa.Integer(), nullable=False),
    sa.Column('thumb_height', sa.Integer(), nullable=False),
    sa.Column('thumb_data', sa.LargeBinary(), nullable=False),
    sa.Column('alt', sa.String(length=200), nullable=False),
    sa.Column('pending', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('width > 0 AND height > 0', name=op.f('ck_product_images_size_positive')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_product_images_product_id_products'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['vendor_id'], ['vendors.id'], name=op.f('fk_product_images_vendor_id_vendors'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product_images'))
    )
    op.create_index('ix_product_images_product_position', 'product_images',
                    ['product_id', 'position'], unique=False)

    op.create_table('product_revisions',
    sa.Column('id', BigId, nullable=False),
    sa.Column('vendor_id', BigId, nullable=False),
    sa.Column('product_id', BigId, nullable=False),
    sa.Column('status', sa.Enum('pending', 'approved', 'rejected', name='revision_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('data', JSONType, nullable=False),
    sa.Column('rejection_reason', sa.Text(), nullable=True),
    sa.Column('created_by_id', BigId, nullable=True),
    sa.Column('decided_by_id', BigId, nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_product_revisions_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_product_revisions_decided_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_product_revisions_product_id_products'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['vendor_id'], ['vendors.id'], name=op.f('fk_product_revisions_vendor_id_vendors'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product_revisions'))
    )
    op.create_index('ix_product_revisions_product_status', 'product_revisions',
                    ['product_id', 'status'], unique=False)
    op.create_index('ix_product_revisions_status_id', 'product_revisions',
                    ['status', 'id'], unique=False)


def downgrade():
    op.drop_index('ix_product_revisions_status_id', table_name='product_revisions')
    op.drop_index('ix_product_revisions_product_status', table_name='product_revisions')
    op.drop_table('product_revisions')
    op.drop_index('ix_product_images_product_position', table_name='product_images')
    op.drop_table('product_images')
    op.drop_table('product_translations')

    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_column('rejection_reason')
        batch_op.drop_column('option_types')
        batch_op.drop_column('attributes')

    with op.batch_alter_table('variants', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_variants_weight_not_negative'), type_='check')
        batch_op.drop_constraint(op.f('ck_variants_compare_at_not_negative'), type_='check')
        batch_op.drop_column('weight_grams')
        batch_op.drop_column('compare_at_minor')
