"""Merkle nodes: each checkpoint's tree from the block level up, so a proof reads O(log n) rows

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-05 12:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    # Checkpoints made before this revision get their nodes on their first proof.
    op.create_table(
        'merkle_node',
        sa.Column('checkpoint_id', sa.Integer(), nullable=False),
        sa.Column('level', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('position', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('digest', sa.LargeBinary(length=32), nullable=False),
        sa.ForeignKeyConstraint(['checkpoint_id'], ['ledger_checkpoint.id'],
                                name=op.f('fk_merkle_node_checkpoint_id_ledger_checkpoint'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('checkpoint_id', 'level', 'position',
                                name=op.f('pk_merkle_node')),
    )


def downgrade():
    op.drop_table('merkle_node')
