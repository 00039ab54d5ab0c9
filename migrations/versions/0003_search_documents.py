"""search documents for the PostgreSQL search backend

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 08:45:00

"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

# PostgreSQL types where it has them; JSON or plain text on SQLite (the tables exist unused).
BIGINT_ARRAY = sa.JSON().with_variant(postgresql.ARRAY(sa.BigInteger()), 'postgresql')
TEXT_ARRAY = sa.JSON().with_variant(postgresql.ARRAY(sa.Text()), 'postgresql')
TSVECTOR = sa.Text().with_variant(postgresql.TSVECTOR(), 'postgresql')


def product_columns():
    """What filters, facets and sorting read, on both tables."""
    return [
        sa.Column('vendor_id', sa.BigInteger(), nullable=False),
        sa.Column('vendor_name', sa.Text(), nullable=False),
        sa.Column('category_path', BIGINT_ARRAY, nullable=False),
        sa.Column('category_names', TEXT_ARRAY, nullable=False),
        sa.Column('attribute_pairs', TEXT_ARRAY, nullable=False),
        sa.Column('price_base_minor', sa.BigInteger(), nullable=False),
        sa.Column('rating_x100', sa.Integer(), nullable=False),
        sa.Column('rating_count', sa.Integer(), nullable=False),
        sa.Column('in_stock', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade():
    if op.get_bind().dialect.name == 'postgresql':
        # Trigram similarity for "did you mean" (search_words.word).
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
    op.create_table(
        'search_products',
        sa.Column('product_id', sa.BigInteger(), autoincrement=False, nullable=False),
        *product_columns(),
        sa.PrimaryKeyConstraint('product_id', name=op.f('pk_search_products')),
    )
    op.create_index('ix_search_products_category_path', 'search_products', ['category_path'],
                    postgresql_using='gin')
    op.create_index('ix_search_products_attribute_pairs', 'search_products',
                    ['attribute_pairs'], postgresql_using='gin')
    op.create_index('ix_search_products_vendor_id', 'search_products', ['vendor_id'])
    op.create_table(
        'search_texts',
        sa.Column('product_id', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('language', sa.String(length=8), nullable=False),
        sa.Column('is_default', sa.Boolean(), nullable=False),
        sa.Column('languages', TEXT_ARRAY, nullable=False),
        sa.Column('config', sa.String(length=32), nullable=False),
        sa.Column('title', sa.Text(), nullable=False),
        sa.Column('tsv', TSVECTOR, nullable=False),
        sa.Column('words', TEXT_ARRAY, nullable=False),
        *product_columns(),
        sa.ForeignKeyConstraint(['product_id'], ['search_products.product_id'],
                                name=op.f('fk_search_texts_product_id_search_products'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('product_id', 'language', name=op.f('pk_search_texts')),
    )
    op.create_index('ix_search_texts_tsv', 'search_texts', ['tsv'], postgresql_using='gin')
    op.create_index('ix_search_texts_is_default_config', 'search_texts',
                    ['is_default', 'config'])
    op.create_table(
        'search_words',
        sa.Column('word', sa.Text(), nullable=False),
        sa.Column('products', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('word', name=op.f('pk_search_words')),
    )
    op.create_index('ix_search_words_word_trgm', 'search_words', ['word'],
                    postgresql_using='gin', postgresql_ops={'word': 'gin_trgm_ops'})


def downgrade():
    op.drop_index('ix_search_words_word_trgm', table_name='search_words')
    op.drop_table('search_words')
    op.drop_index('ix_search_texts_is_default_config', table_name='search_texts')
    op.drop_index('ix_search_texts_tsv', table_name='search_texts')
    op.drop_table('search_texts')
    op.drop_index('ix_search_products_vendor_id', table_name='search_products')
    op.drop_index('ix_search_products_attribute_pairs', table_name='search_products')
    op.drop_index('ix_search_products_category_path', table_name='search_products')
    op.drop_table('search_products')
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP EXTENSION IF EXISTS pg_trgm')
