"""IFC models: imported files with their import diff, changes they made, model facts on components

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-05 12:15:52.179715

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('bim_model',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('storage_key', sa.String(length=120), nullable=False),
    sa.Column('original_name', sa.String(length=200), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('schema', sa.String(length=20), nullable=False),
    sa.Column('authoring_application', sa.String(length=200), nullable=False),
    sa.Column('ifc_project_global_id', sa.String(length=22), nullable=True),
    sa.Column('dry_run', sa.Boolean(), nullable=False),
    sa.Column('classes', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('added', sa.Integer(), nullable=False),
    sa.Column('changed', sa.Integer(), nullable=False),
    sa.Column('unchanged', sa.Integer(), nullable=False),
    sa.Column('removed', sa.Integer(), nullable=False),
    sa.Column('skipped', sa.Integer(), nullable=False),
    sa.Column('skipped_reasons', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('storeys', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('differences', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('uploaded_by_user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_bim_model_project_id_project')),
    sa.ForeignKeyConstraint(['uploaded_by_user_id'], ['user_account.id'], name=op.f('fk_bim_model_uploaded_by_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bim_model'))
    )
    with op.batch_alter_table('bim_model', schema=None) as batch_op:
        batch_op.create_index('ix_bim_model_project_id_content_hash', ['project_id', 'content_hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_bim_model_uploaded_by_user_id'), ['uploaded_by_user_id'], unique=False)

    op.create_table('component_change',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('component_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('bim_model_id', sa.Integer(), nullable=False),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['bim_model_id'], ['bim_model.id'], name=op.f('fk_component_change_bim_model_id_bim_model')),
    sa.ForeignKeyConstraint(['component_id'], ['component.id'], name=op.f('fk_component_change_component_id_component')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_component_change'))
    )
    with op.batch_alter_table('component_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_component_change_bim_model_id'), ['bim_model_id'], unique=False)
        batch_op.create_index('ix_component_change_component_id_id', ['component_id', 'id'], unique=False)

    with op.batch_alter_table('component', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ifc_class', sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column('weight_kg', sa.Numeric(precision=10, scale=1, asdecimal=False), nullable=True))
        batch_op.add_column(sa.Column('volume_m3', sa.Numeric(precision=12, scale=4, asdecimal=False), nullable=True))
        batch_op.add_column(sa.Column('grid_code', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('bim_model_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('removed_from_model', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index(batch_op.f('ix_component_bim_model_id'), ['bim_model_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_component_bim_model_id_bim_model'), 'bim_model', ['bim_model_id'], ['id'])



def downgrade():
    with op.batch_alter_table('component', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_component_bim_model_id_bim_model'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_component_bim_model_id'))
        batch_op.drop_column('removed_from_model')
        batch_op.drop_column('bim_model_id')
        batch_op.drop_column('grid_code')
        batch_op.drop_column('volume_m3')
        batch_op.drop_column('weight_kg')
        batch_op.drop_column('ifc_class')

    with op.batch_alter_table('component_change', schema=None) as batch_op:
        batch_op.drop_index('ix_component_change_component_id_id')
        batch_op.drop_index(batch_op.f('ix_component_change_bim_model_id'))

    op.drop_table('component_change')
    with op.batch_alter_table('bim_model', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bim_model_uploaded_by_user_id'))
        batch_op.drop_index('ix_bim_model_project_id_content_hash')

    op.drop_table('bim_model')
