"""Partial indexes on the component flags (on hold, damaged, NCR open) per project

Revision ID: 0014
Revises: 0016
Create Date: 2026-12-05 16:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0016'
branch_labels = None
depends_on = None

FLAGS = ('on_hold', 'damaged', 'ncr_open')


def upgrade():
    with op.batch_alter_table('component', schema=None) as batch_op:
        for flag in FLAGS:
            batch_op.create_index(f'ix_component_{flag}', ['project_id', 'id'], unique=False,
                                  postgresql_where=sa.text(flag),
                                  sqlite_where=sa.text(f'{flag} = 1'))


def downgrade():
    with op.batch_alter_table('component', schema=None) as batch_op:
        for flag in reversed(FLAGS):
            batch_op.drop_index(f'ix_component_{flag}', postgresql_where=sa.text(flag),
                                sqlite_where=sa.text(f'{flag} = 1'))
