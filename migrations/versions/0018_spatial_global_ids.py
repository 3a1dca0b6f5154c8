"""Buildings and storeys keep the GlobalId of the model's IfcBuilding and IfcBuildingStorey;
on SQLite the project table gets back the AUTOINCREMENT that revision 0011 dropped

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 14:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    # Nullable, no backfill: a model's next version adopts the storeys and buildings of its
    # earlier ones by name once, and finds them by GlobalId from then on.
    # SQLite rebuilds the building table for its new constraint: keep AUTOINCREMENT (no id
    # of a deleted row is given again).
    with op.batch_alter_table('building', schema=None,
                              table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.add_column(sa.Column('ifc_global_id', sa.String(length=22), nullable=True))
        batch_op.create_unique_constraint('uq_building_project_id_ifc_global_id',
                                          ['project_id', 'ifc_global_id'])
    with op.batch_alter_table('storey', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ifc_global_id', sa.String(length=22), nullable=True))
    if op.get_bind().dialect.name == 'sqlite':
        # 0011 rebuilt it to add a column, without AUTOINCREMENT: a deleted project's id
        # could be given again. Rebuilt once more, with it (rows and ids kept).
        with op.batch_alter_table('project', schema=None, recreate='always',
                                  table_kwargs={'sqlite_autoincrement': True}):
            pass


def downgrade():
    with op.batch_alter_table('storey', schema=None,
                              table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.drop_column('ifc_global_id')
    with op.batch_alter_table('building', schema=None,
                              table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.drop_constraint('uq_building_project_id_ifc_global_id', type_='unique')
        batch_op.drop_column('ifc_global_id')
