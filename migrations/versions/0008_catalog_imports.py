"""CSV import/export jobs for vendor catalogs (issue 3)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 09:00:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('catalog_transfers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('vendor_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.Enum('import', 'export', name='transfer_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('status', sa.Enum('queued', 'validating', 'needs_confirmation', 'importing', 'exporting', 'failed', 'done', name='transfer_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=True),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('total_rows', sa.Integer(), nullable=True),
    sa.Column('processed_rows', sa.Integer(), nullable=False),
    sa.Column('errors', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('error_count', sa.Integer(), nullable=False),
    sa.Column('valid_rows', sa.Integer(), nullable=False),
    sa.Column('created_count', sa.Integer(), nullable=False),
    sa.Column('updated_count', sa.Integer(), nullable=False),
    sa.Column('skipped_count', sa.Integer(), nullable=False),
    sa.Column('import_valid_rows', sa.Boolean(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('token_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('locale', sa.String(length=16), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_catalog_transfers_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['token_id'], ['vendor_api_tokens.id'], name=op.f('fk_catalog_transfers_token_id_vendor_api_tokens'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['vendor_id'], ['vendors.id'], name=op.f('fk_catalog_transfers_vendor_id_vendors'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_catalog_transfers'))
    )
    with op.batch_alter_table('catalog_transfers', schema=None) as batch_op:
        batch_op.create_index('ix_catalog_transfers_vendor_id', ['vendor_id', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('catalog_transfers', schema=None) as batch_op:
        batch_op.drop_index('ix_catalog_transfers_vendor_id')

    op.drop_table('catalog_transfers')
