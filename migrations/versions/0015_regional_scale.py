"""Regional scale: stalled components by index, transitions per project and day

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 15:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

STALLABLE = "state NOT IN ('planned', 'accepted', 'scrapped')"


def upgrade():
    # `pday` counters carry no type: transitions per project, day and action.
    with op.batch_alter_table('progress_counter', schema=None) as batch_op:
        batch_op.alter_column('component_type_id', existing_type=sa.Integer(), nullable=True)
    op.create_index('ix_progress_counter_kind_project_id_day', 'progress_counter',
                    ['kind', 'project_id', 'day'], unique=False)
    op.create_index('ix_component_stalled', 'component', ['updated_at'], unique=False,
                    postgresql_where=sa.text(STALLABLE), sqlite_where=sa.text(STALLABLE))
    # The keys as construction.services.progress writes them: pday:project:0:0:action:day.
    day_text = ("to_char(day, 'YYYY-MM-DD')" if op.get_bind().dialect.name == 'postgresql'
                else 'day')
    op.execute(
        "INSERT INTO progress_counter (key, kind, project_id, storey_id, component_type_id, "
        "state, day, count) "
        f"SELECT 'pday:' || project_id || ':0:0:' || state || ':' || {day_text}, 'pday', "
        "project_id, NULL, NULL, state, day, sum(count) FROM progress_counter "
        "WHERE kind = 'day' GROUP BY project_id, state, day")


def downgrade():
    op.execute("DELETE FROM progress_counter WHERE kind = 'pday'")
    op.drop_index('ix_component_stalled', table_name='component',
                  postgresql_where=sa.text(STALLABLE), sqlite_where=sa.text(STALLABLE))
    op.drop_index('ix_progress_counter_kind_project_id_day', table_name='progress_counter')
    with op.batch_alter_table('progress_counter', schema=None) as batch_op:
        batch_op.alter_column('component_type_id', existing_type=sa.Integer(), nullable=False)
