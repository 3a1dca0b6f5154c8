"""Core ledger: organizations, users, tokens, projects, components and events

Revision ID: 0001
Revises: 
Create Date: 2026-11-25 23:30:26.160759

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('organization',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.Enum('manufacturer', 'contractor', 'supervisor', 'regulator', 'owner', name='organization_kind', native_enum=False, length=32), nullable=False),
    sa.Column('region_code', sa.String(length=12), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organization')),
    sa.UniqueConstraint('name', name=op.f('uq_organization_name'))
    )
    with op.batch_alter_table('organization', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_organization_region_code'), ['region_code'], unique=False)

    op.create_table('project',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('region_code', sa.String(length=12), nullable=False),
    sa.Column('address', sa.String(length=300), nullable=False),
    sa.Column('latitude', sa.Numeric(precision=9, scale=6, asdecimal=False), nullable=True),
    sa.Column('longitude', sa.Numeric(precision=9, scale=6, asdecimal=False), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_project')),
    sa.UniqueConstraint('code', name=op.f('uq_project_code')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('project', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_project_region_code'), ['region_code'], unique=False)

    op.create_table('building',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_building_project_id_project')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_building')),
    sa.UniqueConstraint('project_id', 'name', name=op.f('uq_building_project_id_name')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('building', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_building_project_id'), ['project_id'], unique=False)

    op.create_table('component_type',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('manufacturer_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('category', sa.String(length=40), nullable=False),
    sa.Column('drawing', sa.String(length=100), nullable=False),
    sa.Column('length_mm', sa.Integer(), nullable=True),
    sa.Column('width_mm', sa.Integer(), nullable=True),
    sa.Column('height_mm', sa.Integer(), nullable=True),
    sa.Column('weight_kg', sa.Numeric(precision=10, scale=1, asdecimal=False), nullable=True),
    sa.Column('concrete_grade', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['manufacturer_id'], ['organization.id'], name=op.f('fk_component_type_manufacturer_id_organization')),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_component_type_project_id_project')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_component_type')),
    sa.UniqueConstraint('project_id', 'name', name=op.f('uq_component_type_project_id_name')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('component_type', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_component_type_manufacturer_id'), ['manufacturer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_component_type_project_id'), ['project_id'], unique=False)

    op.create_table('project_participant',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_project_participant_organization_id_organization')),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_project_participant_project_id_project')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_project_participant')),
    sa.UniqueConstraint('project_id', 'organization_id', name=op.f('uq_project_participant_project_id_organization_id'))
    )
    with op.batch_alter_table('project_participant', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_project_participant_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_project_participant_project_id'), ['project_id'], unique=False)

    op.create_table('user_account',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.Enum('admin', 'project_manager', 'factory_worker', 'qc_inspector', 'site_supervisor', 'regulator', name='user_role', native_enum=False, length=32), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_user_account_organization_id_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_account')),
    sa.UniqueConstraint('name', name=op.f('uq_user_account_name'))
    )
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_account_organization_id'), ['organization_id'], unique=False)

    op.create_table('api_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_api_token_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_token')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_token_token_hash'))
    )
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_token_user_id'), ['user_id'], unique=False)

    op.create_table('idempotent_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_idempotent_request_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotent_request')),
    sa.UniqueConstraint('user_id', 'key', name=op.f('uq_idempotent_request_user_id_key'))
    )
    with op.batch_alter_table('idempotent_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_idempotent_request_user_id'), ['user_id'], unique=False)

    op.create_table('storey',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('building_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('elevation_m', sa.Numeric(precision=9, scale=3, asdecimal=False), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['building_id'], ['building.id'], name=op.f('fk_storey_building_id_building')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_storey')),
    sa.UniqueConstraint('building_id', 'name', name=op.f('uq_storey_building_id_name')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('storey', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_storey_building_id'), ['building_id'], unique=False)

    op.create_table('component',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('component_type_id', sa.Integer(), nullable=False),
    sa.Column('storey_id', sa.Integer(), nullable=True),
    sa.Column('mark', sa.String(length=60), nullable=False),
    sa.Column('install_sequence', sa.Integer(), nullable=True),
    sa.Column('gtin', sa.String(length=14), nullable=True),
    sa.Column('serial', sa.String(length=20), nullable=True),
    sa.Column('ifc_global_id', sa.String(length=22), nullable=True),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('on_hold', sa.Boolean(), nullable=False),
    sa.Column('damaged', sa.Boolean(), nullable=False),
    sa.Column('ncr_open', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('(gtin IS NULL) = (serial IS NULL)', name=op.f('ck_component_gtin_with_serial')),
    sa.ForeignKeyConstraint(['component_type_id'], ['component_type.id'], name=op.f('fk_component_component_type_id_component_type')),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_component_project_id_project')),
    sa.ForeignKeyConstraint(['storey_id'], ['storey.id'], name=op.f('fk_component_storey_id_storey')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_component')),
    sa.UniqueConstraint('code', name=op.f('uq_component_code')),
    sa.UniqueConstraint('gtin', 'serial', name=op.f('uq_component_gtin_serial')),
    sa.UniqueConstraint('project_id', 'ifc_global_id', name=op.f('uq_component_project_id_ifc_global_id')),
    postgresql_with={'fillfactor': 80}
    )
    with op.batch_alter_table('component', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_component_component_type_id'), ['component_type_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_component_mark'), ['mark'], unique=False)
        batch_op.create_index(batch_op.f('ix_component_project_id'), ['project_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_component_storey_id'), ['storey_id'], unique=False)

    op.create_table('event',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('component_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('from_state', sa.String(length=20), nullable=False),
    sa.Column('to_state', sa.String(length=20), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('device', sa.String(length=100), nullable=True),
    sa.Column('client_event_id', sa.String(length=64), nullable=False),
    sa.Column('client_time', sa.DateTime(timezone=True), nullable=True),
    sa.Column('client_utc_offset_minutes', sa.Integer(), nullable=True),
    sa.Column('server_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('location', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('data', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('corrects_event_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['component_id'], ['component.id'], name=op.f('fk_event_component_id_component')),
    sa.ForeignKeyConstraint(['corrects_event_id'], ['event.id'], name=op.f('fk_event_corrects_event_id_event')),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_event_organization_id_organization')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_event_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event')),
    sa.UniqueConstraint('user_id', 'client_event_id', name=op.f('uq_event_user_id_client_event_id'))
    )
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.create_index('ix_event_component_id_id', ['component_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_event_corrects_event_id'), ['corrects_event_id'], unique=True)
        batch_op.create_index(batch_op.f('ix_event_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_event_server_time'), ['server_time'], unique=False)



def downgrade():
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_event_server_time'))
        batch_op.drop_index(batch_op.f('ix_event_organization_id'))
        batch_op.drop_index(batch_op.f('ix_event_corrects_event_id'))
        batch_op.drop_index('ix_event_component_id_id')

    op.drop_table('event')
    with op.batch_alter_table('component', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_component_storey_id'))
        batch_op.drop_index(batch_op.f('ix_component_project_id'))
        batch_op.drop_index(batch_op.f('ix_component_mark'))
        batch_op.drop_index(batch_op.f('ix_component_component_type_id'))

    op.drop_table('component')
    with op.batch_alter_table('storey', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_storey_building_id'))

    op.drop_table('storey')
    with op.batch_alter_table('idempotent_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_idempotent_request_user_id'))

    op.drop_table('idempotent_request')
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_token_user_id'))

    op.drop_table('api_token')
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_account_organization_id'))

    op.drop_table('user_account')
    with op.batch_alter_table('project_participant', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_project_participant_project_id'))
        batch_op.drop_index(batch_op.f('ix_project_participant_organization_id'))

    op.drop_table('project_participant')
    with op.batch_alter_table('component_type', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_component_type_project_id'))
        batch_op.drop_index(batch_op.f('ix_component_type_manufacturer_id'))

    op.drop_table('component_type')
    with op.batch_alter_table('building', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_building_project_id'))

    op.drop_table('building')
    with op.batch_alter_table('project', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_project_region_code'))

    op.drop_table('project')
    with op.batch_alter_table('organization', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_organization_region_code'))

    op.drop_table('organization')
