"""Loads: truck trips with their components in loading order, SSCCs, load scans

Revision ID: 0012
Revises: 0013
Create Date: 2026-12-05 12:12:12.231567

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('load',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('sscc', sa.String(length=18), nullable=True),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('vehicle', sa.String(length=20), nullable=False),
    sa.Column('driver', sa.String(length=100), nullable=False),
    sa.Column('trailer_type', sa.String(length=40), nullable=False),
    sa.Column('planned_departure_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('planned_arrival_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.Column('max_weight_kg', sa.Numeric(precision=10, scale=1, asdecimal=False), nullable=True),
    sa.Column('label_version', sa.Integer(), nullable=False),
    sa.Column('created_by_user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('loaded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('departed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('arrived_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by_user_id'], ['user_account.id'], name=op.f('fk_load_created_by_user_id_user_account')),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_load_project_id_project')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_load')),
    sa.UniqueConstraint('code', name=op.f('uq_load_code')),
    sa.UniqueConstraint('sscc', name=op.f('uq_load_sscc')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('load', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_load_created_by_user_id'), ['created_by_user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_load_planned_departure_at'), ['planned_departure_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_load_project_id'), ['project_id'], unique=False)

    op.create_table('load_scan',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('load_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('client_event_id', sa.String(length=64), nullable=False),
    sa.Column('client_time', sa.DateTime(timezone=True), nullable=True),
    sa.Column('client_utc_offset_minutes', sa.Integer(), nullable=True),
    sa.Column('server_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('location', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('component_ids', sa.JSON(), nullable=False),
    sa.Column('exceptions', sa.JSON(none_as_null=True), nullable=True),
    sa.ForeignKeyConstraint(['load_id'], ['load.id'], name=op.f('fk_load_scan_load_id_load')),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_load_scan_organization_id_organization')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_load_scan_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_load_scan')),
    sa.UniqueConstraint('user_id', 'client_event_id', name=op.f('uq_load_scan_user_id_client_event_id'))
    )
    with op.batch_alter_table('load_scan', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_load_scan_load_id'), ['load_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_load_scan_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_load_scan_server_time'), ['server_time'], unique=False)

    op.create_table('load_item',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('load_id', sa.Integer(), nullable=False),
    sa.Column('component_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('active_component_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['active_component_id'], ['component.id'], name=op.f('fk_load_item_active_component_id_component')),
    sa.ForeignKeyConstraint(['component_id'], ['component.id'], name=op.f('fk_load_item_component_id_component')),
    sa.ForeignKeyConstraint(['load_id'], ['load.id'], name=op.f('fk_load_item_load_id_load')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_load_item')),
    sa.UniqueConstraint('active_component_id', name=op.f('uq_load_item_active_component_id')),
    sa.UniqueConstraint('load_id', 'component_id', name=op.f('uq_load_item_load_id_component_id'))
    )
    with op.batch_alter_table('load_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_load_item_component_id'), ['component_id'], unique=False)



def downgrade():
    with op.batch_alter_table('load_item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_load_item_component_id'))

    op.drop_table('load_item')
    with op.batch_alter_table('load_scan', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_load_scan_server_time'))
        batch_op.drop_index(batch_op.f('ix_load_scan_organization_id'))
        batch_op.drop_index(batch_op.f('ix_load_scan_load_id'))

    op.drop_table('load_scan')
    with op.batch_alter_table('load', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_load_project_id'))
        batch_op.drop_index(batch_op.f('ix_load_planned_departure_at'))
        batch_op.drop_index(batch_op.f('ix_load_created_by_user_id'))

    op.drop_table('load')
