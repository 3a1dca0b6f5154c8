"""Loads keep the URL issued for their label, compared byte for byte when scanned

Revision ID: 0016
Revises: 0012
Create Date: 2026-12-05 15:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    # Nullable, no rewrite: a load made before keeps the URL its label is signed with
    # now, and stores it on its next print.
    with op.batch_alter_table('load', schema=None) as batch_op:
        batch_op.add_column(sa.Column('label_url', sa.String(length=500), nullable=True))


def downgrade():
    with op.batch_alter_table('load', schema=None) as batch_op:
        batch_op.drop_column('label_url')
