"""Transitions per region code, day and action, for a region's daily curve

Revision ID: 0017
Revises: 0015
Create Date: 2026-12-05 21:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    # `rday` counters carry a region code and no project.
    with op.batch_alter_table('progress_counter', schema=None) as batch_op:
        batch_op.add_column(sa.Column('region_code', sa.String(length=12), nullable=True))
        batch_op.alter_column('project_id', existing_type=sa.Integer(), nullable=True)
    op.create_index('ix_progress_counter_kind_region_code_day', 'progress_counter',
                    ['kind', 'region_code', 'day'], unique=False)
    # The keys as construction.services.progress writes them: rday:region:action:day.
    day_text = ("to_char(c.day, 'YYYY-MM-DD')" if op.get_bind().dialect.name == 'postgresql'
                else 'c.day')
    op.execute(
        "INSERT INTO progress_counter (key, kind, project_id, storey_id, component_type_id, "
        "state, day, region_code, count) "
        f"SELECT 'rday:' || p.region_code || ':' || c.state || ':' || {day_text}, 'rday', "
        "NULL, NULL, NULL, c.state, c.day, p.region_code, sum(c.count) "
        "FROM progress_counter c JOIN project p ON p.id = c.project_id "
        "WHERE c.kind = 'pday' GROUP BY p.region_code, c.state, c.day")


def downgrade():
    op.execute("DELETE FROM progress_counter WHERE kind = 'rday'")
    op.drop_index('ix_progress_counter_kind_region_code_day', table_name='progress_counter')
    with op.batch_alter_table('progress_counter', schema=None) as batch_op:
        batch_op.alter_column('project_id', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('region_code')
