"""Site photos: photos, checks, components shown, findings; label layouts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 00:53:29.091827

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('photo',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('media_type', sa.String(length=40), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('display_key', sa.String(length=100), nullable=False),
    sa.Column('original_name', sa.String(length=200), nullable=False),
    sa.Column('uploaded_by_user_id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('component_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('storey_id', sa.Integer(), nullable=True),
    sa.Column('event_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('exif', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('taken_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('latitude', sa.Numeric(precision=9, scale=6, asdecimal=False), nullable=True),
    sa.Column('longitude', sa.Numeric(precision=9, scale=6, asdecimal=False), nullable=True),
    sa.Column('fingerprint', sa.LargeBinary(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['component_id'], ['component.id'], name=op.f('fk_photo_component_id_component')),
    sa.ForeignKeyConstraint(['event_id'], ['event.id'], name=op.f('fk_photo_event_id_event')),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_photo_organization_id_organization')),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_photo_project_id_project')),
    sa.ForeignKeyConstraint(['storey_id'], ['storey.id'], name=op.f('fk_photo_storey_id_storey')),
    sa.ForeignKeyConstraint(['uploaded_by_user_id'], ['user_account.id'], name=op.f('fk_photo_uploaded_by_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_photo')),
    sa.UniqueConstraint('project_id', 'content_hash', name=op.f('uq_photo_project_id_content_hash'))
    )
    with op.batch_alter_table('photo', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_photo_component_id'), ['component_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_photo_content_hash'), ['content_hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_photo_event_id'), ['event_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_photo_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_photo_storey_id'), ['storey_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_photo_uploaded_at'), ['uploaded_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_photo_uploaded_by_user_id'), ['uploaded_by_user_id'], unique=False)

    op.create_table('finding',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('photo_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('component_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('detail', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('event_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('decided_by_user_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['component_id'], ['component.id'], name=op.f('fk_finding_component_id_component')),
    sa.ForeignKeyConstraint(['decided_by_user_id'], ['user_account.id'], name=op.f('fk_finding_decided_by_user_id_user_account')),
    sa.ForeignKeyConstraint(['event_id'], ['event.id'], name=op.f('fk_finding_event_id_event')),
    sa.ForeignKeyConstraint(['photo_id'], ['photo.id'], name=op.f('fk_finding_photo_id_photo')),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_finding_project_id_project')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_finding')),
    sa.UniqueConstraint('photo_id', 'kind', 'component_id', name=op.f('uq_finding_photo_id_kind_component_id'))
    )
    with op.batch_alter_table('finding', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_finding_component_id'), ['component_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_finding_decided_by_user_id'), ['decided_by_user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_finding_event_id'), ['event_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_finding_project_id'), ['project_id'], unique=False)

    op.create_table('photo_check',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('photo_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('check', sa.String(length=20), nullable=False),
    sa.Column('version', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('result', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['photo_id'], ['photo.id'], name=op.f('fk_photo_check_photo_id_photo')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_photo_check')),
    sa.UniqueConstraint('photo_id', 'check', name=op.f('uq_photo_check_photo_id_check'))
    )
    op.create_table('photo_component',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('photo_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('component_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('label_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('genuine', sa.Boolean(), nullable=True),
    sa.Column('points', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('pixels_per_module', sa.Numeric(precision=8, scale=2, asdecimal=False), nullable=True),
    sa.ForeignKeyConstraint(['component_id'], ['component.id'], name=op.f('fk_photo_component_component_id_component')),
    sa.ForeignKeyConstraint(['label_id'], ['label.id'], name=op.f('fk_photo_component_label_id_label')),
    sa.ForeignKeyConstraint(['photo_id'], ['photo.id'], name=op.f('fk_photo_component_photo_id_photo')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_photo_component')),
    sa.UniqueConstraint('photo_id', 'component_id', name=op.f('uq_photo_component_photo_id_component_id'))
    )
    with op.batch_alter_table('photo_component', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_photo_component_component_id'), ['component_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_photo_component_label_id'), ['label_id'], unique=False)

    with op.batch_alter_table('label', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_layout', sa.String(length=30), nullable=True))



def downgrade():
    with op.batch_alter_table('label', schema=None) as batch_op:
        batch_op.drop_column('last_layout')

    with op.batch_alter_table('photo_component', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_photo_component_label_id'))
        batch_op.drop_index(batch_op.f('ix_photo_component_component_id'))

    op.drop_table('photo_component')
    op.drop_table('photo_check')
    with op.batch_alter_table('finding', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_finding_project_id'))
        batch_op.drop_index(batch_op.f('ix_finding_event_id'))
        batch_op.drop_index(batch_op.f('ix_finding_decided_by_user_id'))
        batch_op.drop_index(batch_op.f('ix_finding_component_id'))

    op.drop_table('finding')
    with op.batch_alter_table('photo', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_photo_uploaded_by_user_id'))
        batch_op.drop_index(batch_op.f('ix_photo_uploaded_at'))
        batch_op.drop_index(batch_op.f('ix_photo_storey_id'))
        batch_op.drop_index(batch_op.f('ix_photo_organization_id'))
        batch_op.drop_index(batch_op.f('ix_photo_event_id'))
        batch_op.drop_index(batch_op.f('ix_photo_content_hash'))
        batch_op.drop_index(batch_op.f('ix_photo_component_id'))

    op.drop_table('photo')
