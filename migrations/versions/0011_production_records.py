"""Production records: pours, strength results, checklist templates, inspections, gate overrides

Revision ID: 0011
Revises: 0007
Create Date: 2026-12-05 12:12:29.694906

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('mould',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_mould_organization_id_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mould')),
    sa.UniqueConstraint('organization_id', 'name', name=op.f('uq_mould_organization_id_name'))
    )
    op.create_table('checklist_template',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('component_type_id', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=20), nullable=False),
    sa.Column('items', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['component_type_id'], ['component_type.id'], name=op.f('fk_checklist_template_component_type_id_component_type')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_checklist_template')),
    sa.UniqueConstraint('component_type_id', 'stage', name=op.f('uq_checklist_template_component_type_id_stage'))
    )
    op.create_table('pour',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('manufacturer_id', sa.Integer(), nullable=False),
    sa.Column('mould_id', sa.Integer(), nullable=False),
    sa.Column('cast_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('concrete_grade', sa.String(length=20), nullable=False),
    sa.Column('mix', sa.String(length=60), nullable=False),
    sa.Column('supplier_ticket', sa.String(length=60), nullable=False),
    sa.Column('slump_mm', sa.Integer(), nullable=True),
    sa.Column('concrete_temperature_c', sa.Numeric(precision=4, scale=1, asdecimal=False), nullable=True),
    sa.Column('air_temperature_c', sa.Numeric(precision=4, scale=1, asdecimal=False), nullable=True),
    sa.Column('curing_method', sa.String(length=10), nullable=False),
    sa.Column('curing_profile', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('specimens', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('created_by_user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_user_id'], ['user_account.id'], name=op.f('fk_pour_created_by_user_id_user_account')),
    sa.ForeignKeyConstraint(['manufacturer_id'], ['organization.id'], name=op.f('fk_pour_manufacturer_id_organization')),
    sa.ForeignKeyConstraint(['mould_id'], ['mould.id'], name=op.f('fk_pour_mould_id_mould')),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_pour_project_id_project')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pour'))
    )
    with op.batch_alter_table('pour', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pour_cast_at'), ['cast_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_pour_created_by_user_id'), ['created_by_user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pour_manufacturer_id'), ['manufacturer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pour_mould_id'), ['mould_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pour_project_id'), ['project_id'], unique=False)

    op.create_table('strength_result',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('pour_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('specimen', sa.String(length=40), nullable=False),
    sa.Column('age_days', sa.Integer(), nullable=False),
    sa.Column('tested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('strength_mpa', sa.Numeric(precision=5, scale=1, asdecimal=False), nullable=False),
    sa.Column('load_kn', sa.Numeric(precision=8, scale=1, asdecimal=False), nullable=True),
    sa.Column('area_mm2', sa.Numeric(precision=9, scale=1, asdecimal=False), nullable=True),
    sa.Column('laboratory', sa.String(length=100), nullable=False),
    sa.Column('report_number', sa.String(length=60), nullable=False),
    sa.Column('created_by_user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_user_id'], ['user_account.id'], name=op.f('fk_strength_result_created_by_user_id_user_account')),
    sa.ForeignKeyConstraint(['pour_id'], ['pour.id'], name=op.f('fk_strength_result_pour_id_pour')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_strength_result')),
    sa.UniqueConstraint('pour_id', 'specimen', 'age_days', name=op.f('uq_strength_result_pour_id_specimen_age_days'))
    )
    with op.batch_alter_table('strength_result', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_strength_result_created_by_user_id'), ['created_by_user_id'], unique=False)

    op.create_table('gate_override',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('component_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('gate', sa.String(length=30), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['component_id'], ['component.id'], name=op.f('fk_gate_override_component_id_component')),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_gate_override_organization_id_organization')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_gate_override_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gate_override')),
    sa.UniqueConstraint('component_id', 'gate', name=op.f('uq_gate_override_component_id_gate'))
    )
    with op.batch_alter_table('gate_override', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_gate_override_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_gate_override_user_id'), ['user_id'], unique=False)

    op.create_table('inspection',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('component_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=20), nullable=False),
    sa.Column('inspector_user_id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('inspected_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('passed', sa.Boolean(), nullable=False),
    sa.Column('results', sa.JSON(), nullable=False),
    sa.Column('ncr_event_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['component_id'], ['component.id'], name=op.f('fk_inspection_component_id_component')),
    sa.ForeignKeyConstraint(['inspector_user_id'], ['user_account.id'], name=op.f('fk_inspection_inspector_user_id_user_account')),
    sa.ForeignKeyConstraint(['ncr_event_id'], ['event.id'], name=op.f('fk_inspection_ncr_event_id_event')),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_inspection_organization_id_organization')),
    sa.ForeignKeyConstraint(['template_id'], ['checklist_template.id'], name=op.f('fk_inspection_template_id_checklist_template')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inspection'))
    )
    with op.batch_alter_table('inspection', schema=None) as batch_op:
        batch_op.create_index('ix_inspection_component_stage', ['component_id', 'stage', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inspection_inspector_user_id'), ['inspector_user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inspection_ncr_event_id'), ['ncr_event_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inspection_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inspection_template_id'), ['template_id'], unique=False)

    with op.batch_alter_table('component', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pour_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.create_index(batch_op.f('ix_component_pour_id'), ['pour_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_component_pour_id_pour'), 'pour', ['pour_id'], ['id'])

    with op.batch_alter_table('component_type', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stripping_strength_mpa', sa.Numeric(precision=5, scale=1, asdecimal=False), nullable=True))
        batch_op.add_column(sa.Column('stripping_strength_percent', sa.Numeric(precision=5, scale=1, asdecimal=False), nullable=True))
        batch_op.add_column(sa.Column('delivery_strength_mpa', sa.Numeric(precision=5, scale=1, asdecimal=False), nullable=True))
        batch_op.add_column(sa.Column('delivery_strength_percent', sa.Numeric(precision=5, scale=1, asdecimal=False), nullable=True))
        batch_op.add_column(sa.Column('checklist_stages', sa.String(length=80), server_default='', nullable=False))

    with op.batch_alter_table('project', schema=None) as batch_op:
        batch_op.add_column(sa.Column('site_acceptance_required', sa.Boolean(), server_default=sa.text('false'), nullable=False))



def downgrade():
    with op.batch_alter_table('project', schema=None) as batch_op:
        batch_op.drop_column('site_acceptance_required')

    with op.batch_alter_table('component_type', schema=None) as batch_op:
        batch_op.drop_column('checklist_stages')
        batch_op.drop_column('delivery_strength_percent')
        batch_op.drop_column('delivery_strength_mpa')
        batch_op.drop_column('stripping_strength_percent')
        batch_op.drop_column('stripping_strength_mpa')

    with op.batch_alter_table('component', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_component_pour_id_pour'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_component_pour_id'))
        batch_op.drop_column('pour_id')

    with op.batch_alter_table('inspection', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inspection_template_id'))
        batch_op.drop_index(batch_op.f('ix_inspection_organization_id'))
        batch_op.drop_index(batch_op.f('ix_inspection_ncr_event_id'))
        batch_op.drop_index(batch_op.f('ix_inspection_inspector_user_id'))
        batch_op.drop_index('ix_inspection_component_stage')

    op.drop_table('inspection')
    with op.batch_alter_table('gate_override', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_gate_override_user_id'))
        batch_op.drop_index(batch_op.f('ix_gate_override_organization_id'))

    op.drop_table('gate_override')
    with op.batch_alter_table('strength_result', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_strength_result_created_by_user_id'))

    op.drop_table('strength_result')
    with op.batch_alter_table('pour', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pour_project_id'))
        batch_op.drop_index(batch_op.f('ix_pour_mould_id'))
        batch_op.drop_index(batch_op.f('ix_pour_manufacturer_id'))
        batch_op.drop_index(batch_op.f('ix_pour_created_by_user_id'))
        batch_op.drop_index(batch_op.f('ix_pour_cast_at'))

    op.drop_table('pour')
    op.drop_table('checklist_template')
    op.drop_table('mould')
