"""storefront: the home page's featured-then-newest order comes from an index

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 08:20:00

The home page lists visible products ``ORDER BY featured DESC, id DESC LIMIT 12``. With an
index on (status, featured) PostgreSQL sorted every approved product for it (160 ms at
200,000 products); (status, featured, id) is read backwards in that order and stops after 12.
"""
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index('ix_products_status_featured', table_name='products')
    op.create_index('ix_products_status_featured_id', 'products', ['status', 'featured', 'id'],
                    unique=False)


def downgrade():
    op.drop_index('ix_products_status_featured_id', table_name='products')
    op.create_index('ix_products_status_featured', 'products', ['status', 'featured'],
                    unique=False)
