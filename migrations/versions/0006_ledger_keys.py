"""Ledger keys: checkpoints are signed with a key of their own, published apart from label keys

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 11:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('label_key', schema=None) as batch_op:
        batch_op.add_column(sa.Column('purpose', sa.String(length=10), server_default='label',
                                      nullable=False))


def downgrade():
    with op.batch_alter_table('label_key', schema=None) as batch_op:
        batch_op.drop_column('purpose')
